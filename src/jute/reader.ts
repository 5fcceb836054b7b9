import type {Acl} from '../zk/types.js'

/**
 * The error a malformed record fails with: the disk's names the file (DiskFormatError), the wire's
 * the server (ProtocolError). `at` is a byte offset in the reader's bytes; `truncated` says the bytes
 * ended inside the record rather than holding a wrong value.
 */
export type JuteFailure = (source: string, at: number, problem: string, truncated: boolean) => Error

/** High words below this make a long that a double holds exactly (2^53). */
const SAFE_HIGH = 2 ** 21

/**
 * Reads Jute's binary encoding (big-endian): int, long, boolean (one byte), ustring and buffer
 * (an int length, -1 for null, then the bytes), vector (an int count, -1 for null, then the elements).
 * Offsets are positions in `bytes`, reported in errors as byte offsets of `source`.
 * The one reader of ZooKeeper's files and of its answers on the wire.
 */
export class JuteReader {
  offset: number
  private lastULong = -1
  private lastULongValue = 0n

  constructor(
    private readonly bytes: Buffer,
    /** What the bytes are, for errors: a file's name, "the answer of host:port". */
    readonly source: string,
    private readonly failure: JuteFailure,
    start = 0,
    readonly end = bytes.length,
  ) {
    this.offset = start
  }

  get remaining(): number {
    return this.end - this.offset
  }

  /** vector<ACL>: each entry is int perms, then Id (ustring scheme, ustring id). */
  acls(): Acl[] | null {
    return this.vector(() => {
      const perms = this.int()
      const scheme = this.ustring() ?? ''
      const id = this.ustring() ?? ''
      return {id, perms, scheme}
    })
  }

  bool(): boolean {
    return this.byte() !== 0
  }

  /** A buffer; `copy` detaches it from the file's bytes (a log's bytes are dropped once read). */
  buffer(copy = false): Buffer | null {
    const length = this.length('buffer')
    if (length < 0) return null
    const view = this.bytes.subarray(this.offset, this.offset + length)
    this.offset += length
    return copy ? Buffer.from(view) : view
  }

  byte(): number {
    this.need(1, 'a byte')
    return this.bytes[this.offset++]
  }

  fail(problem: string, at = this.offset, truncated = false): never {
    throw this.failure(this.source, at, problem, truncated)
  }

  int(): number {
    this.need(4, 'an int')
    const value = this.bytes.readInt32BE(this.offset)
    this.offset += 4
    return value
  }

  /** A long as Java holds it (signed). */
  long(): bigint {
    this.need(8, 'a long')
    const value = this.bytes.readBigInt64BE(this.offset)
    this.offset += 8
    return value
  }

  /** A buffer read in place: a reader of its bytes (null for a null buffer), offsets still those of the file. */
  nested(): JuteReader | null {
    const length = this.length('buffer')
    if (length < 0) return null
    const start = this.offset
    this.offset += length
    return new JuteReader(this.bytes, this.source, this.failure, start, start + length)
  }

  /** A ustring that must not be null. */
  path(): string {
    const at = this.offset
    const value = this.ustring()
    if (value === null) this.fail('a null path', at)
    return value
  }

  /** A buffer stepped over: its length (-1 for null), for a reader that keeps offsets rather than a view. */
  skipBuffer(): number {
    const length = this.length('buffer')
    if (length > 0) this.offset += length
    return length
  }

  /** A long holding milliseconds since the epoch (a double, rounded as Number(bigint) rounds it). */
  time(): number {
    this.need(8, 'a long')
    const value = this.bytes.readInt32BE(this.offset) * 2 ** 32 + this.bytes.readUInt32BE(this.offset + 4)
    this.offset += 8
    return value
  }

  /**
   * A long read as unsigned 64 bits: zxids, session ids, ephemeral owners, checksums. Most fit in a
   * double (an epoch below 2^21): they are converted from one, and a value equal to the previous one
   * read (a znode's czxid and mzxid, often its pzxid) is that same bigint, not another on the heap.
   */
  ulong(): bigint {
    this.need(8, 'a long')
    const {bytes, offset} = this
    const high = bytes.readUInt32BE(offset)
    const low = bytes.readUInt32BE(offset + 4)
    this.offset += 8
    if (high >= SAFE_HIGH) return (BigInt(high) << 32n) | BigInt(low)
    if (high === 0 && low === 0) return 0n
    const value = high * 2 ** 32 + low
    if (value !== this.lastULong) {
      this.lastULong = value
      this.lastULongValue = BigInt(value)
    }

    return this.lastULongValue
  }

  ustring(): null | string {
    const length = this.length('string')
    if (length < 0) return null
    const value = this.bytes.toString('utf8', this.offset, this.offset + length)
    this.offset += length
    return value
  }

  vector<T>(readElement: () => T): null | T[] {
    const at = this.offset
    const count = this.int()
    if (count === -1) return null
    if (count < -1) this.fail(`invalid vector length ${count}`, at)
    const elements: T[] = []
    for (let index = 0; index < count; index++) elements.push(readElement())
    return elements
  }

  private length(what: string): number {
    const at = this.offset
    const length = this.int()
    if (length < -1) this.fail(`invalid ${what} length ${length}`, at)
    if (length > this.remaining) this.fail(`truncated: a ${what} of ${length} bytes, ${this.remaining} left`, at, true)
    return length
  }

  private need(count: number, what: string): void {
    if (this.remaining < count)
      this.fail(`truncated: ${what} needs ${count} bytes, ${Math.max(0, this.remaining)} left`, this.offset, true)
  }
}
