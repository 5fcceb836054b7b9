/**
 * `zk archive` (the real CLI) on a running node under a steady write load: from its first step after
 * the base, for a window of the asked length, each acknowledged write's RPO (from its answer to the
 * moment the archiver logged the segment holding its zxid, the `.seg` written), the archiver's CPU
 * (/proc: user + system over the window's wall time) and its memory (VmHWM, VmRSS).
 */
import {type ChildProcess, spawn} from 'node:child_process'
import {once} from 'node:events'
import {createInterface} from 'node:readline'
import {setTimeout as sleep} from 'node:timers/promises'

import type {WireSession} from '../../src/zk/wire/session.js'
import type {HotNode} from './hot-copy.js'

import {spread} from './figures.js'
import {cpuSecondsOf, memoryOf} from './proc.js'
import {SteadyWriter} from './steady-writer.js'

export interface ArchiverRun {
  intervalMs: number
  node: HotNode
  perSecond: number
  repository: string
  root: string
  seconds: number
  wire: WireSession
}

export interface ArchiverFigures {
  /** Seconds from the archiver's start to its base's record (the hot copy of the whole tree); CPU seconds from its start to the end of its first step (the base included). */
  base: {cpuSeconds: number; seconds: number}
  /** Archiver CPU over the window as % of one core, and its resident memory. */
  cpuPercent: number
  failedWrites: number
  intervalSeconds: number
  memory: {peakRssMiB: number; rssMiB: number}
  reachedPerSecond: number
  /** Seconds from a write's answer to its segment in storage. */
  rpo: {max: number; p50: number; p99: number; writes: number}
  /** Median time one step took: the period between steps less the interval slept. */
  stepSeconds: number
  targetPerSecond: number
  windowSeconds: number
}

interface Segment {
  at: number
  fromZxid: bigint
  toZxid: bigint
}

interface Watched {
  baseAt?: number
  segments: Segment[]
  syncs: number[]
}

const round = (value: number, digits = 2) => Number(value.toFixed(digits))

function watch(child: ChildProcess, watched: Watched): void {
  createInterface({input: child.stderr!}).on('line', (line) => {
    if (!line.startsWith('{')) {
      console.error(`archiver: ${line}`)
      return
    }

    const event = JSON.parse(line) as {
      event: string
      fromZxid?: string
      message?: string
      time: string
      toZxid?: string
    }
    const at = Date.parse(event.time)
    switch (event.event) {
      case 'base': {
        watched.baseAt = at
        break
      }

      case 'sync': {
        watched.syncs.push(at)
        break
      }

      case 'segment': {
        watched.segments.push({at, fromZxid: BigInt(event.fromZxid!), toZxid: BigInt(event.toZxid!)})
        break
      }

      default: {
        console.error(`archiver: ${line}`)
      }
    }
  })
}

async function until(what: string, deadlineMs: number, done: () => boolean): Promise<void> {
  const deadline = Date.now() + deadlineMs
  while (!done()) {
    if (Date.now() > deadline) throw new Error(`the archiver did not ${what} within ${deadlineMs / 1000} s`)
    await sleep(100)
  }
}

/** The p-th percentile (nearest rank) of sorted numbers. */
const percentile = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]

/** When the segment holding `zxid` was logged (segments are contiguous and in zxid order). */
function shippedAt(segments: Segment[], zxid: bigint): number {
  const segment = segments.find(({fromZxid, toZxid}) => fromZxid <= zxid && zxid <= toZxid)
  if (!segment) throw new Error(`no segment holds zxid 0x${zxid.toString(16)}`)
  return segment.at
}

export async function measureArchiver(run: ArchiverRun): Promise<ArchiverFigures> {
  const writer = new SteadyWriter(run.wire, run.root, run.perSecond, Buffer.alloc(128, 'w'))
  await writer.start()
  const watched: Watched = {segments: [], syncs: []}
  const startedAt = Date.now()
  const child = spawn(
    process.execPath,
    [
      'bin/run.js',
      'zk',
      'archive',
      run.repository,
      '--data-dir',
      run.node.dataDir,
      '--zk-config',
      run.node.configFile,
      '--interval',
      `${run.intervalMs}ms`,
    ],
    {stdio: ['ignore', 'ignore', 'pipe']},
  )
  const exited = once(child, 'exit')
  watch(child, watched)
  try {
    await until('take its base and finish a first step', 10 * 60_000, () => watched.syncs.length > 0)
    const windowStart = Date.now()
    const cpuAtStart = cpuSecondsOf(child.pid!)
    await sleep(run.seconds * 1000)
    const windowEnd = Date.now()
    const cpu = cpuSecondsOf(child.pid!) - cpuAtStart
    const memory = memoryOf(child.pid!)
    // Every write answered by now has a zxid at most this: wait for a step (not the one SIGTERM forces) to ship it.
    const last = run.wire.lastZxidSeen
    await until('ship the window', run.intervalMs * 3 + 60_000, () =>
      watched.segments.some(({toZxid}) => toZxid >= last),
    )
    await writer.stop()
    const windowWrites = writer.acked.filter(({ackedAt}) => ackedAt >= windowStart && ackedAt <= windowEnd)
    const zxids = await writer.readZxids(windowWrites)
    const rpo = windowWrites
      .map(({ackedAt}, index) => (shippedAt(watched.segments, zxids[index]) - ackedAt) / 1000)
      .sort((a, b) => a - b)
    const periods = watched.syncs.slice(1).map((at, index) => (at - watched.syncs[index]) / 1000)
    const windowSeconds = (windowEnd - windowStart) / 1000
    return {
      base: {cpuSeconds: round(cpuAtStart), seconds: round((watched.baseAt! - startedAt) / 1000)},
      cpuPercent: round((cpu / windowSeconds) * 100),
      failedWrites: writer.failed,
      intervalSeconds: run.intervalMs / 1000,
      memory,
      reachedPerSecond: Math.round(writer.rateBetween(windowStart, windowEnd)),
      rpo: {
        max: round(rpo.at(-1)!),
        p50: round(percentile(rpo, 50)),
        p99: round(percentile(rpo, 99)),
        writes: rpo.length,
      },
      stepSeconds: periods.length > 0 ? round(spread(periods).median - run.intervalMs / 1000) : Number.NaN,
      targetPerSecond: run.perSecond,
      windowSeconds: round(windowSeconds),
    }
  } finally {
    await writer.stop()
    child.kill('SIGTERM')
    const [code] = await exited
    if (code !== 0) console.error(`archiver exited with status ${code}`)
  }
}
