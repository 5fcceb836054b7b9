/**
 * Checks a recovery set before it is copied: the snapshot and the cut logs, the very bytes the copy
 * must then hash to, replayed as ZooKeeper loads them
 * (zkdisk's replayState), and the tree checked against the digests ZooKeeper wrote (the
 * snapshot's, and each transaction's TxnDigest on 3.6+). The replay holds the tree; nothing else does.
 */
import {createHash} from 'node:crypto'

import type {Pins} from './pin.js'
import type {ChosenFile, RecoverySet} from './recovery-set.js'

import {OperationError} from '../../errors.js'
import {compareZxid, hexZxid} from '../../zk/zxid.js'
import {parseLogName} from '../../zkdisk/files.js'
import {readLogFile} from '../../zkdisk/log-scan.js'
import {readSnapshot, type SnapshotContent} from '../../zkdisk/snapshot.js'
import {replayState} from '../../zkdisk/state.js'
import {growthCollector} from '../collect-garbage.js'

export interface CopyVerification {
  /** Tree digests of ZooKeeper's that the replayed tree matched (0 before 3.6, or with digests off). */
  digestsVerified: number
  /** The replayed snapshot's exactFrom: the logs must reach it for the copy to be a state the server was in. */
  exactFrom?: bigint
  /** Each replayed file's SHA-256 (by its name in version-2/): what its copy must hash to. */
  sha256: Map<string, string>
  /** That transaction's time, when the logs hold it. */
  time?: Date
  /** The replayed tree's digest after each zxid asked for (past the snapshot's fuzzy window). */
  treeDigestsAt: Map<bigint, bigint>
  txnsReplayed: number
  /** The zxid the copy is consistent at: its last transaction (or the snapshot's, without any after it). */
  zxid: bigint
}

/**
 * Replays the chosen files before they are copied, and returns the SHA-256 of every byte it
 * replayed: the copy must hash to the same (the snapshot is read once, to choose it, and the tree
 * is let go of before the copy starts, so the copy's memory is not added to the replay's).
 */
export function verifyRecoverySet(set: RecoverySet, pins: Pins, digestsAt?: ReadonlySet<bigint>): CopyVerification {
  const files = new Map<string, ChosenFile>(
    [...(set.snapshot ? [set.snapshot] : []), ...set.logs].map((file) => [file.name, file]),
  )
  const sha256 = new Map<string, string>()
  const read = (name: string): Buffer => {
    const file = files.get(name)!
    const bytes = pins.read(file.pinned, file.length)
    sha256.set(name, createHash('sha256').update(bytes).digest('hex'))
    return bytes
  }

  const {snapshot} = set
  let exact: bigint | undefined
  const readChosenSnapshot = (name: string): SnapshotContent => {
    const chosen = name === snapshot?.name ? snapshot.content : undefined
    if (chosen) {
      sha256.set(name, snapshot!.sha256)
      snapshot!.content = undefined
    }

    const content = chosen ?? readSnapshot({bytes: read(name), name})
    exact = exactFrom(content)
    return content
  }

  // A log is hashed apart and read in place: what precedes the snapshot (often most of it) is
  // checked through a window, never held beside the tree. Its two reads (the hash, the replay) see
  // the same bytes: ZooKeeper only appends to a log, so nothing below the cut changes.
  const readLog = (name: string, skipBefore: bigint | undefined) => {
    const file = files.get(name)!
    sha256.set(name, pinnedSha256(pins, file))
    const readRange = (target: Buffer, position: number, length: number) =>
      pins.readInto(file.pinned, target, position, length)
    return file.length === 0 ? 'empty' : readLogFile({name, read: readRange, size: file.length}, skipBefore)
  }

  const notes: string[] = []
  const source = {
    logs: set.logs.map(({name}) => ({name, zxid: parseLogName(name)!})),
    read,
    readLog,
    readSnapshot: readChosenSnapshot,
    snapshots: snapshot ? [{name: snapshot.name, zxid: snapshot.zxid}] : [],
  }
  let state: ReturnType<typeof replayState>
  try {
    state = replayState(source, notes, {pause: growthCollector(), digestsAt})
  } catch (error) {
    throw new OperationError(`the copy does not load as ZooKeeper would load it: ${(error as Error).message}`)
  }

  const last = state.digests.lastCheck
  if (last && !last.matched)
    throw new OperationError(
      `the copy does not hold the node's state: the tree digest after zxid ${hexZxid(last.zxid)} differs from ZooKeeper's`,
    )
  // Copied whole (--all-files, a stopped node), a log keeps the torn tail a crash left, as dcos-zk kept it.
  if (set.cut && state.torn.length > 0)
    throw new OperationError(
      `the copy of ${state.torn[0].file} ends in a torn entry (${state.torn[0].reason}): it was cut in the wrong place`,
    )
  // Gaps and a snapshot ahead of its logs are only notes of the replay (src/zkdisk/state.ts): for a copy they are failures.
  const failure = notes.find((note) => / are missing$| the logs end before zxid /.test(note))
  if (failure) throw new OperationError(`the copy does not hold the node's state: ${failure}`)
  const {lastTxn} = set
  return {
    digestsVerified: state.digests.verified,
    sha256,
    ...(exact === undefined ? {} : {exactFrom: exact}),
    treeDigestsAt: state.digestsAt,
    txnsReplayed: state.txnsApplied,
    zxid: state.zxid,
    ...(lastTxn && lastTxn.zxid === state.zxid ? {time: new Date(Number(lastTxn.time))} : {}),
  }
}

const HASH_CHUNK = 1024 * 1024

/** The SHA-256 of a chosen file's bytes, read in chunks: what its copy must hash to. */
function pinnedSha256(pins: Pins, file: ChosenFile): string {
  const hash = createHash('sha256')
  const chunk = Buffer.allocUnsafe(Math.min(HASH_CHUNK, file.length))
  for (let position = 0; position < file.length; position += chunk.length) {
    const length = Math.min(chunk.length, file.length - position)
    if (pins.readInto(file.pinned, chunk, position, length) < length)
      throw new OperationError(`${file.pinned.original} shrank while it was copied: try again`)
    hash.update(chunk.subarray(0, length))
  }

  return hash.digest('hex')
}

/**
 * The first zxid a snapshot's state can be cut at: snapshots are fuzzy, exact only once the logs
 * reach the zxid in its name, its digest's, its last processed one and every zxid stamped in it.
 */
export function exactFrom(content: SnapshotContent): bigint {
  const stamps = [content.zxid, content.highestStamp, content.digest?.zxid ?? 0n, content.lastProcessedZxid ?? 0n]
  return stamps.sort(compareZxid).at(-1)!
}
