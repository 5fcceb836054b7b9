/**
 * The reader's fast paths for longs and the digest's for stats, against Node's own BigInt
 * conversions: every value class (zero, small, repeated, above 2^53, negative, the extremes).
 */
import {expect} from 'chai'
// eslint-disable-next-line n/no-unsupported-features/node-builtins -- the oracle: zlib's own crc32 (Node 20.15+)
import {crc32} from 'node:zlib'

import {JuteReader} from '../../src/jute/reader.js'
import {DataTree, diskFormatFailure, nodeDigest, readSnapshot, type TreeNode} from '../../src/zkdisk/index.js'
import {BASE_ZNODES, snapshotBytes, type SyntheticZnode} from './synthetic.js'

const LONGS = [
  0n,
  1n,
  0x1_00_00_00_05n,
  0x1_00_00_00_05n,
  2n ** 53n - 1n,
  2n ** 53n,
  2n ** 53n + 1n,
  0x80_00_00_00_00_00_00_00n,
  0xff_00_00_00_00_00_10_00n,
  2n ** 64n - 1n,
  2n ** 63n - 1n,
]

function longs(values: bigint[]): Buffer {
  const bytes = Buffer.alloc(values.length * 8)
  for (const [index, value] of values.entries()) bytes.writeBigUInt64BE(value, index * 8)
  return bytes
}

/** DigestCalculator.calculateDigest, written plainly with BigInt writes. */
function referenceDigest(path: string, node: TreeNode): bigint {
  const {stat} = node
  const bytes = Buffer.alloc(60)
  bytes.writeBigUInt64BE(stat.czxid, 0)
  bytes.writeBigUInt64BE(stat.mzxid, 8)
  bytes.writeBigUInt64BE(stat.pzxid, 16)
  bytes.writeBigInt64BE(BigInt(stat.ctime), 24)
  bytes.writeBigInt64BE(BigInt(stat.mtime), 32)
  bytes.writeInt32BE(stat.version, 40)
  bytes.writeInt32BE(stat.cversion, 44)
  bytes.writeInt32BE(stat.aversion, 48)
  bytes.writeBigUInt64BE(stat.ephemeralOwner, 52)
  return BigInt(crc32(bytes, crc32(node.data, crc32(path === '/' ? '' : path))))
}

describe('zkdisk: longs and digests without BigInt churn', () => {
  it('reads unsigned longs as readBigUInt64BE does, repeated values included', () => {
    const reader = new JuteReader(longs(LONGS), 'test', diskFormatFailure())
    expect(LONGS.map(() => reader.ulong())).to.deep.equal(LONGS)
  })

  it('reads times as Number(readBigInt64BE) does, negative and beyond 2^53 included', () => {
    const reader = new JuteReader(longs(LONGS), 'test', diskFormatFailure())
    expect(LONGS.map(() => reader.time())).to.deep.equal(LONGS.map((value) => Number(BigInt.asIntN(64, value))))
  })

  it("computes each znode's digest as DigestCalculator does, whatever its stat holds", () => {
    const times = [0, 1_764_591_361_123, -1, 2 ** 53 - 1, -(2 ** 53) + 1]
    for (const [index, long] of LONGS.entries()) {
      const time = times[index % times.length]
      const node: TreeNode = {
        acl: [],
        children: new Set(),
        data: Buffer.from(['', `data ${index}`, 'x'.repeat(511), 'y'.repeat(513), 'caf\u00E9 '.repeat(200)][index % 5]),
        stat: {
          aversion: -index,
          ctime: time,
          cversion: index * 7,
          czxid: long,
          ephemeralOwner: LONGS.at(-1 - index)!,
          mtime: -time,
          mzxid: long,
          pzxid: LONGS[(index + 3) % LONGS.length],
          version: 2 ** 31 - 1 - index,
        },
      }
      for (const path of [
        '/',
        '/a',
        `/caf\u00E9/${index}`,
        `/${'p'.repeat(index * 97)}`,
        `/${'p'.repeat(index)}/\u{1F600}`,
      ])
        expect(nodeDigest(path, node), `${path} ${long}`).to.equal(referenceDigest(path, node))
    }
  })

  it("sums a snapshot's digest from its bytes as DigestCalculator does, whatever its znodes' data and stats hold", () => {
    const times = [0, 1_764_591_361_123, -1, 2 ** 53 - 1, -(2 ** 53) + 1]
    const datas = ['', 'short', 'x'.repeat(511), 'y'.repeat(513), 'caf\u00E9 '.repeat(200)]
    const signed = (value: bigint) => BigInt.asIntN(64, value) // as the file holds it
    const znodes: SyntheticZnode[] = LONGS.map((long, index) => ({
      data: datas[index % datas.length],
      path: index % 2 ? `/caf\u00E9-${index}` : `/n${index}`,
      stat: {
        aversion: -index,
        ctime: times[index % times.length],
        cversion: index * 7,
        czxid: signed(long),
        ephemeralOwner: index % 3 ? 0n : LONGS.at(-1 - index)!,
        mtime: -times[index % times.length],
        mzxid: signed(long),
        pzxid: signed(LONGS[(index + 3) % LONGS.length]),
        version: 2 ** 31 - 1 - index,
      },
    }))
    const content = readSnapshot({
      bytes: snapshotBytes({znodes: [...BASE_ZNODES, {data: 'quota', path: '/zookeeper/quota/x'}, ...znodes]}),
      name: 'snapshot.1',
    })
    let expected = 0n
    for (const [path, node] of content.nodes)
      if (!path.startsWith('/zookeeper/')) expected += referenceDigest(path, node)
    expect(content.treeDigest).to.equal(BigInt.asUintN(64, expected))
    expect(DataTree.fromSnapshot(content).digest).to.equal(BigInt.asUintN(64, expected))
  })
})
