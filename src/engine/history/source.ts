/**
 * Where the transactions of a history come from: an archive repository, a data-directory archive or
 * a node's data directory. Each source hands its transactions over oldest first, one log or segment
 * held at a time, each once (a base's logs and the segments after it overlap).
 */
import type {DecodedTxn} from '../../zkdisk/txn.js'

/** Return false to stop: the rest is not read (or, inside an archive being read, not decoded). */
export type TxnVisitor = (txn: DecodedTxn) => boolean | void

export interface TxnSource {
  /** The location as it may be shown (secrets redacted). */
  display: string
  readTxns(visit: TxnVisitor): Promise<void>
}

/** Passes on each zxid once, in order: what overlapping files repeat is dropped. */
export class OnceEach {
  private last = -1n
  private stopped = false

  constructor(private readonly visit: TxnVisitor) {}

  get done(): boolean {
    return this.stopped
  }

  /** The newest zxid passed on (-1 before any). */
  get lastZxid(): bigint {
    return this.last
  }

  offer(txn: DecodedTxn): void {
    if (this.stopped || txn.header.zxid <= this.last) return
    this.last = txn.header.zxid
    if (this.visit(txn) === false) this.stopped = true
  }

  /** A node reset starts its zxids again: what follows is a new history, not a repeat. */
  restart(): void {
    this.last = -1n
  }
}
