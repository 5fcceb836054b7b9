import type {StorageProvider} from '../../providers/types.js'
import type {Identity} from '../../zk/acl.js'
import type {BatchMode, BulkAccess, ReadPath, WritePath} from '../znodes/bulk-access.js'
import type {CounterMode, CounterTargets} from './counters.js'
import type {RestoreSource} from './source.js'

/** The restore's options, plan and result, and what its parts hand each other. */
import {type ZnodeRecord} from '../../archive/format.js'
import {type Acl, type ZkSession} from '../../zk/session.js'
import {type BackupResult} from '../backup.js'
import {type PathMatcher} from '../exclude.js'

export type RestorePhase = 'acl' | 'check' | 'counters' | 'create' | 'delete' | 'read' | 'rollback' | 'verify'

export interface RestoreLock {
  heldByCaller?: boolean
  job: string
  path: string
  /** How long to wait for another holder to let go; by default, only for a dead holder's session to expire. */
  waitMs?: number
}

export interface RestoreOptions {
  /** An archive with no znode at `from` empties the target (the service's safety backup of a path that did not exist). */
  allowEmpty?: boolean
  /** Multi-read and multi batches: auto (when the server answers them, the default), on, off. */
  batch?: BatchMode
  /** Asked before anything is deleted or changed; returning false cancels with nothing changed. */
  confirm?: (plan: RestorePlan, safetyBackup: BackupResult | null) => Promise<boolean>
  /** Called only once the archive has passed verification: a bad archive never reaches ZooKeeper. */
  connect: () => Promise<ZkSession>
  dryRun?: boolean
  exclude?: string[]
  /** Restore only this subtree of the archive (an absolute path as it was backed up). */
  from?: string
  /**
   * Who the credentials of `connect`'s sessions are to ACLs (identitiesOf their digest auth; by default
   * world:anyone only), known before connecting: the server hides digest hashes from them where they
   * lack ADMIN, and the plan and the final check compare ACLs as the server shows them.
   */
  identities?: Identity[]
  /**
   * The cluster-wide lock (an ephemeral znode, shared with the backup service): taken from before the
   * live tree is read until the end, refused with nothing changed while another job holds it; or,
   * `heldByCaller`, already held by the caller's own session (the service's). Either way the restore
   * leaves the lock's znode alone and proves the servers take its largest znode beside it.
   */
  lock?: RestoreLock
  /** A restore that needs more create-and-delete pairs for the counters is refused, with nothing changed (default DEFAULT_MAX_PAIRS). */
  maxSequencePairs?: number
  /** Told what the restore waits for (a dead lock holder's session, say): for stderr, not for the result. */
  onNotice?: (message: string) => void
  /** Each phase as it starts, with how many znodes it goes through (onZnode) where that is known: delete, create. */
  onPhase?: (phase: RestorePhase, total?: number) => void
  onZnode?: (phase: RestorePhase, path: string) => void
  /**
   * When the restore fails after its first destructive step, put the previous tree back from the
   * safety backup (or delete what was created where nothing was), through this same engine. Default true.
   */
  rollback?: boolean
  /** A backup of the target that the caller took itself (the backup service's pre-restore backup): what a rollback restores when `safetyBackup` is null. */
  rollbackFrom?: StorageProvider
  /** How long a rollback whose session went with the connection or the quorum waits for the ensemble to answer again (default ROLLBACK_WAIT_MS). */
  rollbackWaitMs?: number
  /** Where to save the current tree first, from the target path; null skips the safety backup. */
  safetyBackup: ((target: string) => StorageProvider) | null
  /** Which parents get their next sequential number back (default: those with sequential children in the archive). */
  sequenceCounters?: CounterMode
  /** Go ahead even where the live ACLs seem to forbid the restore (for ZooKeeper superusers). */
  skipPermissionCheck?: boolean
  /** An online archive, or a replayed state (restore/state-source.ts). */
  source: RestoreSource | StorageProvider
  /** Where the tree goes; by default where it came from. */
  target?: string
}

export interface RestorePlan {
  archive: string
  archiveRoot: string
  change: number
  /** Parents kept in place whose counter is already past the archive's (it can't be lowered), and the first of them. */
  countersAhead: number
  /** Znodes in the archive that the target lacks, differs in, or has and the archive does not. */
  create: number
  delete: number
  /** Ephemeral znodes under the target: they are deleted too (their sessions lose them). */
  ephemeralsToDelete: number
  /** Live znodes left alone because they match --exclude. */
  excludedLive: number
  firstChange: string[]
  firstCountersAhead: string[]
  firstCreate: string[]
  firstDelete: string[]
  from: string
  /** What the live ACLs forbid these credentials to do; a restore refuses to start while this is not empty. */
  permissionProblems: string[]
  /** Create-and-delete pairs that raise the sequence counters to the archive's, and over how many parents. */
  sequencePairs: number
  sequenceParents: number
  target: string
  unchanged: number
}

export interface RestoreResult {
  aclsSet: number
  /** Why batches were not used, when --batch auto fell back. */
  batchFallback?: string
  created: number
  deleted: number
  dryRun: boolean
  durationMs: number
  plan: RestorePlan
  /** How the trees were read and the znodes written: batches, or one request each. */
  readPath: ReadPath
  safetyBackup: BackupResult | null
  /** Create-and-delete pairs sent for the sequence counters, and how many a second. */
  sequencePairs: number
  sequencePairsPerSecond: number
  verified: boolean
  writePath: WritePath
  znodesPerSecond: number
}

interface LiveZnode {
  key: string
  nextSequence?: number
  seen: boolean
}

/** What a restore works with once it has read the live tree: what a rollback needs too. */
export interface RestoreRun {
  bulk: BulkAccess
  live: LiveTree
  /** The target's ancestors that did not exist before (created for it, deleted again by a rollback). */
  missingAncestors: string[]
  options: RestoreOptions
  selection: Selection
  session: ZkSession
}

export interface LiveTree {
  ephemerals: number
  excluded: number
  /** The target existed before the restore. */
  existed: boolean
  /** Live znodes kept because excluded paths live under them (updated in place, not deleted). */
  kept: Set<string>
  /** Live znodes whose ACL denies this session some of what a restore may need, with how many of their children it deletes. */
  restricted: Map<string, {acl: Acl[]; createdChildren: number; deletedChildren: number; missing: number}>
  safetyBackup: BackupResult | null
  /** Where the safety backup was written, to read it back for a rollback. */
  safetyProvider?: StorageProvider
  znodes: Map<string, LiveZnode>
}

/** The subtree of the archive being restored, and where it goes. */
export interface Scope {
  archiveRoot: string
  /** Whether a path relative to `from` (and so to `target`) is left alone. */
  excluded: PathMatcher
  /** The archive path whose subtree is restored: the archive's root, or --from. */
  from: string
  identities: Identity[]
  sequenceCounters: CounterMode
  target: string
}

/** The scope in a verified archive. */
export interface Selection extends Scope {
  source: RestoreSource
  /** How many of the archive's znodes are restored. */
  znodes: number
}

export interface SelectedZnode {
  data: Buffer
  record: ZnodeRecord
  relativePath: string
}

/**
 * The plan, with what only the engine needs: the digest the restored tree must have, its largest
 * znode, the first znode of each type a server may not support, and the ACLs it creates.
 */
export type FullPlan = RestorePlan & {
  acls: ArchivedAcls
  counters: CounterTargets
  expectedDigest: string
  extendedTypes: ExtendedTypes
  largest?: LargestZnode
}

/** The first container and TTL znode a restore creates: servers may lack them (3.4; TTL needs zookeeper.extendedTypesEnabled). */
export type ExtendedTypes = Partial<Record<'container' | 'ttl', {count: number; path: string; ttl?: number}>>

/** Each distinct ACL the restore writes, with its first znode; null when there were too many to keep. */
export type ArchivedAcls = Map<string, {acl: Acl[]; path: string}> | null

export interface LargestZnode {
  data: Buffer
  path: string
}
