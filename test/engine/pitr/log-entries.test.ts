/**
 * The streamed log reader of the point restore (src/engine/pitr/log-entries.ts): a log that arrives
 * in many chunks, or one byte at a time, gives the same entries as the same log in one buffer, and
 * its bytes are copied a bounded number of times whatever the chunking (no join per chunk).
 */
import {expect} from 'chai'

import {logEntries, type RawEntry} from '../../../src/engine/pitr/log-entries.js'
import {OpCode} from '../../../src/zkdisk/index.js'
import {entry, logBytes, record, txnBytes} from '../../zkdisk/synthetic.js'

/** A log with small entries around one of 256 KiB, then the zero padding of a preallocated file. */
function sampleLog(): Buffer {
  const txn = (zxid: bigint, write: Parameters<typeof txnBytes>[2]) => entry(txnBytes(OpCode.create, {zxid}, write))
  const large = entry(txnBytes(OpCode.setData, {zxid: 0x3n}, record.setData('/a', 'x'.repeat(256 * 1024), 0)))
  return logBytes(
    [txn(0x1n, record.create('/a')), txn(0x2n, record.create('/a/b')), large, txn(0x4n, record.create('/c'))],
    512,
  )
}

async function* inChunks(bytes: Buffer, size: number): AsyncGenerator<Buffer> {
  for (let offset = 0; offset < bytes.length; offset += size) yield bytes.subarray(offset, offset + size)
}

async function entries(input: AsyncIterable<Buffer>): Promise<RawEntry[]> {
  const all: RawEntry[] = []
  for await (const raw of logEntries(input, 'log.1')) all.push(raw)
  return all
}

/** Runs `read` with Buffer.concat counting the bytes it copies; throws once they pass `limit` (a quadratic join would). */
async function withCopyLimit<T>(limit: number, read: () => Promise<T>): Promise<T> {
  const {concat} = Buffer
  let copied = 0
  Buffer.concat = (list: readonly Uint8Array[], totalLength?: number): Buffer<ArrayBuffer> => {
    copied += totalLength ?? list.reduce((sum, chunk) => sum + chunk.length, 0)
    if (copied > limit) throw new Error(`Buffer.concat copied ${copied} bytes, more than ${limit}`)
    return concat(list, totalLength)
  }

  try {
    return await read()
  } finally {
    Buffer.concat = concat
  }
}

describe('pitr log entries', () => {
  it('reads the same entries from a log in one buffer, in 7-byte and 4 KiB chunks and one byte at a time, copying each byte at most twice', async () => {
    const bytes = sampleLog()
    const whole = await entries(inChunks(bytes, bytes.length))
    expect(whole.map((raw) => raw.zxid)).to.deep.equal([0x1n, 0x2n, 0x3n, 0x4n])
    expect(whole[2].bytes.length).to.be.above(256 * 1024)
    for (const size of [1, 7, 4096]) {
      const split = await withCopyLimit(2 * bytes.length, () => entries(inChunks(bytes, size)))
      expect(
        split.map((raw) => raw.zxid),
        `chunks of ${size}`,
      ).to.deep.equal(whole.map((raw) => raw.zxid))
      for (const [index, raw] of split.entries()) {
        expect(raw.bytes.equals(whole[index].bytes), `entry ${index} in chunks of ${size}`).to.equal(true)
        expect(raw.dbid).to.equal(whole[index].dbid)
      }
    }
  })

  it('stops at a cut-short last entry whatever the chunking', async () => {
    const bytes = sampleLog()
    const cut = bytes.subarray(0, -512 - 10)
    for (const size of [1, 7, cut.length]) {
      const read = await withCopyLimit(2 * cut.length, () => entries(inChunks(cut, size)))
      expect(
        read.map((raw) => raw.zxid),
        `chunks of ${size}`,
      ).to.deep.equal([0x1n, 0x2n, 0x3n])
    }
  })
})
