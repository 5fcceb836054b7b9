import type {ReadOp, ReadResult} from '../../zk/wire/protocol.js'

import {type Acl, type Stat, zkConstants, ZkError, type ZkSession} from '../../zk/session.js'

/** Data, stat, ACL and children of one znode. */
export interface ReadZnode {
  acl: Acl[]
  children: string[]
  data: Buffer
  stat: Stat
}

/** Reads one znode, or undefined when it does not exist (any more). */
export type ZnodeReader = (path: string) => Promise<ReadZnode | undefined>

/** One request per read, many in flight: the path for servers without multi-read. */
export function singleRequestReader(session: ZkSession): ZnodeReader {
  return (path) =>
    vanishedAsUndefined(async () => {
      const [{data, stat}, {acl}] = await Promise.all([session.getData(path), session.getAcl(path)])
      const children = stat.numChildren > 0 ? await session.getChildren(path) : []
      return {acl, children, data, stat}
    })
}

function sameAclVersion(a: Stat, b: Stat): boolean {
  return a.czxid === b.czxid && a.aversion === b.aversion
}

export async function vanishedAsUndefined<T>(read: () => Promise<T>): Promise<T | undefined> {
  try {
    return await read()
  } catch (error) {
    if (error instanceof ZkError && error.code === zkConstants.ZNONODE) return undefined
    throw error
  }
}

/** The default jute.maxbuffer (0xfffff) less room for headers: no answer of a batch is built larger. */
export const RESPONSE_BUDGET = 0xf_ff_ff - 0x1_00_00
const MAX_OPS_PER_BATCH = 1000
const MAX_BATCHES_IN_FLIGHT = 4
/** A result's framing and stat. */
const OP_OVERHEAD = 96
/** Child names are not known before they are listed; generous for scheduler-style names. */
const CHILD_NAME_ESTIMATE = 100
/** A znode whose ACL keeps changing between its ACL and its data is taken as last read. */
const READ_ATTEMPTS = 3

interface Queued {
  bytes: number
  ops: ReadOp[]
  reject: (error: Error) => void
  resolve: (results: Array<ReadResult | ZkError>) => void
}

/**
 * Reads znodes with multi-read batches over the session. Each read first gets the ACL (a single
 * request: multi-read has no getACL) whose stat tells the size of the data and the number of
 * children, so batches are filled up to RESPONSE_BUDGET exactly. A batch that fails as a whole is
 * retried as two halves, down to single requests, so one bad znode never hides the rest.
 *
 * The ACL reads, one per znode, are what bounds a batched walk: they are spread over `aclSessions`
 * (one per node) as well as the batching session. An ACL is kept only when its stat names the same
 * znode (czxid) at the same ACL version (aversion) as the data read in the batch; otherwise, a
 * follower behind the leader or an ACL changed in between, the znode is read again, its ACL through
 * the batching session, so data and ACL belong together.
 */
export class MultiReadBatcher {
  /** Batches sent, the largest answer budgeted for a batch of several znodes (one alone may be larger), splits, znodes read again: for tests. */
  readonly counts = {aclRereads: 0, batches: 0, largestSharedBatchBytes: 0, splits: 0}
  readonly read: ZnodeReader = (path) => vanishedAsUndefined(() => this.readConsistent(path))
  private readonly aclSessions: ZkSession[]
  private flushScheduled = false
  private inFlight = 0
  private nextAclSession = 0
  private queue: Queued[] = []
  private queuedBytes = 0
  private queuedOps = 0
  private readonly ready: Queued[][] = []

  constructor(
    private readonly session: ZkSession,
    private readonly budget = RESPONSE_BUDGET,
    aclSessions: ZkSession[] = [],
  ) {
    this.aclSessions = [session, ...aclSessions]
  }

  private enqueue(ops: ReadOp[], bytes: number): Promise<Array<ReadResult | ZkError>> {
    return new Promise((resolve, reject) => {
      if (this.queue.length > 0 && this.queuedBytes + bytes > this.budget) this.seal()
      this.queue.push({bytes, ops, reject, resolve})
      this.queuedBytes += bytes
      this.queuedOps += ops.length
      if (this.queuedOps >= MAX_OPS_PER_BATCH) this.seal()
      else if (!this.flushScheduled) {
        this.flushScheduled = true
        setImmediate(() => {
          this.flushScheduled = false
          if (this.queue.length > 0) this.seal()
        })
      }
    })
  }

  private listChildren(path: string): Promise<string[]> {
    return this.session.getChildren(path)
  }

  private pump(): void {
    while (this.inFlight < MAX_BATCHES_IN_FLIGHT && this.ready.length > 0) {
      const batch = this.ready.shift()!
      this.inFlight++
      void this.send(batch).finally(() => {
        this.inFlight--
        this.pump()
      })
    }
  }

  /** Through `session`; one that fails (its node behind, or gone) leaves the read to the batching session. */
  private async readAcl(path: string, session: ZkSession): Promise<{acl: Acl[]; stat: Stat}> {
    if (session === this.session) return this.session.getAcl(path)
    try {
      return await session.getAcl(path)
    } catch {
      return this.session.getAcl(path)
    }
  }

  /** Data and children in the next batch, sized from the stat that came with the ACL. */
  private async readBatched(path: string, stat: Stat): Promise<{children: string[]; data: {data: Buffer; stat: Stat}}> {
    const listChildren = stat.numChildren > 0
    const ops: ReadOp[] = [{kind: 'getData', path}, ...(listChildren ? [{kind: 'getChildren' as const, path}] : [])]
    const results = await this.enqueue(ops, OP_OVERHEAD * 2 + stat.dataLength + stat.numChildren * CHILD_NAME_ESTIMATE)
    const [data, children] = results.map((result) => {
      if (result instanceof ZkError) throw result
      return result
    })
    if (data.kind !== 'getData') throw new Error(`multi-read answered ${data.kind} for getData of ${path}`)
    // Children created since the ACL was read: list them too.
    const names =
      children?.kind === 'getChildren'
        ? children.children
        : data.stat.numChildren > 0
          ? await this.listChildren(path)
          : []
    return {children: names, data}
  }

  private async readConsistent(path: string): Promise<ReadZnode> {
    let aclSession = this.aclSessions[this.nextAclSession++ % this.aclSessions.length]
    for (let attempt = 1; ; attempt++) {
      const {acl, stat} = await this.readAcl(path, aclSession)

      const {children, data} = await this.readBatched(path, stat)
      if (sameAclVersion(stat, data.stat) || attempt === READ_ATTEMPTS)
        return {acl, children, data: data.data, stat: data.stat}
      this.counts.aclRereads++
      aclSession = this.session
    }
  }

  private async readOneBySingleRequests(item: Queued): Promise<void> {
    const one = (op: ReadOp): Promise<ReadResult | ZkError> =>
      (async (): Promise<ReadResult> => {
        if (op.kind === 'getData') return {kind: 'getData', ...(await this.session.getData(op.path))}
        return {children: await this.session.getChildren(op.path), kind: 'getChildren'}
      })().catch((error: unknown) => {
        if (error instanceof ZkError && error.code !== zkConstants.ZSESSIONEXPIRED) return error
        throw error
      })
    try {
      item.resolve(await Promise.all(item.ops.map((op) => one(op))))
    } catch (error) {
      item.reject(error as Error)
    }
  }

  private async retrySmaller(batch: Queued[], error: Error): Promise<void> {
    const unsupported = error instanceof ZkError && error.code === zkConstants.ZUNIMPLEMENTED
    if (
      unsupported ||
      (error instanceof ZkError && error.code === zkConstants.ZSESSIONEXPIRED) ||
      !(error instanceof ZkError)
    ) {
      for (const item of batch) item.reject(error)
      return
    }

    if (batch.length === 1) {
      await this.readOneBySingleRequests(batch[0])
      return
    }

    this.counts.splits++

    // One after the other, in the slot of the batch they replace: MAX_BATCHES_IN_FLIGHT still holds.
    const half = Math.ceil(batch.length / 2)
    await this.send(batch.slice(0, half))
    await this.send(batch.slice(half))
  }

  /** Closes the batch being filled and sends it when fewer than MAX_BATCHES_IN_FLIGHT are out. */
  private seal(): void {
    this.ready.push(this.queue)
    this.queue = []
    this.queuedBytes = 0
    this.queuedOps = 0
    this.pump()
  }

  private async send(batch: Queued[]): Promise<void> {
    const bytes = batch.reduce((sum, item) => sum + item.bytes, 0)
    this.counts.batches++
    if (batch.length > 1) this.counts.largestSharedBatchBytes = Math.max(this.counts.largestSharedBatchBytes, bytes)
    let results: Array<ReadResult | ZkError>
    try {
      results = await this.session.multiRead(batch.flatMap((item) => item.ops))
    } catch (error) {
      await this.retrySmaller(batch, error as Error)
      return
    }

    let at = 0
    for (const item of batch) {
      item.resolve(results.slice(at, at + item.ops.length))
      at += item.ops.length
    }
  }
}
