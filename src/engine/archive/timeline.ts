/**
 * The restorable windows of a repository: each base, extended by the chain of segments that
 * continue it (a segment continues a window when its `after` is the window's last zxid), and the
 * gaps between one window's end and the next base.
 */
import type {StorageProvider} from '../../providers/types.js'

import {UsageError} from '../../errors.js'
import {compareZxid} from '../../zk/zxid.js'
import {
  type BaseRecord,
  BASES,
  readRepository,
  type RepositoryContent,
  type SegmentRecord,
  zxidName,
} from './repository.js'

export interface Window {
  /** The base's manifest name under bases/. */
  base: string
  fromTime?: string
  fromZxid: string
  segments: number
  toTime?: string
  toZxid: string
  /** Shipped in its segments. */
  txns: number
}

export interface Gap {
  afterTime?: string
  afterZxid: string
  beforeTime?: string
  beforeZxid: string
}

export interface Timeline {
  gaps: Gap[]
  repository: string
  windows: Window[]
}

/** Bases in the order they were taken (not by zxid: a node reset starts its zxids again). */
export function windowsOf(
  {bases, segments}: RepositoryContent,
  onUsed: (segment: SegmentRecord) => void = () => {},
): Window[] {
  const inOrder = [...segments].sort((a, b) => compareZxid(a.fromZxid, b.fromZxid))
  return basesInOrder(bases).map((base) => {
    const window: Window = {
      base: `${BASES}/${zxidName(BigInt(base.zxid))}.json`,
      fromZxid: base.zxid,
      segments: 0,
      toZxid: base.zxid,
      txns: 0,
      ...(base.time ? {fromTime: base.time, toTime: base.time} : {}),
    }
    // A segment extends a window when it holds the txn right after the window's end: it continues
    // from it, or (for a base taken by --base-every while writes went on) from before it.
    for (const segment of inOrder) {
      if (BigInt(segment.after) > BigInt(window.toZxid) || BigInt(segment.toZxid) <= BigInt(window.toZxid)) continue
      window.toZxid = segment.toZxid
      window.toTime = segment.toTime
      window.segments++
      window.txns += segment.count
      onUsed(segment)
    }

    return window
  })
}

/** One base's window and the segments that extend it, in zxid order (what a replay of that window reads). */
export function windowOfBase(base: BaseRecord, segments: SegmentRecord[]): {chain: SegmentRecord[]; window: Window} {
  const chain: SegmentRecord[] = []
  const [window] = windowsOf({bases: [base], segments}, (segment) => chain.push(segment))
  return {chain, window}
}

export function basesInOrder(bases: BaseRecord[]): BaseRecord[] {
  return [...bases].sort((a, b) => (a.takenAt < b.takenAt ? -1 : a.takenAt > b.takenAt ? 1 : 0))
}

export function gapsOf(windows: Window[]): Gap[] {
  const gaps: Gap[] = []
  for (const [index, window] of windows.entries()) {
    const next = windows[index + 1]
    // A new base at or before the end of the previous window (--base-every) leaves no gap.
    if (!next || BigInt(next.fromZxid) <= BigInt(window.toZxid)) continue
    gaps.push({
      afterZxid: window.toZxid,
      beforeZxid: next.fromZxid,
      ...(window.toTime ? {afterTime: window.toTime} : {}),
      ...(next.fromTime ? {beforeTime: next.fromTime} : {}),
    })
  }

  return gaps
}

export async function readTimeline(repo: StorageProvider): Promise<Timeline> {
  const content = await readRepository(repo)
  if (content.bases.length === 0)
    throw new UsageError(
      `${repo.display} holds no archive base (no bases/*.json): check the repository location, or run dcos zk archive first`,
    )
  const windows = windowsOf(content)
  return {gaps: gapsOf(windows), repository: repo.display, windows}
}
