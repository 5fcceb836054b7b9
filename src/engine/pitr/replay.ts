/**
 * The state at a point: the base's snapshot and logs, then the window's segments (each a valid
 * ZooKeeper log, replayed as log.<fromZxid>), up to the target txn, with every checksum and
 * TxnDigest checked as a data directory's replay checks them. The base's files are held as a data
 * directory's are (its logs without their preallocated zeros); the segments are read from their
 * verified local copies one at a time.
 */
import {readFileSync} from 'node:fs'

import type {PointFiles} from './offline.js'

import {OperationError} from '../../errors.js'
import {FileProvider} from '../../providers/file.js'
import {compareZxid} from '../../zk/zxid.js'
import {
  type DiskFile,
  type DiskState,
  parseLogName,
  parseSnapshotName,
  readTxnLog,
  replayState,
  type StateSource,
} from '../../zkdisk/index.js'
import {readDataDirStateFiles} from '../convert.js'

interface SourceLog {
  /** The local copy of a segment, or the base's log bytes. */
  bytes?: Buffer
  /** The name readTxnLog is given (log.<hex>): a segment's may equal a base log's, so the key differs. */
  logName: string
  path?: string
  zxid: bigint
}

export async function replayPoint(point: PointFiles): Promise<DiskState> {
  const files = await readDataDirStateFiles(await point.base.read(), point.base.display)
  const notes: string[] = []
  return replayState(
    pointSource(
      files,
      point.segments.map((segment) => segmentPath(segment)),
    ),
    notes,
    {untilZxid: point.untilZxid},
  )
}

function segmentPath(segment: PointFiles['segments'][number]): string {
  if (segment instanceof FileProvider) return segment.path
  throw new OperationError(`${segment.display}: a segment is replayed from its verified local copy, not from storage`)
}

function pointSource(base: DiskFile[], segmentPaths: string[]): StateSource {
  const logs = new Map<string, SourceLog>()
  const snapshots: Array<{name: string; zxid: bigint}> = []
  for (const file of base) {
    const snapshotZxid = parseSnapshotName(file.name)?.zxid
    const logZxid = parseLogName(file.name)
    if (snapshotZxid !== undefined) snapshots.push({name: file.name, zxid: snapshotZxid})
    else if (logZxid !== undefined) logs.set(file.name, {bytes: file.bytes, logName: file.name, zxid: logZxid})
  }

  for (const path of segmentPaths) {
    const zxid = BigInt(`0x${/([0-9a-f]{16})-[0-9a-f]{16}\.seg$/.exec(path)![1]}`)
    const logName = `log.${zxid.toString(16)}`
    logs.set(logs.has(logName) ? `${logName} (segment)` : logName, {logName, path, zxid})
  }

  const snapshotBytes = new Map(base.map((file) => [file.name, file.bytes]))
  // Map order keeps a base log ahead of a segment starting at the same zxid (the sort is stable).
  const ordered = [...logs].map(([name, log]) => ({name, zxid: log.zxid})).sort((a, b) => compareZxid(a.zxid, b.zxid))
  // A scheduled base's first segment starts before the base's last txn: what the base's logs held is skipped.
  let replayedTo = 0n
  return {
    logs: ordered,
    read: (name) => snapshotBytes.get(name)!,
    readLog(name, skipBefore) {
      const log = logs.get(name)!
      const bytes = log.bytes ?? readFileSync(log.path!)
      if (bytes.length === 0) return 'empty'
      const skip = skipBefore !== undefined && skipBefore > replayedTo ? skipBefore : replayedTo + 1n
      const content = readTxnLog({bytes, name: log.logName}, {skipBefore: skip})
      const last = content.txns.at(-1)?.header.zxid ?? content.skipped?.lastZxid ?? 0n
      if (last > replayedTo) replayedTo = last
      return content
    },
    snapshots: snapshots.sort((a, b) => compareZxid(b.zxid, a.zxid)),
  }
}
