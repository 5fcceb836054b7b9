import type {ZnodeRecord} from '../../archive/format.js'
import type {WritePath} from './bulk-access.js'

import {type Acl, zkConstants, ZkError, type ZkSession} from '../../zk/session.js'
import {MultiFailed, type WriteOp} from '../../zk/wire/protocol.js'
import {Pipeline} from '../pipeline.js'

/** Single requests in flight at once. */
const PIPELINE_DEPTH = 256
const MAX_OPS_PER_MULTI = 1000
/**
 * A multi is one transaction, and the leader keeps its last 500 (zookeeper.commitLogCount) in
 * memory for followers that fall behind: multis of a megabyte held half a gigabyte and stalled a
 * 2 GiB server in garbage collection on a 400k-znode restore. 64 KiB keeps that to 32 MiB.
 */
const WRITE_BUDGET = 64 * 1024
const MULTIS_IN_FLIGHT = 4
/** An op's header and lengths, the flags and a TTL. */
const OP_OVERHEAD = 48

export const FLAGS: Record<ZnodeRecord['type'], number> = {
  container: zkConstants.ZOO_CONTAINER,
  ephemeral: zkConstants.ZOO_EPHEMERAL,
  persistent: zkConstants.ZOO_PERSISTENT,
  ttl: zkConstants.ZOO_PERSISTENT_WITH_TTL,
}

/** How znodes are written: one request each, or multis. */
export interface ZnodeWriter {
  drain(): Promise<void>
  setAcl(path: string, acl: Acl[]): Promise<void>
  /** Waits for what is in flight, sending nothing more; never throws. */
  settle(): Promise<void>
  /** Writes the znode (with `acl`, when created) and calls `done` once it is applied. */
  write(znode: ZnodeToWrite, acl: Acl[], done: () => void): Promise<void>
}

export interface ZnodeToWrite {
  data: Buffer
  /** Updated in place (excluded paths live under it): its ACL is whatever it is live, so it is set too. */
  kept: boolean
  path: string
  record: ZnodeRecord
  relativePath: string
}

/** The writer of a bulk job's write path (BulkAccess.writePath). */
export function znodeWriter(session: ZkSession, path: WritePath): ZnodeWriter {
  return path === 'multi' ? multiWriter(session) : singleRequestWriter(session)
}

/** One create (with its ACL) or setData per znode, many in flight. */
function singleRequestWriter(session: ZkSession): ZnodeWriter {
  const pipeline = new Pipeline(PIPELINE_DEPTH)
  return {
    drain: () => pipeline.drain(),
    setAcl: (path, acl) => session.setAcl(path, acl),
    settle: () => pipeline.settle(),
    write: ({data, kept, path, record}, acl, done) =>
      pipeline.add(async () => {
        await (kept
          ? session.setData(path, data)
          : session.create(path, data, FLAGS[record.type], record.type === 'ttl' ? record.ttl : undefined, acl))
        done()
      }),
  }
}

/** Multi transactions, several in flight. */
function multiWriter(session: ZkSession): ZnodeWriter {
  const writer = new MultiWriter(session)
  return {
    drain: () => writer.drain(),
    setAcl: (path, acl) => session.setAcl(path, acl),
    settle: () => writer.abandon(),
    write: ({data, kept, path, record}, acl, done) =>
      writer.add(
        kept
          ? {data, kind: 'setData', path}
          : {
              acl,
              data,
              flags: FLAGS[record.type],
              kind: 'create',
              path,
              ...(record.type === 'ttl' ? {ttlMs: record.ttl} : {}),
            },
        done,
      ),
  }
}

interface Batch {
  done: Array<() => void>
  ops: WriteOp[]
}

/**
 * Writes ops in multi transactions of up to WRITE_BUDGET bytes, several in flight: ZooKeeper
 * applies a session's requests in order, so a parent created in one multi exists before the
 * children in the next. A multi is atomic: a failure names its op and nothing of it was applied.
 * After a lost connection the multis in flight are sent again in order; one that had landed unseen
 * fails at once with NodeExists on its first create, which means it is done. A multi that loses
 * the connection again is taken to be larger than the server accepts (its jute.maxbuffer is below
 * ours): it is sent as halves, and later multis are made no larger than what got through.
 */
export class MultiWriter {
  private batch: Batch = {done: [], ops: []}
  private batchBytes = 0
  private budget = WRITE_BUDGET
  private readonly inFlight: Array<{answer: Promise<void>; batch: Batch}> = []

  constructor(private readonly wire: Pick<ZkSession, 'multi' | 'timeoutMs'>) {}

  /** Drops what is queued and waits for the multis in flight, whatever they answer. */
  async abandon(): Promise<void> {
    this.batch = {done: [], ops: []}
    this.batchBytes = 0
    await Promise.allSettled(this.inFlight.splice(0).map(({answer}) => answer))
  }

  /** Queues `op`; `done` is called once it is applied. Waits while enough multis are in flight. */
  async add(op: WriteOp, done: () => void): Promise<void> {
    const bytes = opBytes(op)
    if (
      this.batch.ops.length > 0 &&
      (this.batchBytes + bytes > this.budget || this.batch.ops.length >= MAX_OPS_PER_MULTI)
    )
      await this.seal()
    this.batch.ops.push(op)
    this.batch.done.push(done)
    this.batchBytes += bytes
  }

  /** Sends what is queued and waits for every multi; throws the first failure. */
  async drain(): Promise<void> {
    if (this.batch.ops.length > 0) await this.seal()
    while (this.inFlight.length > 0) {
      await this.settleOldest()
    }
  }

  private async resendAfterLoss(batch: Batch): Promise<void> {
    const deadline = Date.now() + this.wire.timeoutMs
    for (;;) {
      try {
        await this.send(batch)
        return
      } catch (error) {
        if (landedBefore(error, batch)) {
          for (const done of batch.done) done()
          return
        }

        if (!isConnectionLoss(error) || Date.now() > deadline) throw error
        if (batch.ops.length > 1) {
          await this.resendHalves(batch)
          return
        }
      }
    }
  }

  private async resendHalves(batch: Batch): Promise<void> {
    const half = Math.ceil(batch.ops.length / 2)
    const halves = [0, half].map((start) => ({
      done: batch.done.slice(start, start + half),
      ops: batch.ops.slice(start, start + half),
    }))
    this.budget = Math.min(
      this.budget,
      Math.max(...halves.map(({ops}) => ops.reduce((sum, op) => sum + opBytes(op), 0))),
    )
    for (const part of halves) {
      await this.resendAfterLoss(part)
    }
  }

  private async seal(): Promise<void> {
    const {batch} = this
    this.batch = {done: [], ops: []}
    this.batchBytes = 0
    const answer = this.send(batch)
    answer.catch(() => {}) // awaited in settleOldest, possibly after it failed
    this.inFlight.push({answer, batch})
    if (this.inFlight.length >= MULTIS_IN_FLIGHT) await this.settleOldest()
  }

  private async send(batch: Batch): Promise<void> {
    await this.wire.multi(batch.ops)
    for (const done of batch.done) done()
  }

  private async settleOldest(): Promise<void> {
    try {
      await this.inFlight[0].answer
      this.inFlight.shift()
    } catch (error) {
      const pending = this.inFlight.splice(0)
      // Every later multi was on the same connection or after the failure: let them all settle first.
      const later = await Promise.allSettled(pending.slice(1).map(({answer}) => answer))
      if (!isConnectionLoss(error)) throw error
      const lost = [
        pending[0].batch,
        ...pending
          .slice(1)
          .filter((_, index) => later[index].status === 'rejected')
          .map(({batch}) => batch),
      ]
      for (const batch of lost) {
        await this.resendAfterLoss(batch)
      }
    }
  }
}

export function isConnectionLoss(error: unknown): boolean {
  return error instanceof ZkError && !(error instanceof MultiFailed) && error.code === zkConstants.ZCONNECTIONLOSS
}

/** A resent multi whose first op, a create, finds its znode: the first sending was applied. */
function landedBefore(error: unknown, batch: Batch): boolean {
  return (
    error instanceof MultiFailed &&
    error.index === 0 &&
    error.code === zkConstants.ZNODEEXISTS &&
    batch.ops[0].kind === 'create'
  )
}

/** What `op` adds to a multi. */
function opBytes(op: WriteOp): number {
  const headerAndPath = OP_OVERHEAD + Buffer.byteLength(op.path)
  if (op.kind === 'create')
    return (
      headerAndPath +
      (op.data?.length ?? 0) +
      op.acl.reduce((sum, entry) => sum + 12 + entry.scheme.length + Buffer.byteLength(entry.id), 0)
    )
  if (op.kind === 'setData') return headerAndPath + op.data.length
  return headerAndPath
}
