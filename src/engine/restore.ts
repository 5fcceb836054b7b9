import {contentKey, type Manifest, TreeSetDigest, type ZnodeRecord} from '../archive/format.js'
import {readArchive} from '../archive/reader.js'
import {errorMessage, OperationError, UsageError} from '../errors.js'
import type {StorageProvider} from '../providers/types.js'
import {grantedPerms, missingPerms, PERMS, permsText} from '../zk/acl.js'
import {ClusterLock} from '../zk/lock.js'
import {type Acl, OPEN_ACL, ZkError, zkConstants, type ZkSession} from '../zk/session.js'
import {WireSession} from '../zk/wire/session.js'
import {parentZnodePath, relativeZnodePath, resolveZnodePath, validateZnodePath, znodeDepth} from '../zk/uri.js'
import {backupTree, type BackupResult} from './backup.js'
import {type BatchMode, BulkAccess, type ReadPath, type WritePath} from './bulk.js'
import {excludeMatcher, type PathMatcher} from './exclude.js'
import {MultiWriter} from './multi-writer.js'
import {Pipeline} from './pipeline.js'
import {retryingOnConnectionLoss} from './read-znodes.js'
import {walkTree, type WalkedZnode} from './walk.js'

export type RestorePhase = 'verify' | 'read' | 'delete' | 'create' | 'acl' | 'check'

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
  lock?: {path: string; job: string}
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
 * there now (writing the safety backup as it goes), show the plan, then delete, recreate every
 * znode in order, apply the ACLs last, and re-read the result to prove it matches.
 */
export async function restoreTree(options: RestoreOptions): Promise<RestoreResult> {
  const started = Date.now()
  const {source} = options
  if (source.scheme === '-') {
    throw new UsageError('restore reads the archive more than once (verify, then apply): save it to a file or S3 first')
  }

  options.onPhase?.('verify')
  const {emptyTargetPlan, selection} = await verifyAndPlanForEmptyTarget(options)
  const {excluded: excludedInArchive, target} = selection
  if (emptyTargetPlan.create === 0) throw new UsageError(`${source.display} holds no znode at ${selection.from}`)

  const session = await options.connect()
  let lock: HeldLock | undefined
  let bulk: BulkAccess | undefined
  try {
    if (options.lock && !options.dryRun) lock = await takeLock(session, options.lock)
    bulk = await BulkAccess.open(session, options.batch)
    options.onPhase?.('read')
    const live = await readLiveTree(bulk, target, excludedInArchive, options)
    // Most restores into an empty path (a new ensemble) need no second pass over the archive.
    const plan = live.znodes.size === 0 ? {...emptyTargetPlan, ephemeralsToDelete: live.ephemerals, excludedLive: live.excluded} : await planRestore(selection, live)
    plan.permissionProblems = await permissionProblems(session, target, live)
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
    if (probePath && plan.largest) await checkServersAccept(bulk.wire ?? session, probePath, plan.largest)
    if (destructive && options.confirm && !(await options.confirm(plan, live.safetyBackup))) {
      throw new OperationError(`Restore cancelled: nothing under ${target} was changed`)
    }

    try {
      result.deleted = await deleteLiveTree(session, target, live, options)
      const writer = bulk.wire && bulk.writePath === 'multi' ? multiWriter(bulk.wire, session) : singleRequestWriter(session)
      const {aclsSet, created} = await writeZnodes(writer, session, selection, live, options)
      Object.assign(result, {aclsSet, created})
      options.onPhase?.('check')
      await checkRestored(bulk, target, excludedInArchive, live, plan.expectedDigest)
      result.verified = true
    } catch (error) {
      throw new OperationError(`${errorMessage(error)}. ${safetyHint(live.safetyBackup, target)}`, {cause: error})
    }

    return finish(result, started)
  } finally {
    await bulk?.close()
    if (lock) await releaseLock(session, lock)
    session.close()
  }
}

interface HeldLock {
  lock: ClusterLock
  job: string
  /** The lock's parent did not exist before: it goes again when empty, so a restore of / leaves no trace. */
  createdParent: boolean
}

async function takeLock(session: ZkSession, {job, path}: {job: string; path: string}): Promise<HeldLock> {
  const lock = new ClusterLock(path)
  const createdParent = (await session.exists(parentZnodePath(path))) === undefined
  const acquired = await lock.tryAcquire(session, job, 'restore').catch((error: unknown) => {
    if (!(error instanceof ZkError && error.code === zkConstants.ZNOAUTH)) throw error
    throw new OperationError(`Cannot take the cluster lock ${path}: these credentials may not create it; nothing was changed. Pass --lock-path with a znode they may create (the backup service must use the same one)`)
  })
  if (acquired) return {createdParent, job, lock}
  throw new OperationError(`Refusing to restore: ${await lock.describeHolder(session)} holds the cluster lock ${path}; nothing was changed. Try again when it has ended`)
}

/** Deleted explicitly: a process that exits right after close() may leave its session, and the lock, to expire. */
async function releaseLock(session: ZkSession, {createdParent, job, lock}: HeldLock): Promise<void> {
  await lock.release(session, job).catch(() => {})
  if (createdParent) await session.delete(parentZnodePath(lock.path)).catch(() => {}) // NotEmpty: someone else uses it
}

function finish(result: Omit<RestoreResult, 'durationMs' | 'znodesPerSecond'> & {plan: Partial<FullPlan> & RestorePlan}, started: number): RestoreResult {
  const durationMs = Date.now() - started
  const {expectedDigest: _, largest: __, ...plan} = result.plan
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
  safetyBackup: BackupResult | null
}

async function readLiveTree(bulk: BulkAccess, target: string, excluded: PathMatcher, options: RestoreOptions): Promise<LiveTree> {
  const {session} = bulk
  const live: LiveTree = {ephemerals: 0, excluded: 0, kept: new Set(), restricted: new Map(), safetyBackup: null, znodes: new Map()}
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
      live.znodes.set(relativePath, {key: contentKey(record.type, record.ttl, record.acl, data), seen: false})
      const missing = missingPerms(record.acl, session.identities, RESTORE_PERMS)
      if (missing) live.restricted.set(relativePath, {acl: record.acl, createdChildren: 0, deletedChildren: 0, missing})
    }
  }

  // The safety backup keeps ephemerals too, as a record of what was there; no restore recreates them.
  // A target that does not exist yet has nothing to save.
  if (options.safetyBackup && !options.dryRun && (await session.exists(target))) {
    const {result} = await backupTree({
      allowMissingRoot: true,
      bulk,
      destination: options.safetyBackup(target),
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

/** The plan, with what only the engine needs: the digest the restored tree must have, and its largest znode. */
type FullPlan = RestorePlan & {expectedDigest: string; largest?: LargestZnode}

interface LargestZnode {
  path: string
  data: Buffer
}

/**
 * Verifies the whole archive in one pass, and plans on the way the restore into an empty target
 * (every selected znode a create): the archive's header names its root, which --from, the target
 * and --exclude are resolved against.
 */
async function verifyAndPlanForEmptyTarget(options: RestoreOptions): Promise<{selection: Selection; emptyTargetPlan: FullPlan}> {
  const {source} = options
  let scope: Scope | undefined
  let planner: RestorePlanner | undefined
  let manifest: Manifest | undefined
  for await (const item of readArchive(await source.read(), source.display)) {
    if (item.kind === 'header') {
      scope = restoreScope(item.header.source.root, options)
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
  // The lock znode is left alone even when the target holds it (a restore of /).
  const exclude = excludeMatcher([...(options.exclude ?? []), ...(options.lock ? [options.lock.path] : [])])
  return {archiveRoot, excluded: (relativePath) => exclude(resolveZnodePath(from, relativePath)), from, target: options.target ?? from}
}

function emptyLiveTree(): LiveTree {
  return {ephemerals: 0, excluded: 0, kept: new Set(), restricted: new Map(), safetyBackup: null, znodes: new Map()}
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

  constructor(
    archive: string,
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
    const key = contentKey(record.type, record.ttl, record.acl, data)
    this.expected.add(relativePath, key)
    const current = live.znodes.get(relativePath)
    const path = resolveZnodePath(this.scope.target, relativePath)
    if (data.length > (this.largest?.data.length ?? 0)) this.largest = {data, path}
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

    return {...plan, expectedDigest: this.expected.value, largest: this.largest}
  }
}

/**
 * Writes the largest znode once, before anything is deleted: a server whose jute.maxbuffer is
 * smaller drops the connection instead of answering, which half way through would leave the tree
 * half restored. A connection lost twice on this one request is taken for that refusal. Our own
 * session sees the drop at once; the native client only after most of the session timeout.
 */
async function checkServersAccept(session: ZkSession | WireSession, probePath: string, largest: LargestZnode): Promise<void> {
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
    await (session instanceof WireSession ? session.multi([{kind: 'delete', path: probePath}]) : session.delete(probePath)).catch(() => {})
    return
  }
}

const RESTORE_PERMS = PERMS.DELETE | PERMS.CREATE | PERMS.WRITE | PERMS.ADMIN

/**
 * Deleting a znode needs DELETE on its parent; a znode kept in place (excluded paths live under it)
 * needs WRITE, ADMIN and CREATE; recreating the target needs CREATE and DELETE on its parent. All of
 * it is known from the ACLs read with the tree, so a restore that would stop half way never starts.
 */
async function permissionProblems(session: ZkSession, target: string, live: LiveTree): Promise<string[]> {
  const problems: string[] = []
  const describe = (acl: Acl[]) => acl.map((entry) => `${entry.scheme}:${entry.id}:${permsText(entry.perms)}`).join(',')
  for (const kept of live.kept) {
    const parent = kept === '/' ? undefined : live.restricted.get(parentZnodePath(kept))
    if (parent) parent.deletedChildren--
  }

  for (const [relativePath, {acl, createdChildren, deletedChildren, missing}] of live.restricted) {
    const path = resolveZnodePath(target, relativePath)
    if (missing & PERMS.DELETE && deletedChildren > 0) problems.push(`cannot delete the children of ${path} (ACL ${describe(acl)})`)
    if (!live.kept.has(relativePath)) continue
    if (missing & (PERMS.WRITE | PERMS.ADMIN)) problems.push(`cannot update ${path} in place (ACL ${describe(acl)})`)
    if (missing & PERMS.CREATE && createdChildren > 0) problems.push(`cannot create znodes in ${path} (ACL ${describe(acl)})`)
  }

  if (target !== '/' && live.znodes.has('/') && !live.kept.has('/')) {
    const parent = parentZnodePath(target)
    const {acl} = await session.getAcl(parent)
    if (missingPerms(acl, session.identities, PERMS.DELETE | PERMS.CREATE)) {
      problems.push(`cannot delete and recreate ${target} in ${parent} (ACL ${describe(acl)})`)
    }
  }

  return problems
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
async function deleteLiveTree(session: ZkSession, target: string, live: LiveTree, options: RestoreOptions): Promise<number> {
  let paths = [...live.znodes.keys()].filter((path) => !live.kept.has(path)).map((path) => resolveZnodePath(target, path))
  options.onPhase?.('delete', paths.length)
  let deleted = 0
  for (let round = 1; paths.length > 0; round++) {
    const notEmpty: string[] = []
    const pipeline = new Pipeline(PIPELINE_DEPTH)
    for (const path of paths.sort((a, b) => znodeDepth(b) - znodeDepth(a))) {
      // eslint-disable-next-line no-await-in-loop
      await pipeline.add(async () => {
        try {
          await session.delete(path)
          deleted++
          options.onZnode?.('delete', path)
        } catch (error) {
          if (!(error instanceof ZkError)) throw error
          if (error.code === zkConstants.ZNOTEMPTY) notEmpty.push(path)
          else if (error.code !== zkConstants.ZNONODE) throw error
        }
      })
    }

    // eslint-disable-next-line no-await-in-loop
    await pipeline.drain()
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
): Promise<{created: number; aclsSet: number}> {
  const restrictive: RestrictiveAcls = []
  let created = 0
  for await (const znode of znodesToWrite(session, selection, live, options)) {
    const {kept, path, record} = znode
    const aclLater = kept || writer.aclLater(record.acl)
    if (aclLater) restrictive.push({acl: record.acl, path})
    await writer.write(znode, aclLater ? OPEN_ACL : record.acl, () => {
      if (!kept) created++
      options.onZnode?.('create', path)
    })
  }

  await writer.drain()
  return {aclsSet: await applyAclsLast(restrictive, writer.setAcl, options), created}
}

type RestrictiveAcls = Array<{path: string; acl: Acl[]}>

/** The archive's znodes in order, where they go, and whether each is kept (updated in place); creates the target's parents first. */
async function* znodesToWrite(session: ZkSession, selection: Selection, live: LiveTree, options: RestoreOptions): AsyncGenerator<ZnodeToWrite> {
  const {target} = selection
  options.onPhase?.('create', selection.znodes)
  if (target !== '/') await session.createParents(target)
  for await (const {data, record, relativePath} of selectedZnodes(selection)) {
    yield {data, kept: live.kept.has(relativePath), path: resolveZnodePath(target, relativePath), record}
  }
}

/** Sets the ACLs left for last in reverse order, children before parents, so none locks the restore out of the rest. */
async function applyAclsLast(restrictive: RestrictiveAcls, setAcl: (path: string, acl: Acl[]) => Promise<void>, options: RestoreOptions): Promise<number> {
  options.onPhase?.('acl')
  const pipeline = new Pipeline(PIPELINE_DEPTH)
  for (const {acl, path} of restrictive.reverse()) {
    // eslint-disable-next-line no-await-in-loop
    await pipeline.add(() => setAcl(path, acl))
  }

  await pipeline.drain()
  return restrictive.length
}

function isOpenAcl(acl: Acl[]): boolean {
  return acl.length === 1 && acl[0].scheme === OPEN_ACL[0].scheme && acl[0].id === OPEN_ACL[0].id && acl[0].perms === OPEN_ACL[0].perms
}

/** Re-reads the target and compares it, znode by znode (as a set digest), with the archive's selection. */
async function checkRestored(bulk: BulkAccess, target: string, excluded: PathMatcher, live: LiveTree, expectedDigest: string): Promise<void> {
  const actual = new TreeSetDigest()
  const ignored = (relativePath: string) => excluded(relativePath) || (live.kept.has(relativePath) && !live.znodes.get(relativePath)?.seen)
  await walkTree({
    onZnode({data, record, relativePath}) {
      if (!ignored(relativePath)) actual.add(relativePath, contentKey(record.type, record.ttl, record.acl, data))
    },
    reader: await bulk.reader(),
    root: target,
    session: bulk.session,
  })
  if (actual.value !== expectedDigest) {
    throw new OperationError(`Verification failed: the tree under ${target} does not match the archive after the restore`)
  }
}
