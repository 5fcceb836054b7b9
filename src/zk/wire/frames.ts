import {ProtocolError} from './protocol.js'

/**
 * The largest packet read from a server. ZooKeeper's own client stops at jute.maxbuffer (1 MiB by
 * default); servers may be set higher, and a batch's answer is budgeted at 1 MiB but one large znode
 * or a long child list can exceed it. 64 MiB leaves that margin while a peer declaring 2 GiB (or a
 * non-ZooKeeper port whose first bytes read as a length) cannot make us buffer without bound.
 */
export const MAX_PACKET_BYTES = 64 * 1024 * 1024

/** Splits a byte stream into the protocol's packets (an int length, then that many bytes). */
export class FrameReader {
  private buffered = 0
  private chunks: Buffer[] = []
  private expected = -1

  constructor(
    /** The peer, for errors: "host:port". */
    private readonly peer: string,
    private readonly onFrame: (frame: Buffer) => void,
    private readonly maxBytes = MAX_PACKET_BYTES,
  ) {}

  /** Throws a ProtocolError on a packet longer than `maxBytes` (or of a negative length), before buffering it. */
  push(chunk: Buffer): void {
    this.chunks.push(chunk)
    this.buffered += chunk.length
    for (;;) {
      if (this.expected < 0) {
        if (this.buffered < 4) return
        this.expected = this.checkedLength(this.take(4))
      }

      if (this.buffered < this.expected) return
      const frame = this.take(this.expected)
      this.expected = -1
      this.onFrame(frame)
    }
  }

  private checkedLength(prefix: Buffer): number {
    const length = prefix.readInt32BE(0)
    if (length >= 0 && length <= this.maxBytes) return length
    this.chunks = []
    this.buffered = 0
    const http = prefix.toString('latin1') === 'HTTP' ? ' (its answer is HTTP: is that the AdminServer port?)' : ''
    const bound = length < 0 ? 'a negative length' : `more than the cap of ${this.maxBytes} bytes`
    throw new ProtocolError(
      `${this.peer} declared a packet of ${length} bytes, ${bound}${http}: check that it is a ZooKeeper client port`,
    )
  }

  private take(count: number): Buffer {
    const first = this.chunks[0]
    let taken: Buffer
    if (first.length >= count) {
      taken = first.subarray(0, count)
      if (first.length === count) this.chunks.shift()
      else this.chunks[0] = first.subarray(count)
    } else {
      const all = Buffer.concat(this.chunks)
      taken = all.subarray(0, count)
      this.chunks = all.length > count ? [all.subarray(count)] : []
    }

    this.buffered -= count
    return taken
  }
}
