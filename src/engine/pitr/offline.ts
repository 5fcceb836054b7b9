/**
 * The offline point-in-time restore: a data directory that ZooKeeper itself loads at exactly a
 * chosen zxid, made of the base archive's newest whole snapshot and ONE new log holding the raw
 * entries after it up to that zxid (copied byte for byte from the base's logs, then the segments).
 *
 * The files are put together in a temp directory, then go through the two engines that already
 * hold the rules: backupDataDir archives them (replaying the very bytes as ZooKeeper loads them,
 * every digest checked, gaps and torn entries refused) and restoreDataDir installs that archive
 * (a running node refused, myid kept, safety copies, --force). Nothing in the data dir is touched
 * before the replay passed. No epoch file is written: ZooKeeper creates currentEpoch and
 * acceptedEpoch from the last zxid when they are missing, so they are never older than it.
 */
import {createReadStream, readFileSync} from 'node:fs'
import {mkdir, mkdtemp, open, readdir, rename, rm} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import type {StorageProvider} from '../../providers/types.js'

import {errorMessage, OperationError} from '../../errors.js'
import {resolveLocation} from '../../providers/index.js'
import {followsZxid, hexZxid} from '../../zk/zxid.js'
import {DiskFormatError} from '../../zkdisk/errors.js'
import {parseSnapshotName} from '../../zkdisk/files.js'
import {readSnapshot} from '../../zkdisk/snapshot.js'
import {HEADER_LENGTH, LOG_MAGIC} from '../../zkdisk/txnlog.js'
import {backupDataDir} from '../datadir/backup.js'
import {type DataDirRestoreOptions, type DataDirRestoreResult, restoreDataDir} from '../datadir/restore.js'
import {checkNotRunning} from '../datadir/running.js'
import {exactFrom} from '../datadir/verify-copy.js'
import {logEntries} from './log-entries.js'
import {type NamedZxid, stageBase, type StagedBase} from './staged-base.js'

export interface PointFiles {
  /** The base's tar.gz (dcos-zk layout hot copy, as `zk backup --data-dir` writes it). */
  base: StorageProvider
  /** The window's .seg files in zxid order (each a valid ZooKeeper log file), each already SHA-256-checked by the caller. */
  segments: StorageProvider[]
  /** The last txn to keep (inclusive). */
  untilZxid: bigint
}

export type PointRestoreOptions = Omit<DataDirRestoreOptions, 'source'> & {
  /** What the operator should know: a target between transactions, the epoch files. */
  onNotice?: (message: string) => void
  /**
   * Where the point's files are put together (default: the system's temp directory): it needs
   * room for the snapshot and the new log, and for their archive. Removed afterwards.
   */
  tempDir?: string
}

/** restoreDataDir's result (location: the base; durationMs: the whole of it), and the point the data directory now loads at. */
export interface DataDirPointResult extends DataDirRestoreResult {
  /** Tree digests of ZooKeeper's that the replay of the written files matched. */
  digestsVerified: number
  /** The new log's name, absent when no transaction follows the snapshot up to the target. */
  log?: string
  /** untilZxid, as asked (hex). */
  requested: string
  /** The segments at least one kept transaction came from. */
  segmentsUsed: number
  /** The snapshot's name, absent for a base whose logs start at the first transaction (ZooKeeper 3.4). */
  snapshot?: string
  /** The time of the last transaction kept, when the log holds it. */
  time?: string
  /** Transactions in the new log: copied from the base's logs, and from the segments. */
  txns: {fromBase: number; fromSegments: number}
  /** The last transaction kept, which ZooKeeper loads the directory at (hex): untilZxid, or the last one before it. */
  zxid: string
}

export async function restoreDataDirToPoint(
  point: PointFiles,
  options: PointRestoreOptions,
): Promise<DataDirPointResult> {
  const started = Date.now()
  const {onNotice, tempDir, ...restore} = options
  // A running node is refused by the restore too; here before any of the work.
  await checkNotRunning(restore)
  const staging = await mkdtemp(join(tempDir ?? tmpdir(), 'dcos-zk-point-'))
  try {
    const base = await stageBase(point.base, join(staging, 'base'))
    // The snapshot the base's own backup replayed; its archive's SHA-256s were checked as it was staged.
    const [snapshot] = base.snapshots
    if (snapshot && point.untilZxid < snapshot.zxid)
      refuseBeforeSnapshot(point, snapshot, join(base.dir, snapshot.name))
    const pointDir = join(staging, 'point', 'version-2')
    await mkdir(pointDir, {recursive: true})
    if (snapshot) await rename(join(base.dir, snapshot.name), join(pointDir, snapshot.name))
    const after = snapshot?.zxid ?? 0n
    const log = await writePointLog(logSources(point, base, after), {after, dir: pointDir, until: point.untilZxid})
    await rm(base.dir, {force: true, recursive: true})
    const archive = resolveLocation(join(staging, 'point.tar.gz'))
    const checked = await checkedArchive(join(staging, 'point'), archive, log.last, (exactFrom) => {
      if (snapshot && point.untilZxid < exactFrom) refuseBeforeSnapshot(point, snapshot, exactFrom)
    })
    if (log.last < point.untilZxid)
      onNotice?.(
        `no transaction at ${hexZxid(point.untilZxid)}: the data directory loads at ${hexZxid(log.last)}, the last one before it`,
      )
    onNotice?.(
      `no currentEpoch or acceptedEpoch is written: a quorum member creates them at epoch ${log.last >> 32n}, that of ${hexZxid(log.last)}, when it starts`,
    )
    const restored = await restoreDataDir({...restore, source: archive})
    return {
      ...restored,
      digestsVerified: checked.digestsVerified,
      durationMs: Date.now() - started,
      location: point.base.display,
      requested: hexZxid(point.untilZxid),
      segmentsUsed: log.segmentsUsed,
      txns: log.txns,
      zxid: hexZxid(log.last),
      ...(log.name ? {log: log.name} : {}),
      ...(snapshot ? {snapshot: snapshot.name} : {}),
      ...(checked.time ? {time: checked.time} : {}),
    }
  } finally {
    await rm(staging, {force: true, recursive: true})
  }
}

/**
 * Refuses a target before the first zxid the snapshot's state is exact at (verify-copy's
 * exactFrom): given, or read from the snapshot's file, which only a refusal needs.
 */
function refuseBeforeSnapshot(point: PointFiles, snapshot: NamedZxid, exact: bigint | string): void {
  const earliest = typeof exact === 'bigint' ? exact : snapshotExactFrom(exact, snapshot)
  if (point.untilZxid >= earliest) return
  throw new OperationError(
    `${hexZxid(point.untilZxid)} is before the earliest point ${point.base.display} can restore, ${hexZxid(earliest)} (its snapshot ${snapshot.name}): choose a later target or an older base. Nothing was changed.`,
  )
}

function snapshotExactFrom(path: string, {name}: NamedZxid): bigint {
  try {
    return exactFrom(readSnapshot({bytes: readFileSync(path), name}))
  } catch (error) {
    if (!(error instanceof DiskFormatError)) throw error
    throw new OperationError(`the base's snapshot ${name} does not read whole (${error.message}). Nothing was changed.`)
  }
}

/** Where the entries come from, in order: the base's logs from the one holding the snapshot's zxid (as ZooKeeper picks them), then the segments. */
function logSources(point: PointFiles, base: StagedBase, after: bigint): LogSource[] {
  const first = Math.max(
    0,
    base.logs.findLastIndex((log) => log.zxid <= after),
  )
  return [
    ...base.logs.slice(first).map((log) => ({
      name: `${log.name} of ${point.base.display}`,
      open: async () => createReadStream(join(base.dir, log.name)),
      segment: false,
    })),
    ...point.segments.map((segment) => ({name: segment.display, open: () => segment.read(), segment: true})),
  ]
}

interface LogSource {
  name: string
  open(): Promise<AsyncIterable<Buffer>>
  segment: boolean
}

interface PointLog {
  /** The last transaction kept (the snapshot's zxid when none is). */
  last: bigint
  name?: string
  segmentsUsed: number
  txns: {fromBase: number; fromSegments: number}
}

/**
 * The entries after `after` up to `until`, from the sources in order (an entry already kept, or in
 * the snapshot, is skipped: a segment may start before the base's end), as one log in `dir`.
 * Refused when a transaction is missing before the cut, or the sources end before it.
 */
async function writePointLog(
  sources: LogSource[],
  {after, dir, until}: {after: bigint; dir: string; until: bigint},
): Promise<PointLog> {
  const result: PointLog = {last: after, segmentsUsed: 0, txns: {fromBase: 0, fromSegments: 0}}
  let output: LogWriter | undefined
  let cut = false
  try {
    for (const source of sources) {
      let used = false
      for await (const entry of logEntries(await source.open(), source.name)) {
        if (entry.zxid <= result.last) continue
        if (!followsZxid(entry.zxid, result.last))
          throw new OperationError(
            `the transactions after ${hexZxid(result.last)} up to ${hexZxid(entry.zxid)} (in ${source.name}) are missing: the segments do not continue the base's logs, so no data directory at ${hexZxid(until)} can be made from them. Nothing was changed.`,
          )
        if (entry.zxid > until) {
          cut = true
          break
        }

        output ??= await LogWriter.create(dir, entry.zxid, entry.dbid)
        await output.append(entry.bytes)
        result.last = entry.zxid
        result.txns[source.segment ? 'fromSegments' : 'fromBase']++
        used = true
      }

      if (used && source.segment) result.segmentsUsed++
      if (cut) break
    }

    if (!cut && result.last < until)
      throw new OperationError(
        `the base and its segments end at ${hexZxid(result.last)}, before ${hexZxid(until)}: nothing was archived up to the target. Nothing was changed.`,
      )
    if (output) result.name = output.name
    return result
  } finally {
    await output?.close()
  }
}

/** A new log: ZooKeeper's FileHeader (ZKLG, version 2, the dbid), then raw entries, written in batches. */
class LogWriter {
  private pending: Buffer[] = []
  private pendingBytes = 0

  private constructor(
    readonly name: string,
    private readonly handle: Awaited<ReturnType<typeof open>>,
  ) {}

  static async create(dir: string, firstZxid: bigint, dbid: bigint): Promise<LogWriter> {
    const name = `log.${firstZxid.toString(16)}`
    const writer = new LogWriter(name, await open(join(dir, name), 'wx'))
    const header = Buffer.alloc(HEADER_LENGTH)
    header.writeUInt32BE(LOG_MAGIC, 0)
    header.writeInt32BE(LOG_VERSION, 4)
    header.writeBigUInt64BE(dbid, 8)
    await writer.append(header)
    return writer
  }

  async append(bytes: Buffer): Promise<void> {
    this.pending.push(bytes)
    this.pendingBytes += bytes.length
    if (this.pendingBytes >= BATCH_BYTES) await this.flush()
  }

  async close(): Promise<void> {
    try {
      await this.flush()
    } finally {
      await this.handle.close()
    }
  }

  private async flush(): Promise<void> {
    if (this.pendingBytes === 0) return
    const batch = Buffer.concat(this.pending)
    this.pending = []
    this.pendingBytes = 0
    await this.handle.write(batch)
  }
}

const LOG_VERSION = 2
const BATCH_BYTES = 1024 * 1024

/**
 * The point's directory archived by the data-directory backup, which replays the very bytes it
 * archives as ZooKeeper loads them (digests checked, gaps and torn entries refused): the one replay
 * of an offline restore. It must load at the last transaction kept, and `refuse` is asked whether
 * the point is before the snapshot's state is exact (a replay that failed is asked too, with the
 * snapshot read again: a cut inside the snapshot's fuzzy range fails its digests).
 */
async function checkedArchive(
  dir: string,
  archive: StorageProvider,
  last: bigint,
  refuse: (exactFrom: bigint) => void,
): Promise<{digestsVerified: number; time?: string}> {
  let checked: Awaited<ReturnType<typeof backupDataDir>>
  try {
    checked = await backupDataDir({dataDir: dir, destination: archive})
  } catch (error) {
    const snapshot = (await readdir(join(dir, 'version-2'))).find((name) => parseSnapshotName(name))
    if (snapshot) refuse(snapshotExactFrom(join(dir, 'version-2', snapshot), {name: snapshot, zxid: 0n}))
    throw new OperationError(
      `the files for ${hexZxid(last)} do not load as ZooKeeper would load them (${errorMessage(error)}). Nothing was changed.`,
    )
  }

  if (checked.exactFrom !== undefined) refuse(BigInt(checked.exactFrom))
  if (checked.consistentAt.zxid !== hexZxid(last))
    throw new OperationError(
      `the files for ${hexZxid(last)} load at ${checked.consistentAt.zxid} instead. Nothing was changed.`,
    )
  const {digestsVerified, time} = checked.consistentAt
  return {digestsVerified, ...(time ? {time} : {})}
}
