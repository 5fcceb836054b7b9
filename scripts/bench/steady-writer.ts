/**
 * A steady write load: creates of `<root>/w-<n>` at a fixed rate, pipelined through the project's
 * wire client (each tick sends what the rate owes, without waiting for answers, up to a bound in
 * flight). Every write's acknowledgement time is kept; its zxid is read back afterwards (the czxid
 * of the znode it created), since the client's create answers only the path.
 */
import type {WireSession} from '../../src/zk/wire/session.js'

import {OPEN_ACL} from '../../src/zk/session.js'

const TICK_MS = 10
/** Writes in flight at most: a stalled server slows the writer down instead of piling requests up. */
const MAX_IN_FLIGHT = 5000
const READ_BACK_BATCH = 1000

export interface Acknowledged {
  /** Milliseconds since the epoch when the server's answer arrived: the write was durable and acknowledged. */
  ackedAt: number
  index: number
}

export class SteadyWriter {
  readonly acked: Acknowledged[] = []
  failed = 0
  private inFlight = 0
  private sent = 0
  private startedAt = 0
  private stopped?: Promise<void>
  private timer?: NodeJS.Timeout

  constructor(
    private readonly wire: WireSession,
    private readonly root: string,
    private readonly perSecond: number,
    private readonly data: Buffer,
  ) {}

  /** Acknowledged writes per second between `from` and `to` (epoch milliseconds). */
  rateBetween(from: number, to: number): number {
    const count = this.acked.filter(({ackedAt}) => ackedAt >= from && ackedAt <= to).length
    return count / ((to - from) / 1000)
  }

  /** The czxid of every acknowledged write in `writes`, read back in pipelined batches. */
  async readZxids(writes: Acknowledged[]): Promise<bigint[]> {
    const zxids: bigint[] = []
    for (let start = 0; start < writes.length; start += READ_BACK_BATCH) {
      const batch = writes.slice(start, start + READ_BACK_BATCH)
      const stats = await Promise.all(batch.map(({index}) => this.wire.exists(this.path(index))))
      for (const [offset, stat] of stats.entries()) {
        if (!stat) throw new Error(`${this.path(batch[offset].index)} was acknowledged but is not there`)
        zxids.push(BigInt(stat.czxid))
      }
    }

    return zxids
  }

  async start(): Promise<void> {
    await this.wire.create(this.root, Buffer.alloc(0), OPEN_ACL)
    this.startedAt = performance.now()
    this.timer = setInterval(() => this.tick(), TICK_MS)
  }

  /** Stops sending and waits for the answers still due. */
  async stop(): Promise<void> {
    clearInterval(this.timer)
    this.stopped ??= (async () => {
      while (this.inFlight > 0) await new Promise((resolve) => setTimeout(resolve, TICK_MS))
    })()
    await this.stopped
  }

  private path(index: number): string {
    return `${this.root}/w-${index}`
  }

  private tick(): void {
    const owed = Math.floor(((performance.now() - this.startedAt) / 1000) * this.perSecond) - this.sent
    const room = Math.max(0, MAX_IN_FLIGHT - this.inFlight)
    for (let count = 0; count < Math.min(owed, room); count++) {
      const index = this.sent++
      this.inFlight++
      this.wire.create(this.path(index), this.data, OPEN_ACL).then(
        () => {
          this.inFlight--
          this.acked.push({ackedAt: Date.now(), index})
        },
        () => {
          this.inFlight--
          this.failed++
        },
      )
    }
  }
}
