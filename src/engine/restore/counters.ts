/**
 * Sequence counters: a parent's next sequential number is its create count (the stored cversion).
 * Only a create moves it (PrepRequestProcessor, 3.4 to 3.9: a delete leaves it), so a parent the
 * restore recreates counts only the children it got back; a later sequential create there could
 * take a restored name. The restore raises each counter to the archive's with create-and-delete
 * pairs in multis, after the children exist and before restrictive ACLs are set; counters only go up.
 */
import {randomUUID} from 'node:crypto'

import type {WriteOp} from '../../zk/wire/protocol.js'

import {nextSequenceOf, type ZnodeRecord} from '../../archive/format.js'
import {OperationError} from '../../errors.js'
import {OPEN_ACL, type ZkSession} from '../../zk/session.js'
import {parentZnodePath, resolveZnodePath} from '../../zk/uri.js'
import {Pipeline} from '../pipeline.js'
import {isConnectionLoss} from '../znodes/write-znodes.js'

/** Which parents get their counter back: those with sequential children in the archive, all, or none. */
export type CounterMode = 'all' | 'off' | 'sequential'
export const COUNTER_MODES: CounterMode[] = ['sequential', 'all', 'off']
/** About four minutes at the 4,200 pairs/s `npm run bench` measured on a loaded 2-CPU machine (3 nodes, 3.8); past it a restore asks for --max-sequence-pairs. */
export const DEFAULT_MAX_PAIRS = 1_000_000

const LISTED_PATHS = 10
const MAX_OPS_PER_MULTI = 1000
/** As MultiWriter's: a multi is one transaction that the leader keeps for followers. */
const WRITE_BUDGET = 64 * 1024
const OP_OVERHEAD = 48
const PARENTS_IN_FLIGHT = 8

/** Parents relative to the target, with the archive's next number: those the final check reads, and those the restore raises. */
export interface CounterTargets {
  check: Map<string, number>
  raise: Map<string, number>
}

export interface CounterPlan {
  /** Parents kept in place whose counter is already past the archive's: it can't be lowered. */
  ahead: number
  firstAhead: string[]
  /** Create-and-delete pairs the plan expects to send. */
  pairs: number
  /** Parents to raise. */
  parents: number
  targets: CounterTargets
}

interface Entry {
  createdChildren: number
  kept: boolean
  /** The live counter, when the parent is live. */
  live: number
  next: number
  sequentialChildren: boolean
}

/** Gathers, as the archive's znodes go by, what each parent's counter will be after the writes. */
export class CounterPlanner {
  private readonly entries = new Map<string, Entry>()

  constructor(
    private readonly mode: CounterMode,
    private readonly target: string,
    private readonly kept: Set<string>,
  ) {}

  add(relativePath: string, record: ZnodeRecord, liveNext: number | undefined): void {
    if (this.mode === 'off') return
    const kept = this.kept.has(relativePath)
    const parent = relativePath === '/' ? undefined : this.entries.get(parentZnodePath(relativePath))
    if (parent) {
      if (!kept) parent.createdChildren++
      if (record.sequential) parent.sequentialChildren = true
    }

    if (record.nextSequence)
      this.entries.set(relativePath, {
        createdChildren: 0,
        kept,
        live: liveNext ?? 0,
        next: record.nextSequence,
        sequentialChildren: false,
      })
  }

  /** `rewritten`: whether the restore deletes and recreates what is not kept (not when the tree already matches). */
  finish(rewritten: boolean): CounterPlan {
    const plan: CounterPlan = {
      ahead: 0,
      firstAhead: [],
      pairs: 0,
      parents: 0,
      targets: {check: new Map(), raise: new Map()},
    }
    for (const [relativePath, entry] of this.entries) {
      if (this.mode === 'sequential' && !entry.sequentialChildren) continue
      plan.targets.check.set(relativePath, entry.next)
      const inPlace = entry.kept || !rewritten
      const after = (inPlace ? entry.live : 0) + (rewritten ? entry.createdChildren : 0)
      if (after < entry.next) {
        plan.pairs += entry.next - after
        plan.parents++
        plan.targets.raise.set(relativePath, entry.next)
      } else if (inPlace && after > entry.next) {
        plan.ahead++
        if (plan.firstAhead.length < LISTED_PATHS) plan.firstAhead.push(resolveZnodePath(this.target, relativePath))
      }
    }

    return plan
  }
}

/**
 * Raises each counter of `targets` (relative to `target`) that is below the archive's, re-reading
 * it before every multi so that a multi resent after a lost connection never overshoots. Returns
 * the pairs sent.
 */
export async function raiseCounters(
  session: Pick<ZkSession, 'exists' | 'multi'>,
  target: string,
  targets: Map<string, number>,
  hit: (point: string) => void,
): Promise<number> {
  const probeName = `dcos-backup-sequence-${randomUUID().slice(0, 8)}`
  let pairs = 0
  const raise = async ([relativePath, next]: [string, number]) => {
    const path = resolveZnodePath(target, relativePath)
    const probe = `${path === '/' ? '' : path}/${probeName}`
    const perMulti = Math.max(
      1,
      Math.min(MAX_OPS_PER_MULTI / 2, Math.floor(WRITE_BUDGET / (2 * (OP_OVERHEAD + Buffer.byteLength(probe))))),
    )
    for (;;) {
      const stat = await session.exists(path)
      if (!stat) throw new OperationError(`Cannot restore the sequence counter of ${path}: it no longer exists`)
      const missing = next - nextSequenceOf(stat)
      if (missing <= 0) return
      hit('restore.counters')
      const count = Math.min(missing, perMulti)
      const ops: WriteOp[] = []
      for (let index = 0; index < count; index++)
        ops.push({acl: OPEN_ACL, kind: 'create', path: probe}, {kind: 'delete', path: probe})
      // A lost connection leaves it unknown whether the multi landed: the next round reads the counter again.

      const sent = await session.multi(ops).then(
        () => true,
        (error: unknown) => {
          if (isConnectionLoss(error)) return false
          throw error
        },
      )
      if (sent) pairs += count
    }
  }

  await new Pipeline(PARENTS_IN_FLIGHT).run(targets, raise)
  return pairs
}

/** The counters below the archive's after a restore, as one sentence, or undefined. */
export class CounterCheck {
  private first?: string
  private low = 0

  constructor(
    private readonly targets: Map<string, number>,
    private readonly target: string,
  ) {}

  get problem(): string | undefined {
    if (!this.first) return undefined
    return `the sequence counter of ${this.first}${this.low > 1 ? ` (and ${this.low - 1} more)` : ''}`
  }

  add(relativePath: string, record: ZnodeRecord): void {
    const next = this.targets.get(relativePath)
    if (next === undefined || (record.nextSequence ?? 0) >= next) return
    this.low++
    this.first ??= `${resolveZnodePath(this.target, relativePath)} is at ${record.nextSequence ?? 0}, not ${next}`
  }
}
