/**
 * The offline point-in-time restore: a data directory that ZooKeeper itself loads at exactly a
 * chosen zxid, made of the base archive's snapshot (the newest, which the base's own backup
 * replayed) and ONE new log holding the raw entries after it up to that zxid (point-log.ts).
 *
 * The files are put together in a temp directory, then go through the two engines that already
 * hold the rules: backupDataDir archives them (replaying the very bytes as ZooKeeper loads them,
 * every digest checked, gaps and torn entries refused: the only replay) and restoreDataDir installs that archive
 * (a running node refused, myid kept, safety copies, --force). Nothing in the data dir is touched
 * before the replay passed. No epoch file is written: ZooKeeper creates currentEpoch and
 * acceptedEpoch from the last zxid when they are missing, so they are never older than it.
 */
import {readFileSync} from 'node:fs'
import {mkdir, mkdtemp, readdir, rename, rm} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import type {StorageProvider} from '../../providers/types.js'

import {errorMessage, OperationError} from '../../errors.js'
import {resolveLocation} from '../../providers/index.js'
import {hexZxid} from '../../zk/zxid.js'
import {DiskFormatError} from '../../zkdisk/errors.js'
import {parseSnapshotName} from '../../zkdisk/files.js'
import {readSnapshot} from '../../zkdisk/snapshot.js'
import {backupDataDir} from '../datadir/backup.js'
import {type DataDirRestoreOptions, type DataDirRestoreResult, restoreDataDir} from '../datadir/restore.js'
import {checkNotRunning} from '../datadir/running.js'
import {exactFrom} from '../datadir/verify-copy.js'
import {logSources, writePointLog} from './point-log.js'
import {type NamedZxid, stageBase} from './staged-base.js'

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
