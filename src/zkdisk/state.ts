import type {DiskZnode, TreeNode} from './znode.js'

import {compareZxid, hexZxid} from '../zk/zxid.js'
/**
 * The state a ZooKeeper server loads from its data directory (FileTxnSnapLog.restore, then
 * ZooKeeperServer.loadData): the newest valid snapshot, every logged transaction after the zxid in
 * its name replayed onto it, then the ephemerals of sessions no longer in the session table removed.
 */
import {DataTree} from './datatree.js'
import {DIGEST_VERSION} from './digest.js'
import {DiskFormatError} from './errors.js'
import {type DiskFile, parseLogName, parseSnapshotName} from './files.js'
import {scanTxnLog, type TxnLogEntries} from './log-scan.js'
import {readSnapshot, type SnapshotContent} from './snapshot.js'
import {OpCode, type TxnDigest} from './txn.js'
import {type LoggedTxn} from './txnlog.js'
import {type TreeCensus, ZnodeView} from './view.js'

export interface TornLog {
  file: string
  /** The byte offset of the damaged last entry: the log was read up to there. */
  offset: number
  reason: string
}

export interface DiskState {
  /** The znodes a walk from "/" without /zookeeper counts, their data's bytes and ephemerals (cheaper than the walk). */
  census(): TreeCensus
  /** The names of a znode's children, sorted. */
  children(path: string): string[]
  /**
   * The replayed tree checked against the tree digests ZooKeeper wrote: how many matched, how many
   * did not (within a fuzzy snapshot's range that can happen and resolve), and the last check, whose
   * mismatch means the state is not the server's (also a note).
   */
  digests: {
    /**
     * Mismatches not counted: digests compared while the tree still held a change the snapshot
     * stamped with a later zxid than the one compared (its digest was read as that transaction was
     * being applied). ZooKeeper reports these too; they say nothing about the replay.
     */
    fuzzy?: number
    lastCheck?: {matched: boolean; zxid: bigint}
    mismatched: number
    verified: number
  }
  /**
   * The tree digest after each zxid of ReplayOptions.digestsAt that was replayed past the snapshot's
   * fuzzy window (before its highest stamp the tree may hold later changes: no digest there is the server's).
   */
  digestsAt: Map<bigint, bigint>
  /** The logs read, oldest first. */
  logs: string[]
  /** Torn log tails, skipped snapshots, ignored files, digest mismatches, removed ephemerals, ... */
  notes: string[]
  /** Session id to timeout (ms): the sessions ZooKeeper would still know. */
  sessions: Map<bigint, number>
  snapshot?: {name: string; zxid: bigint}
  torn: TornLog[]
  txnsApplied: number
  /** The znodes under a root, depth first, children by name, without /zookeeper below "/" (ZnodeView.walk). */
  walk(root: string): Iterable<[string, TreeNode]>
  /** Every znode, "/" and /zookeeper included, parents before children (made as they are asked for: each get is a new object). */
  znodes: ReadonlyMap<string, DiskZnode>
  /** The last zxid applied. */
  zxid: bigint
}

/** Where the snapshots and logs come from: their names (by zxid), and their bytes when needed. */
export interface StateSource {
  /** Oldest first. */
  logs: NamedFile[]
  read(name: string): Buffer
  /** A log as scanTxnLog reads it ('empty' for an empty file), when the source can read it without holding it whole. */
  readLog?(name: string, skipBefore: bigint | undefined): 'empty' | TxnLogEntries
  /** A snapshot as readSnapshot reads it, when the source has it parsed already. */
  readSnapshot?(name: string): SnapshotContent
  /** Newest first. */
  snapshots: NamedFile[]
}

interface NamedFile {
  name: string
  zxid: bigint
}

/** The state the files hold; picks the snapshot and the logs by the zxids in their names. */
export function loadState(files: DiskFile[]): DiskState {
  const contents = new Map(files.map((file) => [file.name, file.bytes]))
  const notes: string[] = []
  return replayState(
    stateSource([...contents.keys()], (name) => contents.get(name)!, notes),
    notes,
  )
}

export function stateSource(names: string[], read: (name: string) => Buffer, notes: string[]): StateSource {
  const snapshots: NamedFile[] = []
  const logs: NamedFile[] = []
  for (const name of names) {
    const snapshotZxid = parseSnapshotName(name)?.zxid
    const logZxid = parseLogName(name)
    if (snapshotZxid !== undefined) snapshots.push({name, zxid: snapshotZxid})
    else if (logZxid !== undefined) logs.push({name, zxid: logZxid})
    else if (/^(?:snapshot|log)\./.test(name))
      notes.push(`ignored ${name}: not named snapshot.<hex zxid>[.gz|.snappy] or log.<hex zxid>`)
  }

  const byZxid = (a: NamedFile, b: NamedFile) => compareZxid(a.zxid, b.zxid)
  return {logs: logs.sort(byZxid), read, snapshots: snapshots.sort(byZxid).reverse()}
}

export interface ReplayOptions {
  /** The zxids whose tree digest DiskState.digestsAt reports (a server's, to compare with). */
  digestsAt?: ReadonlySet<bigint>
  /** Called before each log is read (the snapshot's tree built) and every PAUSE_EVERY txns: where a replay can let go of its garbage. */
  pause?: () => void
  /** Stop after the last transaction at or below this zxid (a point in time); snapshots past it are not used. */
  untilZxid?: bigint
}

export function replayState(source: StateSource, notes: string[], options: ReplayOptions = {}): DiskState {
  const {untilZxid} = options
  const usable =
    untilZxid === undefined ? source : {...source, snapshots: source.snapshots.filter((file) => file.zxid <= untilZxid)}
  const snapshot = newestValidSnapshot(usable, notes)
  const [firstLog] = source.logs
  // ZooKeeper 3.4 writes its first snapshot only after snapCount transactions: logs from the very
  // first transaction hold the whole state. Logs that start later lack what came before them.
  if (!snapshot && firstLog && firstLog.zxid !== 1n) {
    throw new DiskFormatError(
      firstLog.name,
      undefined,
      `transaction logs but no snapshot, and the first log starts at ${hexZxid(firstLog.zxid)}: what came before it is missing`,
    )
  }

  if (!snapshot && firstLog)
    notes.push(
      `no snapshot: the logs start at the first transaction (${firstLog.name}), replayed from the empty tree as ZooKeeper 3.4 does`,
    )
  if (!snapshot && !firstLog) notes.push('no snapshot and no transaction log: the empty tree of a new server')
  const tree = snapshot ? DataTree.fromSnapshot(snapshot) : DataTree.empty()
  const replay: Replay = {
    digests: new DigestVerifier(tree, snapshot, notes),
    digestsAt: {found: new Map(), fuzzyBefore: snapshot?.highestStamp ?? 0n, wanted: options.digestsAt},
    notes,
    sessions: new Map(snapshot?.sessions),
    torn: [],
    tree,
  }
  const {applied, logs} = replayLogs(source, replay, snapshot?.zxid, options)
  replay.digests.finish()
  if (snapshot) checkAclsResolved(tree, snapshot.name)
  removeDeadSessions(tree, replay.sessions, notes)
  notes.push(...tree.anomalies)
  return {
    ...treeView(tree),
    digests: {
      mismatched: replay.digests.mismatched,
      verified: replay.digests.verified,
      ...(replay.digests.fuzzy > 0 ? {fuzzy: replay.digests.fuzzy} : {}),
      ...(replay.digests.lastCheck ? {lastCheck: replay.digests.lastCheck} : {}),
    },
    digestsAt: replay.digestsAt.found,
    logs,
    notes,
    sessions: replay.sessions,
    torn: replay.torn,
    txnsApplied: applied,
    zxid: tree.lastProcessedZxid,
    ...(snapshot ? {snapshot: {name: snapshot.name, zxid: snapshot.zxid}} : {}),
  }
}

/** Every snapshot znode whose ACL index the snapshot's cache lacked got its ACL from a replayed transaction. */
function checkAclsResolved(tree: DataTree, snapshotName: string): void {
  const [first] = tree.aclsToResolve
  if (!first) return
  const [path, index] = first
  const others = tree.aclsToResolve.size > 1 ? ` (and ${tree.aclsToResolve.size - 1} more znodes)` : ''
  throw new DiskFormatError(
    snapshotName,
    undefined,
    `${path} has ACL index ${index}${others}, which neither the snapshot's ACL cache nor a transaction after it holds`,
  )
}

/** ZooKeeper tries up to 100 snapshots, newest first, and uses the first it can read whole. */
const SNAPSHOTS_TRIED = 100

function newestValidSnapshot(source: StateSource, notes: string[]): SnapshotContent | undefined {
  const failures: DiskFormatError[] = []
  for (const {name} of source.snapshots.slice(0, SNAPSHOTS_TRIED)) {
    try {
      return source.readSnapshot ? source.readSnapshot(name) : readSnapshot({bytes: source.read(name), name})
    } catch (error) {
      if (!(error instanceof DiskFormatError)) throw error
      failures.push(error)
      notes.push(`skipped ${error.message}`)
    }
  }

  if (failures.length === 0) return undefined
  if (failures.length === 1) throw failures[0]
  // The newest one's reason and a count: a hundred reasons on one line would hide the one that matters.
  const older = failures.length - 1
  const more = `${older} older ${older === 1 ? 'one' : 'ones'} unreadable too`
  throw new DiskFormatError(
    failures[0].file,
    undefined,
    `none of the ${failures.length} snapshots tried can be read (newest: ${failures[0].message}; ${more})`,
  )
}

interface Replay {
  digests: DigestVerifier
  digestsAt: {found: Map<bigint, bigint>; fuzzyBefore: bigint; wanted?: ReadonlySet<bigint>}
  notes: string[]
  sessions: Map<bigint, number>
  torn: TornLog[]
  tree: DataTree
}

/**
 * FileTxnIterator: the newest log starting at or before the first zxid wanted, and every later log;
 * transactions before that zxid are skipped, every one after the first wanted is applied.
 */
function replayLogs(
  source: StateSource,
  replay: Replay,
  snapshotZxid: bigint | undefined,
  {pause, untilZxid}: ReplayOptions,
): {applied: number; logs: string[]} {
  const start = replay.tree.lastProcessedZxid + 1n
  const first = source.logs.findLastIndex((log) => log.zxid < start)
  const selected = source.logs.slice(Math.max(0, first))
  const sequence = new ZxidSequence(snapshotZxid, replay.notes)
  const logs: string[] = []
  let applied = 0
  for (const [index, {name, zxid}] of selected.entries()) {
    if (untilZxid !== undefined && zxid > untilZxid) break
    const skipBefore = applied === 0 ? start : undefined
    pause?.()
    const read = readLog(source, name, skipBefore)
    if (read === 'empty' && index === selected.length - 1) {
      replay.notes.push(`${name} is empty: ignored, as ZooKeeper deletes an empty newest log`)
      continue
    }

    // An empty log before the last fails, as scanTxnLog fails every log shorter than its header.
    const log = read === 'empty' ? scanTxnLog({bytes: Buffer.alloc(0), name}) : read
    logs.push(name)
    noteTornTail(log, replay)
    // One decoded transaction at a time: applied, then garbage while still young.
    for (let entryIndex = 0; entryIndex < log.count; entryIndex++) {
      const entry = log.txn(entryIndex)
      if (untilZxid !== undefined && entry.header.zxid > untilZxid) break
      if (applied === 0 && entry.header.zxid < start) continue
      sequence.next(entry.header.zxid, name)
      applyLogged(replay, entry)
      applied++
      if (applied % PAUSE_EVERY === 0) pause?.()
    }
  }

  sequence.finish()
  return {applied, logs}
}

/** Txns between two ReplayOptions.pause calls within a log: a point log holds all of a restore's. */
const PAUSE_EVERY = 4096

function readLog(source: StateSource, name: string, skipBefore: bigint | undefined): 'empty' | TxnLogEntries {
  if (source.readLog) return source.readLog(name, skipBefore)
  const bytes = source.read(name)
  if (bytes.length === 0) return 'empty'
  return scanTxnLog({bytes, name}, skipBefore === undefined ? {} : {skipBefore})
}

function noteTornTail(log: TxnLogEntries, replay: Replay): void {
  if (!log.torn) return
  const last = log.lastZxid ?? log.skipped?.lastZxid
  const upTo =
    last === undefined
      ? 'its header: it holds no whole transaction'
      : `the last whole transaction, zxid ${hexZxid(last)}`
  replay.torn.push({file: log.name, offset: log.torn.offset, reason: log.torn.reason})
  replay.notes.push(
    `${log.name}: torn tail at byte ${log.torn.offset} (${log.torn.reason}), as a crash leaves it: read up to ${upTo}`,
  )
}

/** FileTxnSnapLog.processTransaction: the session table follows the session transactions. */
function applyLogged(replay: Replay, {digest, header, txn}: LoggedTxn): void {
  if (txn.kind === 'createSession') replay.sessions.set(header.clientId, txn.timeout)
  if (header.type === OpCode.closeSession) replay.sessions.delete(header.clientId)
  replay.tree.processTxn(header, txn)
  replay.digests.afterTxn(header.zxid, digest)
  const {found, fuzzyBefore, wanted} = replay.digestsAt
  if (wanted?.has(header.zxid) && header.zxid >= fuzzyBefore) found.set(header.zxid, replay.tree.digest)
}

/** ZooKeeperServer.loadData kills the sessions that own ephemerals but are not in the session table. */
function removeDeadSessions(tree: DataTree, sessions: Map<bigint, number>, notes: string[]): void {
  // eslint-disable-next-line unicorn/no-useless-spread -- a copy: killSession deletes from tree.ephemerals
  for (const [session, paths] of [...tree.ephemerals]) {
    if (sessions.has(session) || paths.size === 0) continue
    notes.push(
      `removed ${[...paths].join(', ')}: ephemerals of session ${hexZxid(session)}, which is not in the session table (ZooKeeper removes them when it starts)`,
    )
    tree.killSession(session, tree.lastProcessedZxid, null)
  }
}

function treeView(tree: DataTree): Pick<DiskState, 'census' | 'children' | 'walk' | 'znodes'> {
  const znodes = new ZnodeView(tree.nodes, tree.orphansPossible)
  return {
    census: () => znodes.census(),
    children: (path) => znodes.children(path),
    walk: (root) => znodes.walk(root),
    znodes,
  }
}

/**
 * Checks the replayed tree against the digests ZooKeeper wrote (DataTree.compareDigest and
 * compareSnapshotDigests): a snapshot's digest once its zxid is reached, and each transaction's
 * digest from then on (before it, the tree is fuzzy: it may hold changes of later transactions).
 * ZooKeeper records a snapshot's digest after the tree, and a change being applied meanwhile can be
 * in the tree but not in the digest: the digests then differ until that transaction is replayed too.
 * Only a mismatch at the last digest checked means the state differs from the server's.
 *
 * The window is narrow but real: ZooKeeper applies a transaction to the tree and only then records
 * the digest a snapshot will write, so a snapshot can hold a change stamped with a zxid after its
 * digest's. Until that zxid is replayed the tree is provably ahead of the digests compared: those
 * mismatches are counted apart (`fuzzy`), not as evidence against the replay.
 */
class DigestVerifier {
  fuzzy = 0
  lastCheck?: {matched: boolean; zxid: bigint}
  mismatched = 0
  verified = 0
  private pending?: {digest: bigint; file: string; version: number; zxid: bigint}
  /** The highest zxid the snapshot's znodes are stamped with (czxid, mzxid, pzxid): the tree is fuzzy before it. */
  private readonly stampedUpTo: bigint = 0n

  constructor(
    private readonly tree: DataTree,
    snapshot: SnapshotContent | undefined,
    private readonly notes: string[],
  ) {
    const digest = snapshot?.digest
    if (!snapshot || !digest || digest.zxid <= 0n || digest.zxid < snapshot.zxid) return
    this.pending = {...digest, file: snapshot.name}
    this.stampedUpTo = snapshot.highestStamp
    this.reached(snapshot.zxid)
  }

  afterTxn(zxid: bigint, digest: TxnDigest | undefined): void {
    this.reached(zxid)
    if (this.pending || !digest || digest.version !== DIGEST_VERSION) return
    this.compare(digest.treeDigest, zxid)
  }

  finish(): void {
    if (this.pending) {
      this.notes.push(
        `the logs end before zxid ${hexZxid(this.pending.zxid)}, the zxid of the digest in ${this.pending.file}: the snapshot holds changes of transactions the logs do not`,
      )
    }

    if (this.lastCheck && !this.lastCheck.matched) {
      this.notes.push(
        `the tree digest after zxid ${hexZxid(this.lastCheck.zxid)} differs from ZooKeeper's: the replayed state is not the server's`,
      )
    }
  }

  private compare(expected: bigint, zxid: bigint): void {
    const matched = this.tree.digest === expected
    this.lastCheck = {matched, zxid}
    if (matched) this.verified++
    else if (zxid < this.stampedUpTo) this.fuzzy++
    else this.mismatched++
  }

  private reached(zxid: bigint): void {
    if (!this.pending || zxid !== this.pending.zxid) return
    if (this.pending.version === DIGEST_VERSION) this.compare(this.pending.digest, zxid)
    this.pending = undefined
  }
}

/** Notes transactions out of order, and gaps within an epoch (transactions missing from the logs). */
class ZxidSequence {
  private reported = 0
  private unreported = 0

  constructor(
    private previous: bigint | undefined,
    private readonly notes: string[],
  ) {}

  finish(): void {
    if (this.unreported > 0) this.notes.push(`... and ${this.unreported} more zxids out of sequence`)
  }

  next(zxid: bigint, file: string): void {
    const {previous} = this
    this.previous = zxid
    if (previous === undefined) return
    if (zxid <= previous)
      this.report(
        `${file}: zxid ${hexZxid(zxid)} follows ${hexZxid(previous)}, out of order (applied anyway, as ZooKeeper does)`,
      )
    else if (zxid >> 32n === previous >> 32n && zxid !== previous + 1n) {
      this.report(
        `${file}: zxid ${hexZxid(zxid)} follows ${hexZxid(previous)}: the transactions between them are missing`,
      )
    }
  }

  private report(note: string): void {
    if (this.reported < 10) {
      this.reported++
      this.notes.push(note)
    } else this.unreported++
  }
}
