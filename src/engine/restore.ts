import {contentKey, type Manifest, TreeSetDigest, type ZnodeRecord} from '../archive/format.js'
import {readArchive, verifyArchive} from '../archive/reader.js'
import {errorMessage, OperationError, UsageError} from '../errors.js'
import type {StorageProvider} from '../providers/types.js'
import {aclAsShown, grantedPerms, type Identity, identitiesOf, missingPerms, PERMS, permsText} from '../zk/acl.js'
import {ClusterLock, describeHolder, holderIsGone, type LockHolder} from '../zk/lock.js'
import {type Acl, OPEN_ACL, ZkError, zkConstants, type ZkSession} from '../zk/session.js'
import {WireSession} from '../zk/wire/session.js'
import {parentZnodePath, relativeZnodePath, resolveZnodePath, validateZnodePath, znodeDepth} from '../zk/uri.js'
import {backupTree, type BackupResult} from './backup.js'
import {type BatchMode, BulkAccess, type ReadPath, type WritePath} from './bulk.js'
import {excludeMatcher, type PathMatcher} from './exclude.js'
import {failpoint} from './failpoints.js'
import {MultiWriter} from './multi-writer.js'
import {Pipeline} from './pipeline.js'
import {retryingOnConnectionLoss} from './read-znodes.js'
import {walkTree, type WalkedZnode} from './walk.js'

export type RestorePhase = 'verify' | 'read' | 'delete' | 'create' | 'acl' | 'check' | 'rollback'

export interface RestoreOptions {
  source: StorageProvider
  /** Called only once the archive has passed verification: a bad archive never reaches ZooKeeper. */
  connect: () => Promise<ZkSession>
  /** Where the tree goes; by default where it came from. */
  target?: string
  /** Restore only this subtree of the archive (an absolute path as it was backed up). */
  from?: string
  exclude?: string[]
  dryRun?: boolean
  /** Where to save the current tree first, from the target path; null skips the safety backup. */
  safetyBackup: ((target: string) => StorageProvider) | null
  /** Asked before anything is deleted or changed; returning false cancels with nothing changed. */
  confirm?: (plan: RestorePlan, safetyBackup: BackupResult | null) => Promise<boolean>
  /** Go ahead even where the live ACLs seem to forbid the restore (for ZooKeeper superusers). */
  skipPermissionCheck?: boolean
  /**
   * Holds the cluster-wide lock (an ephemeral znode, shared with the backup service) from before the
   * live tree is read until the end: refused, with nothing changed, while another job holds it.
   */
  lock?: {path: string; job: string; /** How long to wait for another holder to let go; by default, only for a dead holder's session to expire. */ waitMs?: number}
  /**
   * When the restore fails after its first destructive step, put the previous tree back from the
   * safety backup (or delete what was created where nothing was), through this same engine. Default true.
   */
  rollback?: boolean
  /** A backup of the target that the caller took itself (the backup service's pre-restore backup): what a rollback restores when `safetyBackup` is null. */
  rollbackFrom?: StorageProvider
  /** An archive with no znode at `from` empties the target (the service's safety backup of a path that did not exist). */
  allowEmpty?: boolean
  /**
   * Who the credentials of `connect`'s sessions are to ACLs (identitiesOf their digest auth; by default
   * world:anyone only), known before connecting: the server hides digest hashes from them where they
   * lack ADMIN, and the plan and the final check compare ACLs as the server shows them.
   */
  identities?: Identity[]
  /** Told what the restore waits for (a dead lock holder's session, say): for stderr, not for the result. */
  onNotice?: (message: string) => void
  /**
   * Where the archive's largest znode is written once (an ephemeral, deleted at once) before anything
   * changes, to prove the servers accept it; by default beside the lock. Without either, no probe.
   */
  sizeProbePath?: string
  /** Each phase as it starts, with how many znodes it goes through (onZnode) where that is known: delete, create. */
  onPhase?: (phase: RestorePhase, total?: number) => void
  onZnode?: (phase: RestorePhase, path: string) => void
  /** Multi-read and multi batches: auto (when the server answers them, the default), on, off. */
  batch?: BatchMode
}

export interface RestorePlan {
  archive: string
  archiveRoot: string
  from: string
  target: string
  /** Znodes in the archive that the target lacks, differs in, or has and the archive does not. */
  create: number
  change: number
  delete: number
  unchanged: number
  /** Ephemeral znodes under the target: they are deleted too (their sessions lose them). */
  ephemeralsToDelete: number
  /** Live znodes left alone because they match --exclude. */
  excludedLive: number
  firstCreate: string[]
  firstChange: string[]
  firstDelete: string[]
  /** What the live ACLs forbid these credentials to do; a restore refuses to start while this is not empty. */
  permissionProblems: string[]
}

export interface RestoreResult {
  plan: RestorePlan
  dryRun: boolean
  safetyBackup: BackupResult | null
  created: number
  deleted: number
  aclsSet: number
  verified: boolean
  durationMs: number
  znodesPerSecond: number
  /** How the trees were read and the znodes written: batches, or one request each. */
  readPath: ReadPath
  writePath: WritePath
  /** Why batches were not used, when --batch auto fell back. */
  batchFallback?: string
}

const PIPELINE_DEPTH = 256
const LISTED_PATHS = 10
const DELETE_ROUNDS = 5

interface LiveZnode {
  key: string
  seen: boolean
}

/**
 * Replaces the subtree at the target with the archive's: verify the whole archive, read what is
 * there now (writing the safety backup as it goes), show the plan, check what the servers and the
 * credentials must allow, then delete, recreate every znode in order, apply the ACLs last, and
 * re-read the result to prove it matches. A failure after the first destructive step rolls back.
 */
export async function restoreTree(options: RestoreOptions): Promise<RestoreResult> {
  const started = Date.now()
  const {source} = options
  if (source.scheme === '-') {
    throw new UsageError('restore reads the archive more than once (verify, then apply): save it to a file or S3 first')
  }

  options.onPhase?.('verify')
  const {emptyTargetPlan, selection} = await verifyAndPlanForEmptyTarget(source, (archiveRoot) => restoreScope(archiveRoot, options))
  const {excluded: excludedInArchive, target} = selection
  if (emptyTargetPlan.create === 0 && !options.allowEmpty) throw new UsageError(`${source.display} holds no znode at ${selection.from}`)

  const session = await options.connect()
  let lock: HeldLock | undefined
  let bulk: BulkAccess | undefined
  try {
    if (options.lock && !options.dryRun) lock = await takeLock(session, options.lock, options.onNotice)
    bulk = await BulkAccess.open(session, options.batch)
    options.onPhase?.('read')
    const missingAncestors = await missingAncestorsOf(session, target)
    const live = await readLiveTree(bulk, target, excludedInArchive, options)
    // Most restores into an empty path (a new ensemble) need no second pass over the archive.
    const plan = live.znodes.size === 0 ? {...emptyTargetPlan, ephemeralsToDelete: live.ephemerals, excludedLive: live.excluded} : await planRestore(selection, live)
    plan.permissionProblems = await permissionProblems(session, target, live, plan, selection)
    const result = {
      aclsSet: 0,
      ...(bulk.fallbackReason ? {batchFallback: bulk.fallbackReason} : {}),
      created: 0,
      deleted: 0,
      dryRun: Boolean(options.dryRun),
      plan,
      readPath: bulk.readPath,
      safetyBackup: live.safetyBackup,
      verified: false,
      writePath: bulk.writePath,
    }
    if (options.dryRun) return finish(result, started)

    const destructive = plan.change + plan.delete + plan.ephemeralsToDelete > 0
    if (!destructive && plan.create === 0) return finish({...result, verified: true}, started) // already identical
    if (plan.permissionProblems.length > 0 && !options.skipPermissionCheck) {
      throw new OperationError(
        `Refusing to restore: these credentials ${plan.permissionProblems[0]}${plan.permissionProblems.length > 1 ? ` (and ${plan.permissionProblems.length - 1} more)` : ''}; nothing was changed. Pass --zk-auth for a user with the rights, or --skip-permission-check for a ZooKeeper superuser`,
      )
    }

    const probePath = options.sizeProbePath ?? (options.lock && `${options.lock.path}-size-probe`)
    if (probePath) await checkServersAccept(bulk.wire ?? session, probePath, plan)
    // The net under the restore: read back whole before anything relies on it.
    if (live.safetyProvider) await verifyArchive(await live.safetyProvider.read(), live.safetyProvider.display)
    if (destructive && options.confirm && !(await options.confirm(plan, live.safetyBackup))) {
      throw new OperationError(`Restore cancelled: nothing under ${target} was changed`)
    }

    const run: RestoreRun = {bulk, live, missingAncestors, options, selection, session}
    try {
      Object.assign(result, await applyRestore(run, plan.expectedDigest, {faults: true}))
      result.verified = true
    } catch (error) {
      throw await failedRestore(run, error)
    }

    return finish(result, started)
  } finally {
    await bulk?.close()
    if (lock) await releaseLock(session, lock)
    session.close()
  }
}

/** What a restore works with once it has read the live tree: what a rollback needs too. */
interface RestoreRun {
  bulk: BulkAccess
  session: ZkSession
  selection: Selection
  live: LiveTree
  /** The target's ancestors that did not exist before (created for it, deleted again by a rollback). */
  missingAncestors: string[]
  options: RestoreOptions
}

/** The destructive part: delete, create, ACLs, then the re-read that proves the tree matches. */
async function applyRestore(run: RestoreRun, expectedDigest: string, {faults}: {faults: boolean}): Promise<{deleted: number; created: number; aclsSet: number}> {
  const {bulk, live, options, selection, session} = run
  const hit = faults ? failpoint : () => {}
  const deleted = await deleteLiveTree(session, selection.target, live, options, hit)
  const writer = bulk.wire && bulk.writePath === 'multi' ? multiWriter(bulk.wire, session) : singleRequestWriter(session)
  const {aclsSet, created} = await writeZnodes(writer, session, selection, live, options, hit)
  options.onPhase?.('check')
  hit('restore.check')
  await checkRestored(bulk, selection, live, expectedDigest)
  return {aclsSet, created, deleted}
}

/**
 * The error of a restore that failed after its first destructive step, once the previous tree is
 * back (the safety backup restored through this same engine, or what was created deleted where
 * nothing was), or with where the safety backup is when that is not possible.
 */
async function failedRestore(run: RestoreRun, error: unknown): Promise<OperationError> {
  const {live, options, selection} = run
  const cause = `Restore failed: ${errorMessage(error).replace(/\.$/, '')}`
  const hint = safetyHint(live.safetyBackup, selection.target)
  if (options.rollback === false) return new OperationError(`${cause}. Not rolled back (--no-rollback). ${hint}`, {cause: error})
  // Where nothing was, a rollback deletes what the restore created.
  const source = live.safetyProvider ?? (live.existed ? options.rollbackFrom : undefined)
  if (!source && live.existed) return new OperationError(`${cause}. Cannot roll back without a safety backup. ${hint}`, {cause: error})
  options.onPhase?.('rollback')
  try {
    await rollBack(run, source).catch((rollbackError: unknown) => {
      if (run.session.alive && !isConnectionTrouble(rollbackError)) throw rollbackError
      return rollBackOnNewSession(run, source)
    })
  } catch (rollbackError) {
    return new OperationError(`${cause}. The rollback failed too (${errorMessage(rollbackError).replace(/\.$/, '')}). ${hint}`, {cause: error})
  }

  const how = source ? `from the safety backup ${live.safetyBackup?.location ?? source.display}, verified` : 'what it created was deleted'
  return new OperationError(`${cause}. Rolled back: ${selection.target} is as it was before the restore (${how})`, {cause: error})
}

/** Puts the tree back as it was before the restore: the safety backup restored, or the new subtree deleted. */
async function rollBack(run: RestoreRun, source: StorageProvider | undefined): Promise<void> {
  const {bulk, missingAncestors, options, selection, session} = run
  const {excluded, target} = selection
  const quiet = {...options, onPhase: undefined, onZnode: undefined, safetyBackup: null}
  const now = await readLiveTree(bulk, target, excluded, quiet)
  if (!source) {
    await deleteLiveTree(session, target, now, quiet, () => {})
    for (const ancestor of missingAncestors) {
      // eslint-disable-next-line no-await-in-loop
      await session.delete(ancestor).catch(() => {}) // NotEmpty: something else lives there now
    }

    return
  }

  const scopeOf = (archiveRoot: string): Scope => {
    if (archiveRoot !== target) throw new OperationError(`the safety backup ${source.display} holds ${archiveRoot}, not ${target}`)
    return {archiveRoot, excluded, from: target, identities: selection.identities, target}
  }

  const {emptyTargetPlan, selection: safety} = await verifyAndPlanForEmptyTarget(source, scopeOf)
  const plan = now.znodes.size === 0 ? emptyTargetPlan : await planRestore(safety, now)
  await applyRestore({...run, live: now, selection: safety}, plan.expectedDigest, {faults: false})
}

/** How many session timeouts a rollback waits for the ensemble to answer again. */
const ROLLBACK_RECONNECT_TIMEOUTS = 3

/**
 * The restore's session may have gone with the connection or the quorum (and its lock with it): the
 * rollback runs again on a new one, once the ensemble answers again (for a few session timeouts),
 * holding the lock again so that no other job starts meanwhile.
 */
async function rollBackOnNewSession(run: RestoreRun, source: StorageProvider | undefined): Promise<void> {
  const {options} = run
  const deadline = Date.now() + ROLLBACK_RECONNECT_TIMEOUTS * run.session.timeoutMs
  // The old session is given up first: the native client crashes when a second one connects while the first is still reconnecting.
  await run.bulk.close()
  run.session.close()
  const session = await connectBefore(options.connect, deadline)
  let lock: HeldLock | undefined
  let bulk: BulkAccess | undefined
  try {
    if (options.lock) lock = await retakeLock(session, options.lock)
    bulk = await BulkAccess.open(session, options.batch)
    await rollBack({...run, bulk, session}, source)
  } finally {
    await bulk?.close()
    if (lock) await releaseLock(session, lock)
    session.close()
  }
}

async function connectBefore(connect: () => Promise<ZkSession>, deadline: number): Promise<ZkSession> {
  for (;;) {
    try {
      // eslint-disable-next-line no-await-in-loop
      return await connect()
    } catch (error) {
      if (Date.now() >= deadline) throw error
      // eslint-disable-next-line no-await-in-loop
      await new Promise((resolve) => setTimeout(resolve, LOCK_POLL_MS))
    }
  }
}

/** The lock again for the same job: held still by the first session (undefined then), or taken anew. */
async function retakeLock(session: ZkSession, {job, path}: {job: string; path: string}): Promise<HeldLock | undefined> {
  const lock = new ClusterLock(path)
  if (await lock.tryAcquire(session, job, 'restore')) return {createdParent: false, job, lock}
  const holder = await lock.holder(session)
  if (holder?.job === job) return undefined
  throw new OperationError(`${holder ? describeHolder(holder) : 'another job'} took the cluster lock ${path} meanwhile`)
}

const CONNECTION_TROUBLE = new Set<number>([zkConstants.ZCONNECTIONLOSS, zkConstants.ZOPERATIONTIMEOUT, zkConstants.ZSESSIONEXPIRED])

function isConnectionTrouble(error: unknown): boolean {
  return error instanceof ZkError && CONNECTION_TROUBLE.has(error.code)
}

/** The ancestors of `target` that do not exist, deepest first. */
async function missingAncestorsOf(session: ZkSession, target: string): Promise<string[]> {
  const missing: string[] = []
  for (let path = parentZnodePath(target); path !== '/' && path !== target; path = parentZnodePath(path)) {
    // eslint-disable-next-line no-await-in-loop
    if (await session.exists(path)) break
    missing.push(path)
  }

  return missing
}

interface HeldLock {
  lock: ClusterLock
  job: string
  /** The lock's parent did not exist before: it goes again when empty, so a restore of / leaves no trace. */
  createdParent: boolean
}

/** How often a restore waiting for the lock looks again. */
const LOCK_POLL_MS = 250
/** A dead holder's session is gone this long after its timeout at the latest (the server's expiry tick). */
const EXPIRY_MARGIN_MS = 2000

/**
 * Takes the cluster lock. A holder that is a process of this host which no longer exists (a restore
 * SIGKILLed) is waited for until its session expires; with `waitMs`, any holder is waited for.
 */
async function takeLock(session: ZkSession, {job, path, waitMs = 0}: NonNullable<RestoreOptions['lock']>, notice?: (message: string) => void): Promise<HeldLock> {
  const lock = new ClusterLock(path)
  const createdParent = (await session.exists(parentZnodePath(path))) === undefined
  const waitUntil = Date.now() + waitMs
  let deadHolderGone: number | undefined
  for (;;) {
    // eslint-disable-next-line no-await-in-loop
    const acquired = await lock.tryAcquire(session, job, 'restore').catch((error: unknown) => {
      if (!(error instanceof ZkError && error.code === zkConstants.ZNOAUTH)) throw error
      throw new OperationError(`Cannot take the cluster lock ${path}: these credentials may not create it; nothing was changed. Pass --lock-path with a znode they may create (the backup service must use the same one)`)
    })
    if (acquired) return {createdParent, job, lock}
    // eslint-disable-next-line no-await-in-loop
    const holder = await lock.holder(session).catch(() => undefined)
    const timeoutMs = holder?.sessionTimeoutMs ?? session.timeoutMs
    if (holder && deadHolderGone === undefined && holderIsGone(holder)) {
      deadHolderGone = Date.now() + timeoutMs + EXPIRY_MARGIN_MS
      notice?.(`${describeHolder(holder)} holds the cluster lock ${path}, but that process no longer exists: waiting up to ${Math.ceil((timeoutMs + EXPIRY_MARGIN_MS) / 1000)}s for its ZooKeeper session to expire`)
    } else if (holder && waitMs > 0 && deadHolderGone === undefined && Date.now() < waitUntil) {
      notice?.(`${describeHolder(holder)} holds the cluster lock ${path}: waiting up to ${Math.ceil((waitUntil - Date.now()) / 1000)}s (--wait-lock)`)
      waitMs = 0 // said once
    }

    if (Date.now() >= Math.max(waitUntil, deadHolderGone ?? 0)) throw lockRefusal(holder, path, timeoutMs, deadHolderGone !== undefined)
    // eslint-disable-next-line no-await-in-loop
    await new Promise((resolve) => setTimeout(resolve, LOCK_POLL_MS))
  }
}

function lockRefusal(holder: LockHolder | undefined, path: string, timeoutMs: number, waitedForDead: boolean): OperationError {
  const who = holder ? describeHolder(holder) : 'another job'
  if (waitedForDead) {
    return new OperationError(`Refusing to restore: ${who} still holds the cluster lock ${path} although that process is gone; nothing was changed. Its session should have expired: check for another process using its session, or delete ${path} once you are sure no job runs`)
  }

  return new OperationError(
    `Refusing to restore: ${who} holds the cluster lock ${path}; nothing was changed. Try again when it has ended: if that process is dead, its lock goes when its session expires, at most ${Math.ceil(timeoutMs / 1000)}s after it died (--wait-lock <duration> waits)`,
  )
}

/** Deleted explicitly: a process that exits right after close() may leave its session, and the lock, to expire. */
async function releaseLock(session: ZkSession, {createdParent, job, lock}: HeldLock): Promise<void> {
  await lock.release(session, job).catch(() => {})
  if (createdParent) await session.delete(parentZnodePath(lock.path)).catch(() => {}) // NotEmpty: someone else uses it
}

function finish(result: Omit<RestoreResult, 'durationMs' | 'znodesPerSecond'> & {plan: Partial<FullPlan> & RestorePlan}, started: number): RestoreResult {
  const durationMs = Date.now() - started
  const {acls: _, expectedDigest: __, extendedTypes: ___, largest: ____, ...plan} = result.plan
  return {...result, durationMs, plan, znodesPerSecond: Math.round((result.created * 1000) / Math.max(durationMs, 1))}
}

function safetyHint(safety: BackupResult | null, target: string): string {
  if (!safety) return `There is no safety backup (${target} did not exist, or --no-safety-backup was given); the tree under ${target} may be incomplete`
  return `The tree as it was is saved at ${safety.location}: restore it with "dcos zk restore ${safety.location} --zk <hosts>${target}"`
}

function selectSubtree(root: string, from: string | undefined): string {
  if (from === undefined) return root
  validateZnodePath(from)
  if (relativeZnodePath(root, from) === undefined) {
    throw new UsageError(`--from ${from} is outside the archive, whose root is ${root}`)
  }

  return from
}

interface LiveTree {
  znodes: Map<string, LiveZnode>
  /** Live znodes whose ACL denies this session some of what a restore may need, with how many of their children it deletes. */
  restricted: Map<string, {missing: number; acl: Acl[]; deletedChildren: number; createdChildren: number}>
  /** Live znodes kept because excluded paths live under them (updated in place, not deleted). */
  kept: Set<string>
  excluded: number
  ephemerals: number
  /** The target existed before the restore. */
  existed: boolean
  safetyBackup: BackupResult | null
  /** Where the safety backup was written, to read it back for a rollback. */
  safetyProvider?: StorageProvider
}

async function readLiveTree(bulk: BulkAccess, target: string, excluded: PathMatcher, options: RestoreOptions): Promise<LiveTree> {
  const {session} = bulk
  const identities = options.identities ?? identitiesOf()
  const live = emptyLiveTree()
  live.existed = (await session.exists(target)) !== undefined
  const remember = ({data, record, relativePath}: WalkedZnode) => {
    const isExcluded = excluded(relativePath)
    // Parents are walked before their children, so a restricted parent is known here.
    const parent = relativePath === '/' ? undefined : live.restricted.get(parentZnodePath(relativePath))
    if (parent && !isExcluded) parent.deletedChildren++
    if (isExcluded) {
      live.excluded++
      for (let path = relativePath; path !== '/'; ) {
        path = parentZnodePath(path)
        live.kept.add(path)
      }
    } else if (record.type === 'ephemeral') {
      live.ephemerals++
    } else {
      live.znodes.set(relativePath, {key: shownKey(record, data, identities), seen: false})
      const missing = missingPerms(record.acl, session.identities, RESTORE_PERMS)
      if (missing) live.restricted.set(relativePath, {acl: record.acl, createdChildren: 0, deletedChildren: 0, missing})
    }
  }

  // The safety backup keeps ephemerals too, as a record of what was there; no restore recreates them.
  // A target that does not exist yet has nothing to save.
  if (options.safetyBackup && !options.dryRun && live.existed) {
    live.safetyProvider = options.safetyBackup(target)
    const {result} = await backupTree({
      allowMissingRoot: true,
      bulk,
      destination: live.safetyProvider,
      includeEphemerals: true,
      onZnode: remember,
      root: target,
      session,
    })
    live.safetyBackup = result
  } else {
    await walkTree({includeEphemerals: true, onZnode: remember, reader: await bulk.reader(), root: target, session})
  }

  if (target === '/') live.kept.add('/')
  return live
}

/** The subtree of the archive being restored, and where it goes. */
interface Scope {
  archiveRoot: string
  /** The archive path whose subtree is restored: the archive's root, or --from. */
  from: string
  target: string
  /** Whether a path relative to `from` (and so to `target`) is left alone. */
  excluded: PathMatcher
  identities: Identity[]
}

/** The scope in a verified archive. */
interface Selection extends Scope {
  source: StorageProvider
  manifest: Manifest
  /** How many of the archive's znodes are restored. */
  znodes: number
}

interface SelectedZnode {
  relativePath: string
  record: ZnodeRecord
  data: Buffer
}

/**
 * The plan, with what only the engine needs: the digest the restored tree must have, its largest
 * znode, the first znode of each type a server may not support, and the ACLs it creates.
 */
type FullPlan = RestorePlan & {expectedDigest: string; largest?: LargestZnode; extendedTypes: ExtendedTypes; acls: ArchivedAcls}

/** The first container and TTL znode a restore creates: servers may lack them (3.4; TTL needs zookeeper.extendedTypesEnabled). */
type ExtendedTypes = Partial<Record<'container' | 'ttl', {path: string; count: number; ttl?: number}>>

/** Each distinct ACL the restore writes, with its first znode; null when there were too many to keep. */
type ArchivedAcls = Map<string, {acl: Acl[]; path: string}> | null

/** Archives hold few distinct ACLs; past this many the READ check costs one more pass over the archive. */
const MAX_DISTINCT_ACLS = 10_000

interface LargestZnode {
  path: string
  data: Buffer
}

/**
 * Verifies the whole archive in one pass, and plans on the way the restore into an empty target
 * (every selected znode a create): the archive's header names its root, which --from, the target
 * and --exclude are resolved against.
 */
async function verifyAndPlanForEmptyTarget(source: StorageProvider, scopeOf: (archiveRoot: string) => Scope): Promise<{selection: Selection; emptyTargetPlan: FullPlan}> {
  let scope: Scope | undefined
  let planner: RestorePlanner | undefined
  let manifest: Manifest | undefined
  for await (const item of readArchive(await source.read(), source.display)) {
    if (item.kind === 'header') {
      scope = scopeOf(item.header.source.root)
      planner = new RestorePlanner(source.display, scope, emptyLiveTree())
    } else if (item.kind === 'znode') {
      const selected = selectedZnode(scope!, item)
      if (selected) planner!.add(selected)
    } else {
      manifest = item.manifest
    }
  }

  const emptyTargetPlan = planner!.finish()
  return {emptyTargetPlan, selection: {...scope!, manifest: manifest!, source, znodes: emptyTargetPlan.create}}
}

function restoreScope(archiveRoot: string, options: RestoreOptions): Scope {
  const from = selectSubtree(archiveRoot, options.from)
  const target = options.target ?? from
  refuseZooKeeperOwn(target, 'the target')
  // --exclude names paths of the archive; the lock znode is left alone where it lives, under the target.
  const exclude = excludeMatcher(options.exclude ?? [])
  const lock = excludeMatcher(options.lock ? [options.lock.path] : [])
  return {
    archiveRoot,
    excluded: (relativePath) => exclude(resolveZnodePath(from, relativePath)) || lock(resolveZnodePath(target, relativePath)),
    from,
    identities: options.identities ?? identitiesOf(),
    target,
  }
}

/** ZooKeeper's own subtree (quotas, the ensemble's config) is the server's: no restore writes there. */
function refuseZooKeeperOwn(path: string, what: string): void {
  if (path === ZOOKEEPER_OWN || path.startsWith(`${ZOOKEEPER_OWN}/`)) {
    throw new UsageError(`Refusing to restore: ${what} ${path} is under ${ZOOKEEPER_OWN}, ZooKeeper's own subtree, which no client restores; choose another path`)
  }
}

const ZOOKEEPER_OWN = '/zookeeper'

function emptyLiveTree(): LiveTree {
  return {ephemerals: 0, excluded: 0, existed: false, kept: new Set(), restricted: new Map(), safetyBackup: null, znodes: new Map()}
}

async function planRestore(selection: Selection, live: LiveTree): Promise<FullPlan> {
  const planner = new RestorePlanner(selection.source.display, selection, live)
  for await (const item of selectedZnodes(selection)) planner.add(item)
  return planner.finish()
}

/** Counts what the archive's znodes, as they go by, ask of the live tree. */
class RestorePlanner {
  private readonly plan: RestorePlan
  private readonly expected = new TreeSetDigest()
  private largest?: LargestZnode
  private readonly extendedTypes: ExtendedTypes = {}
  private acls: ArchivedAcls = new Map()

  constructor(
    private readonly archive: string,
    private readonly scope: Scope,
    private readonly live: LiveTree,
  ) {
    this.plan = {
      archive,
      archiveRoot: scope.archiveRoot,
      change: 0,
      create: 0,
      delete: 0,
      ephemeralsToDelete: live.ephemerals,
      excludedLive: live.excluded,
      firstChange: [],
      firstCreate: [],
      firstDelete: [],
      from: scope.from,
      permissionProblems: [],
      target: scope.target,
      unchanged: 0,
    }
  }

  add({data, record, relativePath}: SelectedZnode): void {
    const {live, plan} = this
    const key = shownKey(record, data, this.scope.identities)
    this.expected.add(relativePath, key)
    const current = live.znodes.get(relativePath)
    const path = resolveZnodePath(this.scope.target, relativePath)
    if (path === ZOOKEEPER_OWN || path.startsWith(`${ZOOKEEPER_OWN}/`)) {
      throw new UsageError(`Refusing to restore: ${this.archive} holds ${path}, under ZooKeeper's own subtree ${ZOOKEEPER_OWN}, which no client restores; nothing was changed`)
    }

    if (data.length > (this.largest?.data.length ?? 0)) this.largest = {data, path}
    if (record.type === 'container' || record.type === 'ttl') {
      const seen = this.extendedTypes[record.type]
      if (seen) seen.count++
      else this.extendedTypes[record.type] = {count: 1, path, ttl: record.ttl}
    }

    this.noteAcl(record.acl, path)
    if (!current) note(plan, 'create', path)
    else if (current.key === key) plan.unchanged++
    else note(plan, 'change', path)
    if (current) current.seen = true
    const parent = relativePath === '/' ? undefined : live.restricted.get(parentZnodePath(relativePath))
    if (parent && !current) parent.createdChildren++
  }

  finish(): FullPlan {
    const {live, plan} = this
    for (const [relativePath, znode] of live.znodes) {
      if (!znode.seen && !live.kept.has(relativePath)) note(plan, 'delete', resolveZnodePath(this.scope.target, relativePath))
    }

    return {...plan, acls: this.acls, expectedDigest: this.expected.value, extendedTypes: this.extendedTypes, largest: this.largest}
  }

  private noteAcl(acl: Acl[], path: string): void {
    if (!this.acls) return
    const key = aclText(acl)
    if (this.acls.has(key)) return
    if (this.acls.size === MAX_DISTINCT_ACLS) this.acls = null
    else this.acls.set(key, {acl, path})
  }
}

/**
 * Proves, before anything is deleted, that the servers take what the restore will write: its
 * largest znode (a server whose jute.maxbuffer is smaller drops the connection instead of
 * answering, which half way through would leave the tree half restored), and a container and a
 * TTL znode when the archive holds them (3.4 has neither; TTLs need zookeeper.extendedTypesEnabled).
 */
async function checkServersAccept(session: ZkSession | WireSession, probePath: string, plan: FullPlan): Promise<void> {
  if (plan.largest) await checkLargestFits(session, probePath, plan.largest)
  for (const type of ['container', 'ttl'] as const) {
    const first = plan.extendedTypes[type]
    // eslint-disable-next-line no-await-in-loop
    if (first) await checkTypeAccepted(session, `${probePath}-${type}`, type, first)
  }
}

/** A connection lost twice on this one request is taken for a jute.maxbuffer refusal. Our own session sees the drop at once; the native client only after most of the session timeout. */
async function checkLargestFits(session: ZkSession | WireSession, probePath: string, largest: LargestZnode): Promise<void> {
  const create = () =>
    session instanceof WireSession
      ? session.multi([{acl: OPEN_ACL, data: largest.data, flags: zkConstants.ZOO_EPHEMERAL, kind: 'create', path: probePath}])
      : session.create(probePath, largest.data, zkConstants.ZOO_EPHEMERAL)
  for (let attempt = 1; ; attempt++) {
    try {
      // eslint-disable-next-line no-await-in-loop
      await create()
    } catch (error) {
      const code = error instanceof ZkError ? error.code : undefined
      if (code === zkConstants.ZCONNECTIONLOSS && attempt < 2) continue
      if (code === zkConstants.ZCONNECTIONLOSS) {
        throw new OperationError(
          `Cannot restore: ${largest.path} holds ${largest.data.length} bytes, more than the ZooKeeper servers accept in one request (their jute.maxbuffer); nothing was changed. Raise jute.maxbuffer on every server, or leave the znode out with --exclude`,
        )
      }

      if (code !== zkConstants.ZNODEEXISTS) throw error // NodeExists: the first attempt landed after all
    }

    // An ephemeral: it goes with the session anyway.
    await deleteProbe(session, probePath)
    return
  }
}

/** A probe that outlives a crash goes by itself: a TTL of a second, a container the server reaps once used. */
const PROBE_TTL_MS = 1000

async function checkTypeAccepted(session: ZkSession | WireSession, path: string, type: 'container' | 'ttl', first: {path: string; count: number}): Promise<void> {
  const flags = FLAGS[type]
  const ttl = type === 'ttl' ? PROBE_TTL_MS : undefined
  try {
    await (session instanceof WireSession
      ? session.multi([{acl: OPEN_ACL, data: Buffer.alloc(0), flags, kind: 'create', path, ...(ttl ? {ttlMs: ttl} : {})}])
      : session.create(path, Buffer.alloc(0), flags, ttl))
  } catch (error) {
    if (!(error instanceof ZkError) || error.code === zkConstants.ZCONNECTIONLOSS) throw error
    if (error.code !== zkConstants.ZNODEEXISTS) {
      const what = type === 'ttl' ? 'TTL znodes (they need zookeeper.extendedTypesEnabled=true on every server, ZooKeeper 3.5.3+)' : 'container znodes (ZooKeeper 3.5.3+)'
      const others = first.count > 1 ? ` and ${first.count - 1} more` : ''
      throw new OperationError(
        `Cannot restore: the archive holds ${type === 'ttl' ? 'TTL' : 'container'} znodes (${first.path}${others}) and the ZooKeeper servers do not accept ${what}: ${errorMessage(error)}; nothing was changed. Enable them, or leave those znodes out with --exclude`,
      )
    }
  }

  await deleteProbe(session, path)
}

async function deleteProbe(session: ZkSession | WireSession, path: string): Promise<void> {
  await (session instanceof WireSession ? session.multi([{kind: 'delete', path}]) : session.delete(path)).catch(() => {})
}

const RESTORE_PERMS = PERMS.DELETE | PERMS.CREATE | PERMS.WRITE | PERMS.ADMIN

/**
 * Deleting a znode needs DELETE on its parent; a znode kept in place (excluded paths live under it)
 * needs WRITE, ADMIN and CREATE; recreating the target needs CREATE and DELETE on its parent; the
 * verifying re-read needs READ on every restored znode. All of it is known from the ACLs read with
 * the tree and those in the archive, so a restore that would stop half way never starts.
 */
async function permissionProblems(session: ZkSession, target: string, live: LiveTree, plan: FullPlan, selection: Selection): Promise<string[]> {
  const problems: string[] = []
  for (const kept of live.kept) {
    const parent = kept === '/' ? undefined : live.restricted.get(parentZnodePath(kept))
    if (parent) parent.deletedChildren--
  }

  for (const [relativePath, {acl, createdChildren, deletedChildren, missing}] of live.restricted) {
    const path = resolveZnodePath(target, relativePath)
    if (missing & PERMS.DELETE && deletedChildren > 0) problems.push(`cannot delete the children of ${path} (ACL ${aclText(acl)})`)
    if (!live.kept.has(relativePath)) continue
    if (missing & (PERMS.WRITE | PERMS.ADMIN)) problems.push(`cannot update ${path} in place (ACL ${aclText(acl)})`)
    if (missing & PERMS.CREATE && createdChildren > 0) problems.push(`cannot create znodes in ${path} (ACL ${aclText(acl)})`)
  }

  if (target !== '/' && live.znodes.has('/') && !live.kept.has('/')) {
    const parent = parentZnodePath(target)
    const {acl} = await session.getAcl(parent)
    if (missingPerms(acl, session.identities, PERMS.DELETE | PERMS.CREATE)) {
      problems.push(`cannot delete and recreate ${target} in ${parent} (ACL ${aclText(acl)})`)
    }
  }

  const unreadable = await firstUnreadable(plan.acls, selection, session.identities)
  if (unreadable) problems.push(`cannot read back ${unreadable.path} after restoring it, to verify it (its archived ACL ${aclText(unreadable.acl)} grants them no READ)`)
  return problems
}

/** The first znode the restore writes with an ACL that certainly denies these identities READ. */
async function firstUnreadable(acls: ArchivedAcls, selection: Selection, identities: Identity[]): Promise<{path: string; acl: Acl[]} | undefined> {
  const denies = (acl: Acl[]) => missingPerms(acl, identities, PERMS.READ) !== 0
  if (acls) return [...acls.values()].find(({acl}) => denies(acl))
  for await (const {record, relativePath} of selectedZnodes(selection)) {
    if (denies(record.acl)) return {acl: record.acl, path: resolveZnodePath(selection.target, relativePath)}
  }

  return undefined
}

function aclText(acl: Acl[]): string {
  return acl.map((entry) => `${entry.scheme}:${entry.id}:${permsText(entry.perms)}`).join(',')
}

/** Counts the znode; lists the first paths in sorted order, the same whatever order the trees were read in. */
function note(plan: RestorePlan, kind: 'create' | 'change' | 'delete', path: string): void {
  plan[kind]++
  const first = kind === 'create' ? plan.firstCreate : kind === 'change' ? plan.firstChange : plan.firstDelete
  if (first.length === LISTED_PATHS && path > first[LISTED_PATHS - 1]) return
  const at = first.findIndex((listed) => path < listed)
  first.splice(at < 0 ? first.length : at, 0, path)
  if (first.length > LISTED_PATHS) first.pop()
}

/** The znodes a restore writes: the selected subtree, without excluded paths and ephemerals. */
async function* selectedZnodes(selection: Selection): AsyncGenerator<SelectedZnode> {
  const {manifest, source} = selection
  for await (const item of readArchive(await source.read(), source.display)) {
    const replaced =
      (item.kind === 'header' && item.header.createdAt !== manifest.createdAt) ||
      (item.kind === 'manifest' && item.manifest.treeDigest !== manifest.treeDigest)
    if (replaced) throw new OperationError(`${source.display} changed while it was being restored`)
    const selected = item.kind === 'znode' ? selectedZnode(selection, item) : undefined
    if (selected) yield selected
  }
}

function selectedZnode({archiveRoot, excluded, from}: Scope, {data, record, relativePath}: SelectedZnode): SelectedZnode | undefined {
  if (record.type === 'ephemeral') return undefined
  const selectedPath = relativeZnodePath(from, resolveZnodePath(archiveRoot, relativePath))
  if (selectedPath === undefined || excluded(selectedPath)) return undefined
  return {data, record, relativePath: selectedPath}
}

/** Deletes every live znode that is not kept, deepest first; retries what concurrent writers refill. */
async function deleteLiveTree(session: ZkSession, target: string, live: LiveTree, options: RestoreOptions, hit: (point: string) => void): Promise<number> {
  let paths = [...live.znodes.keys()].filter((path) => !live.kept.has(path)).map((path) => resolveZnodePath(target, path))
  options.onPhase?.('delete', paths.length)
  let deleted = 0
  for (let round = 1; paths.length > 0; round++) {
    const notEmpty: string[] = []
    const pipeline = new Pipeline(PIPELINE_DEPTH)
    const deleteOne = async (path: string) => {
      try {
        await session.delete(path)
        deleted++
        options.onZnode?.('delete', path)
        hit('restore.delete')
      } catch (error) {
        if (!(error instanceof ZkError)) throw error
        if (error.code === zkConstants.ZNOTEMPTY) notEmpty.push(path)
        else if (error.code !== zkConstants.ZNONODE) throw error
      }
    }

    // eslint-disable-next-line no-await-in-loop
    await pipeline.run(paths.sort((a, b) => znodeDepth(b) - znodeDepth(a)), deleteOne)
    if (notEmpty.length === 0) break
    if (round === DELETE_ROUNDS) throw new OperationError(`Cannot empty ${notEmpty[0]}: something keeps creating znodes under it`)
    // Children appeared (ephemerals, or writers that were not stopped): delete them too.
    // eslint-disable-next-line no-await-in-loop
    paths = await collectSubtrees(session, notEmpty, target, live.kept)
  }

  return deleted
}

async function collectSubtrees(session: ZkSession, roots: string[], target: string, kept: Set<string>): Promise<string[]> {
  const paths: string[] = []
  for (const root of roots) {
    // eslint-disable-next-line no-await-in-loop
    await walkTree({
      includeEphemerals: true,
      onZnode({record}) {
        if (!kept.has(relativeZnodePath(target, record.path)!)) paths.push(record.path)
      },
      root,
      session,
    })
  }

  return paths
}

const FLAGS: Record<ZnodeRecord['type'], number> = {
  container: zkConstants.ZOO_CONTAINER,
  ephemeral: zkConstants.ZOO_EPHEMERAL,
  persistent: zkConstants.ZOO_PERSISTENT,
  ttl: zkConstants.ZOO_PERSISTENT_WITH_TTL,
}

/** How the znodes are written: one request each through the native session, or multis through ours. */
interface ZnodeWriter {
  /** Whether a znode to be created waits for its ACL until every znode exists. */
  aclLater(acl: Acl[]): boolean
  /** Writes the znode (with `acl`, when created) and calls `done` once it is applied. */
  write(znode: ZnodeToWrite, acl: Acl[], done: () => void): Promise<void>
  drain(): Promise<void>
  /** Waits for what is in flight, sending nothing more; never throws. */
  settle(): Promise<void>
  setAcl(path: string, acl: Acl[]): Promise<void>
}

interface ZnodeToWrite {
  data: Buffer
  /** Updated in place (excluded paths live under it): its ACL is whatever it is live, so it is set too. */
  kept: boolean
  path: string
  record: ZnodeRecord
}

/** The native client creates every znode open (world:anyone): restrictive ACLs wait until the end. */
function singleRequestWriter(session: ZkSession): ZnodeWriter {
  const pipeline = new Pipeline(PIPELINE_DEPTH)
  return {
    aclLater: (acl) => !isOpenAcl(acl),
    drain: () => pipeline.drain(),
    setAcl: (path, acl) => session.setAcl(path, acl),
    settle: () => pipeline.settle(),
    write: ({data, kept, path, record}, _acl, done) =>
      pipeline.add(async () => {
        await (kept ? session.setData(path, data) : session.create(path, data, FLAGS[record.type], record.type === 'ttl' ? record.ttl : undefined))
        done()
      }),
  }
}

/**
 * Multi transactions through our own session: each znode is created with its own ACL when that ACL
 * still lets us create its children; the others are created open and get their ACL at the end.
 */
function multiWriter(wire: WireSession, session: ZkSession): ZnodeWriter {
  const writer = new MultiWriter(wire)
  return {
    aclLater: (acl) => !(isOpenAcl(acl) || (grantedPerms(acl, session.identities, 'deny') & PERMS.CREATE) !== 0),
    drain: () => writer.drain(),
    setAcl: (path, acl) => retryingOnConnectionLoss(wire, () => wire.setAcl(path, acl)),
    settle: () => writer.abandon(),
    write: ({data, kept, path, record}, acl, done) =>
      writer.add(
        kept ? {data, kind: 'setData', path} : {acl, data, flags: FLAGS[record.type], kind: 'create', path, ...(record.type === 'ttl' ? {ttlMs: record.ttl} : {})},
        done,
      ),
  }
}

/** Writes the archive's znodes in order, then the ACLs left for last (and those of kept znodes). */
async function writeZnodes(
  writer: ZnodeWriter,
  session: ZkSession,
  selection: Selection,
  live: LiveTree,
  options: RestoreOptions,
  hit: (point: string) => void,
): Promise<{created: number; aclsSet: number}> {
  const restrictive: RestrictiveAcls = []
  let created = 0
  try {
    for await (const znode of znodesToWrite(session, selection, live, options)) {
      const {kept, path, record} = znode
      hit('restore.create')
      const aclLater = kept || writer.aclLater(record.acl)
      if (aclLater) restrictive.push({acl: record.acl, path})
      await writer.write(znode, aclLater ? OPEN_ACL : record.acl, () => {
        if (!kept) created++
        options.onZnode?.('create', path)
      })
    }

    await writer.drain()
  } catch (error) {
    await writer.settle() // nothing may still be in flight when a rollback starts
    throw error
  }

  hit('restore.acl')
  return {aclsSet: await applyAclsLast(restrictive, writer.setAcl, options), created}
}

type RestrictiveAcls = Array<{path: string; acl: Acl[]}>

/** The archive's znodes in order, where they go, and whether each is kept (updated in place); creates the target's parents first. */
async function* znodesToWrite(session: ZkSession, selection: Selection, live: LiveTree, options: RestoreOptions): AsyncGenerator<ZnodeToWrite> {
  const {target} = selection
  options.onPhase?.('create', selection.znodes)
  if (target !== '/' && selection.znodes > 0) await session.createParents(target)
  for await (const {data, record, relativePath} of selectedZnodes(selection)) {
    yield {data, kept: live.kept.has(relativePath), path: resolveZnodePath(target, relativePath), record}
  }
}

/** Sets the ACLs left for last in reverse order, children before parents, so none locks the restore out of the rest. */
async function applyAclsLast(restrictive: RestrictiveAcls, setAcl: (path: string, acl: Acl[]) => Promise<void>, options: RestoreOptions): Promise<number> {
  options.onPhase?.('acl')
  await new Pipeline(PIPELINE_DEPTH).run(restrictive.reverse(), ({acl, path}) => setAcl(path, acl))
  return restrictive.length
}

/** The content key of a znode with its ACL as the server shows it to these identities (digest hashes hidden without ADMIN). */
function shownKey(record: ZnodeRecord, data: Buffer, identities: Identity[]): string {
  return contentKey(record.type, record.ttl, aclAsShown(record.acl, identities), data)
}

function isOpenAcl(acl: Acl[]): boolean {
  return acl.length === 1 && acl[0].scheme === OPEN_ACL[0].scheme && acl[0].id === OPEN_ACL[0].id && acl[0].perms === OPEN_ACL[0].perms
}

/** Re-reads the target and compares it, znode by znode (as a set digest), with the archive's selection. */
async function checkRestored(bulk: BulkAccess, selection: Selection, live: LiveTree, expectedDigest: string): Promise<void> {
  const {excluded, target} = selection
  const actual = new TreeSetDigest()
  const ignored = (relativePath: string) => excluded(relativePath) || (live.kept.has(relativePath) && !live.znodes.get(relativePath)?.seen)
  await walkTree({
    onZnode({data, record, relativePath}) {
      if (!ignored(relativePath)) actual.add(relativePath, shownKey(record, data, selection.identities))
    },
    reader: await bulk.reader(),
    root: target,
    session: bulk.session,
  })
  if (actual.value !== expectedDigest) {
    throw new OperationError(`Verification failed: the tree under ${target} does not match the archive after the restore`)
  }
}
