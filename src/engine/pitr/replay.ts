/**
 * The state at a point: the base's snapshot and logs, then the window's segments (each a valid
 * ZooKeeper log, replayed as log.<fromZxid>), up to the target txn, with every checksum and
 * TxnDigest checked as a data directory's replay checks them. The base is staged on disk
 * (staged-base.ts) and read as a stopped node's directory is: the snapshot once, each log and
 * segment in place, its entries before the point reached checked but neither decoded nor held.
 */
import {readFileSync} from 'node:fs'
import {mkdtemp, rm} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import type {PointFiles} from './offline.js'

import {OperationError} from '../../errors.js'
import {FileProvider} from '../../providers/file.js'
import {compareZxid} from '../../zk/zxid.js'
import {type DiskState, readLogAt, replayState, type StateSource} from '../../zkdisk/index.js'
import {collectGarbage, growthCollector} from '../collect-garbage.js'
import {stageBase, type StagedBase} from './staged-base.js'

interface SourceLog {
  /** The name the log is read as (log.<hex>): a segment's may equal a base log's, so the key differs. */
  logName: string
  path: string
  zxid: bigint
}

export async function replayPoint(point: PointFiles): Promise<DiskState> {
  const dir = await mkdtemp(join(tmpdir(), 'dcos-pitr-base-'))
  try {
    const base = await stageBase(point.base, dir)
    // The archive's chunks are garbage now: collected before the snapshot's bytes are read beside them.
    collectGarbage()
    return replayState(
      pointSource(
        base,
        point.segments.map((segment) => segmentPath(segment)),
      ),
      [],
      {pause: growthCollector(), untilZxid: point.untilZxid},
    )
  } finally {
    await rm(dir, {force: true, recursive: true})
  }
}

function segmentPath(segment: PointFiles['segments'][number]): string {
  if (segment instanceof FileProvider) return segment.path
  throw new OperationError(`${segment.display}: a segment is replayed from its verified local copy, not from storage`)
}

function pointSource(base: StagedBase, segmentPaths: string[]): StateSource {
  const logs = new Map<string, SourceLog>()
  for (const {name, zxid} of base.logs) logs.set(name, {logName: name, path: join(base.dir, name), zxid})
  for (const path of segmentPaths) {
    const zxid = BigInt(`0x${/([0-9a-f]{16})-[0-9a-f]{16}\.seg$/.exec(path)![1]}`)
    const logName = `log.${zxid.toString(16)}`
    logs.set(logs.has(logName) ? `${logName} (segment)` : logName, {logName, path, zxid})
  }

  // Map order keeps a base log ahead of a segment starting at the same zxid (the sort is stable).
  const ordered = [...logs].map(([name, log]) => ({name, zxid: log.zxid})).sort((a, b) => compareZxid(a.zxid, b.zxid))
  // A scheduled base's first segment starts before the base's last txn: what the base's logs held is skipped.
  let replayedTo = 0n
  return {
    logs: ordered,
    read: (name) => readFileSync(join(base.dir, name)),
    readLog(name, skipBefore) {
      const log = logs.get(name)!
      const skip = skipBefore !== undefined && skipBefore > replayedTo ? skipBefore : replayedTo + 1n
      const content = readLogAt(log.path, log.logName, skip)
      if (content === 'empty') return content
      const last = content.lastZxid ?? content.skipped?.lastZxid ?? 0n
      if (last > replayedTo) replayedTo = last
      return content
    },
    snapshots: base.snapshots,
  }
}
