/**
 * A ZooKeeper transaction log read as a stream (a staged log of the base, a repository's segment):
 * its FileHeader, then each whole entry's raw bytes and zxid, never more than one entry held. The
 * entries end where ZooKeeper's FileTxnIterator stops: the end of the data, the zero padding of a
 * preallocated log, or the first entry that is not whole (cut short, no 0x42, a wrong checksum).
 */
import {DiskFormatError} from '../../zkdisk/errors.js'
import {
  ENTRY_HEADER_LENGTH,
  entryDamage,
  HEADER_LENGTH,
  LOG_MAGIC,
  TXN_HEADER_LENGTH,
  ZXID_IN_ENTRY,
} from '../../zkdisk/txnlog.js'

export interface RawEntry {
  /** The whole entry as stored: checksum, length, the transaction, 0x42. */
  bytes: Buffer
  /** The dbid in its log's FileHeader. */
  dbid: bigint
  zxid: bigint
}

/** Far above what jute.maxbuffer lets a transaction be: a longer entry is damage, not a reason to buffer it. */
const MAX_ENTRY_BYTES = 64 * 1024 * 1024

/** The whole entries of the log `input` holds; an empty input holds none. */
export async function* logEntries(input: AsyncIterable<Buffer>, name: string): AsyncGenerator<RawEntry> {
  const bytes = new ByteQueue(input)
  try {
    const header = await bytes.take(HEADER_LENGTH)
    if (header.length === 0) return
    if (header.length < HEADER_LENGTH)
      throw new DiskFormatError(
        name,
        0,
        `truncated: ${header.length} bytes, less than the ${HEADER_LENGTH}-byte file header`,
      )
    if (header.readUInt32BE(0) !== LOG_MAGIC)
      throw new DiskFormatError(name, 0, 'bad magic: not a ZooKeeper transaction log ("ZKLG")')
    const dbid = header.readBigUInt64BE(8)
    while (true) {
      const head = await bytes.peek(ENTRY_HEADER_LENGTH)
      if (head.length < ENTRY_HEADER_LENGTH) return
      const length = head.readInt32BE(8)
      if (length < TXN_HEADER_LENGTH || length > MAX_ENTRY_BYTES) return
      const entry = await bytes.take(ENTRY_HEADER_LENGTH + length + 1)
      // Cut short, no 0x42 or a wrong checksum: where ZooKeeper stops reading.
      if (entryDamage(entry, 0)) return
      yield {bytes: entry, dbid, zxid: entry.readBigUInt64BE(ZXID_IN_ENTRY)}
    }
  } finally {
    await bytes.close()
  }
}

/**
 * The input's bytes, handed out in pieces of a chosen length; fewer only at its end. Chunks are kept
 * as they came and joined once a piece is whole, so an entry arriving in many chunks is copied once,
 * not once per chunk.
 */
class ByteQueue {
  private buffered = 0
  private chunks: Buffer[] = []
  private ended = false
  private readonly iterator: AsyncIterator<Buffer>

  constructor(input: AsyncIterable<Buffer>) {
    this.iterator = input[Symbol.asyncIterator]()
  }

  /** Ends the input (a stream is destroyed) when it was not read to its end. */
  async close(): Promise<void> {
    if (!this.ended) await this.iterator.return?.()
  }

  async peek(length: number): Promise<Buffer> {
    while (this.buffered < length && !this.ended) {
      const next = await this.iterator.next()
      if (next.done) this.ended = true
      else if (next.value.length > 0) {
        this.chunks.push(next.value)
        this.buffered += next.value.length
      }
    }

    return this.front(Math.min(length, this.buffered))
  }

  async take(length: number): Promise<Buffer> {
    const taken = await this.peek(length)
    this.buffered -= taken.length
    let rest = taken.length
    while (rest > 0) {
      const first = this.chunks[0]
      if (first.length > rest) {
        this.chunks[0] = first.subarray(rest)
        break
      }

      rest -= first.length
      this.chunks.shift()
    }

    return taken
  }

  /** The first `length` buffered bytes (at most that many are buffered), the chunks they span joined into one. */
  private front(length: number): Buffer {
    if (length === 0) return Buffer.alloc(0)
    let spanned = 0
    let count = 0
    while (spanned < length) spanned += this.chunks[count++].length
    if (count > 1) this.chunks.splice(0, count, Buffer.concat(this.chunks.slice(0, count), spanned))
    return this.chunks[0].subarray(0, length)
  }
}
