/**
 * Where a target falls in a repository: the window (a base and the chain of segments after it) that
 * covers it, the newest base at or before it, and the segments to replay. A target no window
 * covers (before the oldest base's consistent point, after the last shipped txn, in a gap) is
 * refused here, before anything is read or touched, with the windows that can be restored.
 */
import type {BaseRecord, RepositoryContent, SegmentRecord} from '../archive/repository.js'
import type {PointTarget} from './target.js'

import {UsageError} from '../../errors.js'
import {hexZxid} from '../../zk/zxid.js'
import {basesInOrder, type Window, windowOfBase} from '../archive/timeline.js'

export interface LocatedWindow {
  base: BaseRecord
  /** The window's segments in zxid order: every one a replay to a point in it may need. */
  chain: SegmentRecord[]
  window: Window
}

/**
 * The window covering the target, and the segments up to the one holding it. For a zxid target
 * `untilZxid` is the target (exclusive: the zxid below it); for a time target, the last segment's
 * txns decide it (see lastKept), so `untilZxid` is the window's end until then.
 */
export interface Located extends LocatedWindow {
  /** The chain's segments to read, up to the one holding the target txn (none: the base holds it). */
  segments: SegmentRecord[]
  untilZxid: bigint
}

export function locate(content: RepositoryContent, target: PointTarget): Located {
  const windows = windowsWithChains(content)
  // The newest base at or before the target: windows go oldest first, the last covering one wins.
  const covering = windows.filter((candidate) => covers(candidate, target))
  const found = covering.at(-1)
  if (!found) throw new UsageError(refusal(windows, target, content.segments))
  return {...found, ...segmentsTo(found, target)}
}

/** Whether a time target keeps a txn of this time. */
export function keepsTime(target: Extract<PointTarget, {kind: 'time'}>, txnTime: number): boolean {
  return target.inclusive ? txnTime <= target.time : txnTime < target.time
}

/** The last zxid a zxid target keeps. */
export function lastZxidKept(target: Extract<PointTarget, {kind: 'zxid'}>): bigint {
  return target.inclusive ? target.zxid : target.zxid - 1n
}

function windowsWithChains(content: RepositoryContent): LocatedWindow[] {
  return basesInOrder(content.bases).map((base) => ({base, ...windowOfBase(base, content.segments)}))
}

function covers({window}: LocatedWindow, target: PointTarget): boolean {
  if (target.kind === 'zxid') {
    const until = lastZxidKept(target)
    return BigInt(window.fromZxid) <= until && until <= BigInt(window.toZxid)
  }

  if (!window.fromTime || !window.toTime) return false
  return keepsTime(target, Date.parse(window.fromTime)) && target.time <= Date.parse(window.toTime)
}

function segmentsTo(
  {base, chain, window}: LocatedWindow,
  target: PointTarget,
): {segments: SegmentRecord[]; untilZxid: bigint} {
  if (target.kind === 'zxid') {
    const untilZxid = lastZxidKept(target)
    if (untilZxid <= BigInt(base.zxid)) return {segments: [], untilZxid}
    const last = chain.findIndex((segment) => BigInt(segment.toZxid) >= untilZxid)
    return {segments: chain.slice(0, last + 1), untilZxid}
  }

  // The first segment holding a txn the time does not keep: the target txn is in it or just before it.
  const last = chain.findIndex((segment) => !keepsTime(target, Date.parse(segment.toTime)))
  return {segments: last === -1 ? chain : chain.slice(0, last + 1), untilZxid: BigInt(window.toZxid)}
}

function refusal(windows: LocatedWindow[], target: PointTarget, segments: SegmentRecord[]): string {
  const shown = windows.map(({window}) => window)
  const restorable = shown.length === 0 ? 'none' : shown.map((window) => describeWindow(window)).join(', ')
  return `${target.label}${target.inclusive ? '' : ' (exclusive)'} is ${where(shown, target, segments)}: nothing was touched; restorable windows: ${restorable}`
}

/** Past every window and every segment is after the end; past a window but before a later segment (one no window reaches: a segment lost) is a gap. */
function where(windows: Window[], target: PointTarget, segments: SegmentRecord[]): string {
  if (target.kind === 'zxid') {
    const until = lastZxidKept(target)
    if (windows.every((window) => until < BigInt(window.fromZxid))) return "before the oldest base's consistent point"
    const ends = [...windows.map((window) => window.toZxid), ...segments.map((segment) => segment.toZxid)]
    if (ends.every((end) => until > BigInt(end))) return 'after the last shipped transaction'
    return 'inside a gap of the archive'
  }

  const timed = windows.filter((window) => window.fromTime && window.toTime)
  if (timed.length === 0) return 'a time, but no window of this repository records its times (use --to-zxid)'
  if (timed.every((window) => !keepsTime(target, Date.parse(window.fromTime!))))
    return "before the oldest base's consistent point"
  const ends = [...timed.map((window) => window.toTime!), ...segments.map((segment) => segment.toTime)]
  if (ends.every((end) => target.time > Date.parse(end))) return 'after the last shipped transaction'
  return 'inside a gap of the archive'
}

export function describeWindow(window: Window): string {
  const at = (zxid: string, time: string | undefined) => `${hexZxid(BigInt(zxid))}${time ? ` (${time})` : ''}`
  return `${at(window.fromZxid, window.fromTime)}..${at(window.toZxid, window.toTime)}`
}
