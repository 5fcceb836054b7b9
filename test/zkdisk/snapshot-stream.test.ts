/**
 * The snapshot reader that reads while the bytes arrive (SnapshotStreamReader, for the AdminServer's
 * stream) against readSnapshot of the same whole file: the same content for every way of cutting
 * the stream into chunks, and the same error for a damaged one.
 */
import {expect} from 'chai'

import {
  readSnapshot,
  type SnapshotContent,
  SnapshotStreamReader,
  statOf,
  type TreeNode,
} from '../../src/zkdisk/index.js'
import {BASE_ZNODES, snapshotBytes, type SyntheticZnode} from './synthetic.js'

const NAME = 'snapshot.2a'
const READ_ONLY = [{id: 'anyone', perms: 1, scheme: 'world'}]

/** A snapshot of every section: sessions, an ACL cache, an ACL index it lacks, owned znodes, the digest and 3.9's last zxid. */
function sample(): Buffer {
  const znodes: SyntheticZnode[] = [...BASE_ZNODES, {path: '/app', stat: {czxid: 3n, mzxid: 5n, pzxid: 40n}}]
  for (let index = 0; index < 300; index++) {
    znodes.push({
      acl: index % 3 === 0 ? 1n : -1n,
      data: 'x'.repeat(index % 37),
      path: `/app/v-${index}`,
      stat: {
        czxid: BigInt(10 + index),
        ephemeralOwner: index % 50 === 0 ? 0x77n : 0n,
        mtime: 1_700_000_000_000 + index,
      },
    })
  }

  znodes.push({acl: 9n, data: 'no cached acl', path: '/app/late'})
  return snapshotBytes({
    acls: [[1n, READ_ONLY]],
    digest: {digest: 0x12_34_56_78_9a_bc_de_f0n, version: 2, zxid: 0x2an},
    lastProcessedZxid: 0x2bn,
    sessions: [
      [0x77n, 30_000],
      [0x78n, 10_000],
    ],
    znodes,
  })
}

/** The stream reader fed `bytes` in chunks of the given sizes (cycled), into one buffer of the whole size. */
function readStreamed(bytes: Buffer, sizes: number[]): SnapshotContent {
  const buffer = Buffer.alloc(bytes.length, 0xee)
  const reader = new SnapshotStreamReader(NAME, buffer)
  for (let filled = 0, turn = 0; filled < bytes.length; turn++) {
    const end = Math.min(bytes.length, filled + sizes[turn % sizes.length])
    bytes.copy(buffer, filled, filled, end)
    filled = end
    reader.arrivedUpTo(filled)
  }

  return reader.finish()
}

/** Everything a reader of SnapshotContent sees, as plain values. */
function plain(content: SnapshotContent) {
  const node = (path: string, value: TreeNode) => ({
    acl: value.acl,
    children: [...(value.children ?? [])].sort(),
    data: value.data.toString('hex'),
    path,
    stat: Object.fromEntries(Object.entries(statOf(value)).map(([key, field]) => [key, String(field)])),
  })
  return {
    aclsToResolve: [...content.aclsToResolve].map(([path, index]) => `${path}=${index}`),
    compression: content.compression,
    dbid: String(content.dbid),
    digest: content.digest && {
      ...content.digest,
      digest: String(content.digest.digest),
      zxid: String(content.digest.zxid),
    },
    highestStamp: String(content.highestStamp),
    lastProcessedZxid: String(content.lastProcessedZxid),
    name: content.name,
    nodes: [...content.nodes].map(([path, value]) => node(path, value)),
    ownedPaths: content.ownedPaths,
    sessions: [...content.sessions].map(([id, timeout]) => `${id}:${timeout}`),
    treeDigest: String(content.treeDigest),
    zxid: String(content.zxid),
  }
}

function errorOf(read: () => unknown): string {
  try {
    read()
  } catch (error) {
    return (error as Error).message
  }

  throw new Error('the read did not fail')
}

describe('zkdisk snapshot read while it streams', () => {
  const bytes = sample()
  const whole = plain(readSnapshot({bytes, name: NAME}))

  it('reads what readSnapshot reads, however the stream is cut', () => {
    expect(whole.nodes).to.have.length(305)
    expect(whole.aclsToResolve).to.deep.equal(['/app/late=9'])
    expect(whole.ownedPaths).to.have.length(6)
    for (const sizes of [[1], [7, 3, 1, 64], [4096], [bytes.length - 1, 1], [bytes.length]]) {
      expect(plain(readStreamed(bytes, sizes)), `chunks of ${sizes.join(', ')}`).to.deep.equal(whole)
    }
  })

  it('checks the seal of a snapshot of many MiB, its checksum summed in steps while it streams', () => {
    const large = snapshotBytes({
      znodes: [
        ...BASE_ZNODES,
        ...Array.from({length: 12}, (_, index) => ({data: String(index).repeat(400_000), path: `/big-${index}`})),
      ],
    })
    const expected = plain(readSnapshot({bytes: large, name: NAME}))
    expect(plain(readStreamed(large, [65_536, 1000]))).to.deep.equal(expected)
    const damaged = Buffer.from(large)
    damaged[3_000_000] ^= 1
    expect(errorOf(() => readStreamed(damaged, [65_536])))
      .to.equal(errorOf(() => readSnapshot({bytes: damaged, name: NAME})))
      .and.match(/Adler-32 checksum mismatch/)
  })

  it('reads each record as soon as it is whole, not before', () => {
    const buffer = Buffer.alloc(bytes.length)
    const reader = new SnapshotStreamReader(NAME, buffer)
    // The end marker "/" follows the last znode's record: path, data, ACL index and stat.
    const marker = bytes.indexOf('/app/late') + '/app/late'.length + 4 + 'no cached acl'.length + 8 + 60
    bytes.copy(buffer, 0, 0, marker - 1)
    reader.arrivedUpTo(marker - 1)
    const lastRecord = reader.readUpTo
    expect(lastRecord).to.be.above(1000).and.below(marker)
    bytes.copy(buffer, marker - 1, marker - 1, marker)
    reader.arrivedUpTo(marker)
    expect(reader.readUpTo).to.equal(marker)
    bytes.copy(buffer, marker, marker)
    reader.arrivedUpTo(bytes.length)
    expect(plain(reader.finish())).to.deep.equal(whole)
  })

  it('fails as readSnapshot fails on a damaged stream: a bad checksum, a record cut short, a wrong magic', () => {
    const damaged = [
      Buffer.concat([bytes.subarray(0, 200), Buffer.from([bytes[200] ^ 0xff]), bytes.subarray(201)]),
      Buffer.concat([bytes.subarray(0, 100), Buffer.from([0x7f, 0xff, 0xff, 0xff]), bytes.subarray(104)]),
      Buffer.concat([Buffer.from('ZKSX'), bytes.subarray(4)]),
      bytes.subarray(0, -30),
    ]
    for (const [index, file] of damaged.entries()) {
      const expected = errorOf(() => readSnapshot({bytes: file, name: NAME}))
      expect(
        errorOf(() => readStreamed(file, [13])),
        `damage ${index}`,
      ).to.equal(expected)
    }
  })

  it('takes only uncompressed snapshot names', () => {
    expect(() => new SnapshotStreamReader('snapshot.2a.gz', bytes)).to.throw(/uncompressed/)
    expect(() => new SnapshotStreamReader('log.2a', bytes)).to.throw(/uncompressed/)
  })
})
