import {expect} from 'chai'
import {randomBytes} from 'node:crypto'
import * as zlib from 'node:zlib'

import {crc32, tableCrc32} from '../../src/archive/crc32.js'

describe('crc32', () => {
  // eslint-disable-next-line n/no-unsupported-features/node-builtins -- the oracle: zlib's own crc32 (Node 20.15+)
  const native = (zlib as unknown as {crc32: (data: Buffer | string, value?: number) => number}).crc32

  it('the table fallback matches zlib.crc32 on buffers, UTF-8 strings and continued sums', () => {
    for (const size of [1, 7, 64, 1000]) {
      const bytes = randomBytes(size)
      expect(tableCrc32(bytes)).to.equal(native(bytes))
      expect(tableCrc32(bytes, 0x12_34_56_78)).to.equal(native(bytes, 0x12_34_56_78))
    }

    for (const text of ['', '/', '/zookeeper/quota', '/é/日本/🙂']) expect(tableCrc32(text)).to.equal(native(text))
    const [head, tail] = [randomBytes(33), randomBytes(77)]
    expect(tableCrc32(tail, tableCrc32(head))).to.equal(native(Buffer.concat([head, tail])))
  })

  it('is the sum it continues for empty data, however the empty buffer was made', () => {
    // randomBytes(0) has no memory behind it: zlib.crc32 itself answers 0 there, not the running sum.
    for (const empty of [randomBytes(0), Buffer.alloc(0), Buffer.from([]), Buffer.concat([]), '']) {
      expect(crc32(empty, 0x12_34_56_78)).to.equal(0x12_34_56_78)
      expect(tableCrc32(empty, 0x12_34_56_78)).to.equal(0x12_34_56_78)
    }
  })

  it('matches the table on random buffers and strings', () => {
    for (const size of [1, 7, 64, 1000]) {
      const bytes = randomBytes(size)
      expect(crc32(bytes, 99)).to.equal(tableCrc32(bytes, 99))
    }

    expect(crc32('/a/日本')).to.equal(tableCrc32('/a/日本'))
  })
})
