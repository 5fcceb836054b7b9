/**
 * One idempotent archiving step: what the repository holds decides where shipping resumes, so a
 * step killed at any point and run again leaves no gap and no duplicate. Every whole txn the
 * node's logs hold after the last shipped one goes out as one segment per log (cut at log rolls);
 * a repository with no base, or logs that no longer follow the last shipped txn (purged, another
 * node, a reset), get a new base (the hot data-dir copy) first.
 */
import {createHash, randomBytes} from 'node:crypto'
import {resolve} from 'node:path'

import type {StorageProvider} from '../../providers/types.js'

import {followsZxid, hexZxid} from '../../zk/zxid.js'
import {backupDataDir} from '../datadir/index.js'
import {removeLeftovers} from './leftovers.js'
import {listLogs, LOG_HEADER_LENGTH, type LogEntry, type LogMark, type NodeLog, readNodeLog} from './node-logs.js'
import {
  type BaseRecord,
  BASES,
  prepare,
  putJson,
  putObject,
  readRepository,
  REPOSITORY_FORMAT,
  segmentName,
  type SegmentRecord,
  SEGMENTS,
  zxidName,
} from './repository.js'
import {keepNewest} from './retention.js'
import {basesInOrder, windowsOf} from './timeline.js'

export type ArchiveEvent = Record<string, unknown> & {event: string}

/** When a new base is due: this long after the last one was taken, or this many txns shipped since. */
export interface BaseEvery {
  ms?: number
  txns?: number
}

export interface SyncOptions {
  baseEvery?: BaseEvery
  dataDir: string
  /** Keep this many bases (the newest) and the segments their windows use; delete the rest. */
  keep?: number
  /** Held (taken or renewed) at the start of each step and before each base is committed. */
  lease?: {hold(): Promise<void>}
  /** One JSON-able event per thing done: base, segment, gap, sync. */
  log?: (event: ArchiveEvent) => void
  /** Default: the data dir. */
  logDir?: string
  /** The running archiver's marks: where each log's last read stopped, so the next step reads on from there. */
  logMarks?: Map<string, LogMark>
  now?: () => Date
  repository: StorageProvider
  /** Passed to the hot copy: how it tells the node is running (and its version). */
  zkConfig?: string
}

export interface SyncResult {
  /** Set when the logs no longer followed the last shipped txn: a new base was taken after it. */
  gap?: {afterZxid: string; reason: string}
  /** The node's newest whole txn when the step read its logs, and how far behind the repository was. */
  lagSeconds: number
  lagTxns: number
  /** Bytes read from the node's logs in this step (with marks, only what follows the last read). */
  logBytesRead: number
  newBase?: string
  segments: SegmentRecord[]
  shippedTo: string
}

/** The last txn shipped, and what identifies it: the node's log must hold the same txn to continue. */
interface Position {
  /** The entry's Adler-32 checksum (hex) and its log's dbid, when a segment shipped it. */
  checksum?: string
  dbid?: string
  time?: bigint
  zxid: bigint
}

export async function syncOnce(options: SyncOptions): Promise<SyncResult> {
  const log = options.log ?? (() => {})
  const logDir = resolve(options.logDir ?? options.dataDir)
  await options.lease?.hold()
  const content = await readRepository(options.repository)
  const leftovers = await removeLeftovers(options.repository, content.bases, (options.now ?? (() => new Date()))())
  if (leftovers.length > 0) log({event: 'leftovers-removed', names: leftovers})
  const current = windowsOf(content).at(-1)
  const currentBase = basesInOrder(content.bases).at(-1)
  let newBase: string | undefined
  let gap: SyncResult['gap']
  let from: Position
  if (current && currentBase?.continues && current.segments === 0)
    from = shippedAt(BigInt(currentBase.continues), content.segments)
  else if (current) from = shippedAt(BigInt(current.toZxid), content.segments, current.toTime)
  else {
    const base = await takeBase(options, 'first')
    newBase = base.zxid
    from = positionOf(base)
  }

  let shipped = await shipAfter(from, logDir, options)
  if (shipped.gap) {
    gap = {afterZxid: hexZxid(shipped.to.zxid), reason: shipped.gap}
    log({event: 'gap', ...gap})
    const base = await takeBase(options, 'gap', {gapAfter: gap.afterZxid})
    newBase = base.zxid
    from = positionOf(base)
    const beforeGap = shipped.segments
    shipped = await shipAfter(from, logDir, options)
    shipped.segments.unshift(...beforeGap)
  }

  let shippedTxns = 0
  for (const segment of shipped.segments) shippedTxns += segment.count
  if (!newBase && current && currentBase && baseDue(options, currentBase, current.txns + shippedTxns))
    newBase = (await takeBase(options, 'scheduled', {continues: hexZxid(shipped.to.zxid)})).zxid
  for (const segment of shipped.segments)
    log({event: 'segment', fromZxid: segment.fromZxid, toZxid: segment.toZxid, txns: segment.count})
  const result: SyncResult = {
    ...(gap ? {gap} : {}),
    lagSeconds: shipped.lagSeconds,
    lagTxns: shipped.lagTxns,
    logBytesRead: shipped.readBytes,
    ...(newBase ? {newBase} : {}),
    segments: shipped.segments,
    shippedTo: hexZxid(shipped.to.zxid),
  }
  log({event: 'sync', ...result, gap: gap !== undefined, segments: shipped.segments.length})
  if (options.keep) await keepNewest(options.repository, options.keep, log)
  return result
}

/** The position at `zxid`, from the segment that ends there (of the window ending at `toTime`, if given). */
function shippedAt(zxid: bigint, segments: SegmentRecord[], toTime?: string): Position {
  const last = segments.find(
    (segment) => BigInt(segment.toZxid) === zxid && (toTime === undefined || segment.toTime === toTime),
  )
  if (!last) return {zxid, ...(toTime ? {time: BigInt(Date.parse(toTime))} : {})}
  return {
    ...(last.toChecksum ? {checksum: last.toChecksum} : {}),
    dbid: last.dbid,
    time: BigInt(Date.parse(last.toTime)),
    zxid,
  }
}

function positionOf(base: BaseRecord): Position {
  return {zxid: BigInt(base.zxid), ...(base.time ? {time: BigInt(Date.parse(base.time))} : {})}
}

function baseDue({baseEvery, now}: SyncOptions, base: BaseRecord, txnsSince: number): boolean {
  if (!baseEvery) return false
  const elapsed = (now ?? (() => new Date()))().getTime() - Date.parse(base.takenAt)
  return (
    (baseEvery.ms !== undefined && elapsed >= baseEvery.ms) ||
    (baseEvery.txns !== undefined && txnsSince >= baseEvery.txns)
  )
}

async function takeBase(
  options: SyncOptions,
  reason: BaseRecord['reason'],
  link: Pick<BaseRecord, 'continues' | 'gapAfter'> = {},
): Promise<BaseRecord> {
  const now = options.now ?? (() => new Date())
  const takenAt = now().toISOString()
  const archive = `base-${takenAt.replaceAll(/[-:.]/g, '')}-${randomBytes(3).toString('hex')}.tar.gz`
  const destination = options.repository.child(`${BASES}/${archive}`)
  await prepare(destination)
  const result = await backupDataDir({
    dataDir: options.dataDir,
    destination,
    ...(options.logDir ? {logDir: options.logDir} : {}),
    ...(options.zkConfig ? {zkConfig: options.zkConfig} : {}),
  })
  const base: BaseRecord = {
    archive,
    archiveBytes: result.archiveBytes,
    format: REPOSITORY_FORMAT,
    ...link,
    reason,
    takenAt,
    ...(result.consistentAt.time ? {time: result.consistentAt.time} : {}),
    ...(result.zookeeperVersion ? {zookeeperVersion: result.zookeeperVersion} : {}),
    zxid: result.consistentAt.zxid,
  }
  // A base can outlast the lease: check it is still ours before committing it.
  await options.lease?.hold()
  // The manifest is the commit point: a base killed before it is an orphan archive, never a base.
  await putJson(options.repository.child(`${BASES}/${zxidName(BigInt(base.zxid))}.json`), base)
  options.log?.({archive, event: 'base', reason, zxid: base.zxid})
  return base
}

interface Shipped {
  gap?: string
  lagSeconds: number
  lagTxns: number
  readBytes: number
  segments: SegmentRecord[]
  to: Position
}

/** Ships every whole txn after `from`, log by log; a gap when the logs do not continue from it. */
async function shipAfter(from: Position, logDir: string, options: SyncOptions): Promise<Shipped> {
  const logs = await listLogs(logDir)
  // The log holding `from` is the newest starting at or before it; none if all start after.
  const first = Math.max(
    0,
    logs.findLastIndex((file) => file.firstZxid <= from.zxid),
  )
  const segments: SegmentRecord[] = []
  let to = from
  let lagTxns = 0
  let readBytes = 0
  const {logMarks} = options
  // Bounded: marks only for the logs there now.
  for (const path of logMarks?.keys() ?? []) if (!logs.some((file) => file.path === path)) logMarks!.delete(path)
  let oldestPending: bigint | undefined
  for (const [index, file] of logs.slice(first).entries()) {
    const nodeLog = await readNodeLog(file.path, file.firstZxid, {after: to.zxid, marks: logMarks})
    // Purged since it was listed: the next step judges whether the logs still follow.
    if (!nodeLog) break
    readBytes += nodeLog.readBytes
    const continues = sameDatabase(nodeLog, from) ?? (index === 0 ? continuesFrom(nodeLog, from) : true)
    if (continues !== true) return {gap: continues, lagSeconds: 0, lagTxns: 0, readBytes, segments, to}
    const pending = nodeLog.entries.filter((entry) => entry.zxid > to.zxid)
    if (pending.length === 0) continue
    if (index > 0 && !followsZxid(pending[0].zxid, to.zxid))
      return {
        gap: `${nodeLog.name} does not follow ${hexZxid(to.zxid)}`,
        lagSeconds: 0,
        lagTxns: 0,
        readBytes,
        segments,
        to,
      }
    lagTxns += pending.length
    oldestPending ??= pending[0].time
    const segment = await putSegment(nodeLog, pending, to.zxid, options.repository)
    segments.push(segment)
    to = {time: pending.at(-1)!.time, zxid: pending.at(-1)!.zxid}
  }

  const lagSeconds = oldestPending === undefined ? 0 : Math.max(0, Date.now() - Number(oldestPending)) / 1000
  return {lagSeconds, lagTxns, readBytes, segments, to}
}

/** Why the log is of another database than the chain's (its header's dbid), or undefined. */
function sameDatabase(nodeLog: NodeLog, from: Position): string | undefined {
  if (from.dbid === undefined || nodeLog.entries.length === 0 || dbidOf(nodeLog) === from.dbid) return undefined
  return `${nodeLog.name} has dbid ${dbidOf(nodeLog)}, the shipped chain ${from.dbid}: another node's or a reset node's logs`
}

/** true, or why the log holding (or starting after) `from` does not continue from it. */
function continuesFrom(nodeLog: NodeLog, from: Position): string | true {
  const {zxid} = from
  const held = nodeLog.entries.find((entry) => entry.zxid === zxid)
  if (held) return sameTxn(nodeLog, held, from)
  const firstEntry = nodeLog.entries[0]
  if (nodeLog.firstZxid > zxid) {
    // The log starts right after: the one holding `zxid` was rolled and purged, nothing was lost.
    if (followsZxid(nodeLog.firstZxid, zxid) && (!firstEntry || firstEntry.zxid === nodeLog.firstZxid)) return true
    return `the node's oldest log ${nodeLog.name} starts after ${hexZxid(zxid)}: the logs in between were purged before they were shipped`
  }

  if (!firstEntry) return true
  return `${nodeLog.name} does not hold ${hexZxid(zxid)}, the last txn shipped: another node, a reset, or a lost tail`
}

/**
 * true when the node's entry at the last shipped zxid is the txn that was shipped (same time, same
 * checksum): another node, or a node reset and written again, reuses the zxids with other txns.
 */
function sameTxn(nodeLog: NodeLog, entry: LogEntry, from: Position): string | true {
  const checksum = checksumOf(nodeLog, entry)
  const sameTime = from.time === undefined || entry.time === from.time
  if (sameTime && (from.checksum === undefined || checksum === from.checksum)) return true
  const shipped = from.time === undefined ? '' : ` at ${new Date(Number(from.time)).toISOString()}`
  return `${nodeLog.name} holds another txn ${hexZxid(from.zxid)} (at ${new Date(Number(entry.time)).toISOString()}) than the one archived${shipped}: another node, or a reset node written again`
}

const dbidOf = (nodeLog: NodeLog): string => hexZxid(nodeLog.bytes.readBigUInt64BE(8))
const checksumOf = (nodeLog: NodeLog, entry: LogEntry): string =>
  nodeLog.bytes.readBigUInt64BE(entry.start).toString(16).padStart(16, '0')

async function putSegment(
  nodeLog: NodeLog,
  entries: LogEntry[],
  after: bigint,
  repository: StorageProvider,
): Promise<SegmentRecord> {
  const body = Buffer.concat([
    nodeLog.bytes.subarray(0, LOG_HEADER_LENGTH),
    nodeLog.bytes.subarray(entries[0].start, entries.at(-1)!.end),
  ])
  const [first, last] = [entries[0], entries.at(-1)!]
  const name = segmentName(first.zxid, last.zxid)
  const record: SegmentRecord = {
    after: hexZxid(after),
    bytes: body.length,
    count: entries.length,
    dbid: dbidOf(nodeLog),
    format: REPOSITORY_FORMAT,
    fromTime: new Date(Number(first.time)).toISOString(),
    fromZxid: hexZxid(first.zxid),
    sha256: createHash('sha256').update(body).digest('hex'),
    sourceLog: nodeLog.name,
    toChecksum: checksumOf(nodeLog, last),
    toTime: new Date(Number(last.time)).toISOString(),
    toZxid: hexZxid(last.zxid),
  }
  // The sidecar first, the segment last: a segment exists only with its sidecar.
  await putJson(repository.child(`${SEGMENTS}/${name}.json`), record)
  await putObject(repository.child(`${SEGMENTS}/${name}.seg`), body)
  return record
}
