import {expect} from 'chai'
import {execFileSync} from 'node:child_process'
import {randomBytes} from 'node:crypto'
import {gunzipSync} from 'node:zlib'

import {CHUNK_BYTES, chunkPool} from '../../src/archive/chunk-workers.js'
import {parallelGzip} from '../../src/archive/parallel-gzip.js'

const MIB = 1024 * 1024

async function gzipOf(pieces: Buffer[]): Promise<Buffer> {
  async function* source(): AsyncGenerator<Buffer> {
    yield* pieces
  }

  const out: Buffer[] = []
  for await (const part of parallelGzip(source())) out.push(part)
  return Buffer.concat(out)
}

/** Compressible and not: text-like runs and random bytes, cut into pieces of odd sizes across chunk bounds. */
function material(bytes: number): Buffer[] {
  const whole = Buffer.concat([
    Buffer.from('{"app":"marathon","instances":3}\n'.repeat(Math.ceil(bytes / 2 / 33))).subarray(0, bytes / 2),
    randomBytes(bytes - bytes / 2),
  ])
  const pieces: Buffer[] = []
  for (let at = 0, size = 1; at < whole.length; at += size, size = (size * 7 + 13) % 300_000)
    pieces.push(whole.subarray(at, at + size))
  return pieces
}

describe('parallelGzip', () => {
  for (const bytes of [0, 1, MIB, 2.5 * MIB + 2, 9 * MIB]) {
    it(`one gzip member that zlib and gzip(1) both read back exactly: ${bytes} bytes`, async () => {
      const pieces = material(bytes)
      const plain = Buffer.concat(pieces)
      const compressed = await gzipOf(pieces)
      expect(gunzipSync(compressed).equals(plain)).to.equal(true)
      // gzip(1) checks the trailer's CRC-32 and length too, and refuses trailing members or garbage.
      const viaGzip = execFileSync('gzip', ['-dc'], {input: compressed, maxBuffer: 64 * MIB})
      expect(viaGzip.equals(plain)).to.equal(true)
      if (bytes > MIB) expect(compressed.length).to.be.lessThan(plain.length * 0.8)
    })
  }

  it('fills again, zeroed, the chunks the workers send back, and a gzip made of them still reads back exactly', async () => {
    await gzipOf(material(9 * MIB))
    const spare = chunkPool.spareChunks
    expect(spare).to.be.greaterThan(0)
    const chunk = chunkPool.chunk()
    expect(chunkPool.spareChunks).to.equal(spare - 1)
    expect(chunk.length).to.equal(CHUNK_BYTES)
    expect(chunk.equals(Buffer.alloc(CHUNK_BYTES))).to.equal(true)
    const pieces = material(5 * MIB)
    expect(gunzipSync(await gzipOf(pieces)).equals(Buffer.concat(pieces))).to.equal(true)
  })

  it('passes on the failure of its source', async () => {
    async function* failing(): AsyncGenerator<Buffer> {
      yield randomBytes(3 * MIB)
      throw new Error('the disk went away')
    }

    const consume = async () => {
      for await (const _ of parallelGzip(failing())) void _
    }

    await consume().then(
      () => expect.fail('resolved'),
      (error: Error) => expect(error.message).to.equal('the disk went away'),
    )
  })
})
