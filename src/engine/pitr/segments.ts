/**
 * A window's segments fetched from the repository one at a time into a private directory, each
 * checked against its sidecar's SHA-256 and size as it streams (nothing unchecked is replayed),
 * and the exact point a target keeps in the last of them.
 */
import {readFile} from 'node:fs/promises'
import {join} from 'node:path'

import type {StorageProvider} from '../../providers/types.js'
import type {PointTarget} from './target.js'

import {hexZxid} from '../../zk/zxid.js'
import {readTxnLog} from '../../zkdisk/index.js'
import {type BaseRecord, segmentName, type SegmentRecord} from '../archive/repository.js'
import {verifiedSegment} from '../archive/verified-segment.js'
import {keepsTime, lastZxidKept} from './locate.js'

export interface FetchedSegment {
  path: string
  record: SegmentRecord
}

/** Copies each segment to `dir`, verifying it; a damaged one fails before anything is replayed. */
export async function fetchSegments(
  repo: StorageProvider,
  segments: SegmentRecord[],
  dir: string,
): Promise<FetchedSegment[]> {
  const fetched: FetchedSegment[] = []
  for (const record of segments) {
    const path = join(dir, `${segmentName(BigInt(record.fromZxid), BigInt(record.toZxid))}.seg`)
    await verifiedSegment(repo, record, {path})
    fetched.push({path, record})
  }

  return fetched
}

/** The txn a point ends at. */
export interface PointEnd {
  time?: string
  zxid: bigint
}

/**
 * The last txn the target keeps: the base's, each segment's end but the last one's, and in the
 * last one the last txn kept (by zxid, or before the first txn past the time). Txns at or below
 * the base's zxid (a scheduled base's first segment starts before it) belong to the base.
 */
export async function pointEnd(base: BaseRecord, segments: FetchedSegment[], target: PointTarget): Promise<PointEnd> {
  let end: PointEnd = {zxid: BigInt(base.zxid), ...(base.time ? {time: base.time} : {})}
  for (const [index, {path, record}] of segments.entries()) {
    if (index < segments.length - 1) {
      end = {time: record.toTime, zxid: BigInt(record.toZxid)}
      continue
    }

    const log = readTxnLog({bytes: await readFile(path), name: `log.${BigInt(record.fromZxid).toString(16)}`})
    for (const {header} of log.txns) {
      if (header.zxid <= BigInt(base.zxid)) continue
      const kept = target.kind === 'zxid' ? header.zxid <= lastZxidKept(target) : keepsTime(target, header.time)
      if (!kept) break
      end = {time: new Date(header.time).toISOString(), zxid: header.zxid}
    }
  }

  return end
}

export const describeEnd = (end: PointEnd): string => `zxid ${hexZxid(end.zxid)}${end.time ? ` (${end.time})` : ''}`
