/**
 * Archives a hostile tester crafted: records with valid checksums that describe impossible trees,
 * trailing bytes, and endless input. Each must be refused by the reader before a restore acts.
 */
import {expect} from 'chai'
import {writeFile} from 'node:fs/promises'
import {join} from 'node:path'
import {Readable} from 'node:stream'
import {createGzip, gunzipSync, gzipSync} from 'node:zlib'

import type {ZnodeRecord} from '../../src/archive/format.js'

import {ArchiveError, readArchive} from '../../src/archive/reader.js'
import {sharedEnsemble} from '../harness/hooks.js'
import {
  type DecodedArchive,
  encodeArchive,
  encodeArchiveMembers,
  type EncodedZnode,
  plainHeader,
  plainRecord,
  tarGz,
} from '../helpers/archive.js'
import {dcos, expectExit, zkUri} from '../helpers/cli.js'
import {removeDir, tempDir} from '../helpers/fixtures.js'
import {connect, uniquePath} from '../helpers/tree.js'

/** Reads `input` to the end; returns what it threw and how many znodes it yielded. */
async function readAll(input: Readable): Promise<{error?: Error; znodes: number}> {
  let znodes = 0
  try {
    for await (const item of readArchive(input, 'test.tar.gz')) if (item.kind === 'znode') znodes++
  } catch (error) {
    return {error: error as Error, znodes}
  }

  return {znodes}
}

const refusal = async (bytes: Buffer) => (await readAll(Readable.from([bytes]))).error

/** A stream of `chunks` that counts the bytes taken from it. */
function counted(chunks: AsyncIterable<Buffer> | Iterable<Buffer>): {stream: Readable; taken: () => number} {
  let taken = 0
  async function* source() {
    for await (const chunk of chunks) {
      taken += chunk.length
      yield chunk
    }
  }

  return {stream: Readable.from(source(), {highWaterMark: 1, objectMode: true}), taken: () => taken}
}

function* zeros(bytes: number, chunk = 64 * 1024): Generator<Buffer> {
  const block = Buffer.alloc(chunk)
  for (let left = bytes; left > 0; left -= chunk) yield block.subarray(0, Math.min(chunk, left))
}

const root = '/app'
const record = (path: string, fields: Partial<ZnodeRecord> = {}, data = Buffer.alloc(0)): EncodedZnode => ({
  data,
  record: plainRecord(path, data, fields),
})
const base = (): EncodedZnode[] => [
  record(root, {}, Buffer.from('root')),
  record(`${root}/a`),
  record(`${root}/a/b`, {}, Buffer.from('b')),
  record(`${root}/c`),
]
const archiveOf = (znodes: EncodedZnode[], header = plainHeader(root)): DecodedArchive => ({header, znodes})
const withRecord = (index: number, fields: Partial<ZnodeRecord> | Record<string, unknown>) =>
  archiveOf(
    base().map((znode, at) => (at === index ? {...znode, record: {...znode.record, ...fields} as ZnodeRecord} : znode)),
  )

/** [name, archive, what the refusal says] */
const IMPOSSIBLE: Array<[string, () => DecodedArchive, RegExp]> = [
  [
    'a parent missing',
    () => archiveOf([...base(), record(`${root}/x/y`)]),
    /znodes\/x\/y\/\.znode\.json: the parent of "\/x\/y" is not recorded before it/,
  ],
  [
    'a parent recorded after its child',
    () => archiveOf([base()[0], base()[2], base()[1], base()[3]]),
    /the parent of "\/a\/b" is not recorded before it/,
  ],
  ['the same path twice', () => archiveOf([...base(), record(`${root}/c`)]), /"\/c" is recorded twice/],
  ['the root twice', () => archiveOf([...base(), record(root)]), /"\/" is recorded twice/],
  [
    'a first record that is not the root',
    () => archiveOf(base().slice(1)),
    /the first record is "\/a", not the archive's root/,
  ],
  [
    'a "." component',
    () => archiveOf([...base(), record(`${root}/a/.`)]),
    /path "\/app\/a\/\." is invalid: "\." is not allowed/,
  ],
  [
    'a ".." component',
    () => archiveOf([...base(), record(`${root}/a/..`)]),
    /path "\/app\/a\/\.\." is invalid: "\.\." is not allowed/,
  ],
  [
    'a trailing /',
    () => archiveOf([...base(), record(`${root}/c/`)]),
    /path "\/app\/c\/" is invalid: it must not end with \//,
  ],
  [
    'an empty name',
    () => archiveOf([...base(), record(`${root}//c`)]),
    /path "\/app\/\/c" is invalid: it contains an empty name/,
  ],
  [
    'a NUL in a name',
    () => archiveOf([...base(), {...record(`${root}/c\u0000d`), member: 'znodes/cd/.znode.json'}]),
    /path "\/app\/c\\u0000d" is invalid/,
  ],
  ['a newline in a name', () => archiveOf([...base(), record(`${root}/c\nd`)]), /path "\/app\/c\\nd" is invalid/],
  [
    'an ESC in a name',
    () => archiveOf([...base(), record(`${root}/c\u001B[31md`)]),
    /path "\/app\/c\\u001b\[31md" is invalid/,
  ],
  [
    'a private-use character in a name',
    () => archiveOf([...base(), record(`${root}/c\uE000`)]),
    /is invalid: it contains a character ZooKeeper does not allow/,
  ],
  [
    'an unknown ACL scheme',
    () => withRecord(1, {acl: [{id: 'x', perms: 31, scheme: 'magic'}]}),
    /znodes\/a\/\.znode\.json: ACL entry 1: unknown scheme "magic"/,
  ],
  [
    'the super scheme (an identity, not an ACL scheme)',
    () => withRecord(1, {acl: [{id: 'x', perms: 31, scheme: 'super'}]}),
    /unknown scheme/,
  ],
  [
    'ACL perms 64',
    () => withRecord(1, {acl: [{id: 'anyone', perms: 64, scheme: 'world'}]}),
    /znodes\/a\/\.znode\.json: ACL entry 1: ACL perms 64 outside 1-31/,
  ],
  ['ACL perms 0', () => withRecord(1, {acl: [{id: 'anyone', perms: 0, scheme: 'world'}]}), /ACL perms 0 outside 1-31/],
  [
    'ACL perms 1.5',
    () => withRecord(1, {acl: [{id: 'anyone', perms: 1.5, scheme: 'world'}]}),
    /perms is not an integer/,
  ],
  ['an ACL entry that is a string', () => withRecord(1, {acl: ['world:anyone:31']}), /ACL entry 1: not an object/],
  [
    'an ACL entry without an id',
    () => withRecord(1, {acl: [{perms: 31, scheme: 'world'}]}),
    /ACL entry 1: not exactly scheme, id and perms/,
  ],
  [
    'a world ACL for someone other than anyone',
    () => withRecord(1, {acl: [{id: 'everyone', perms: 31, scheme: 'world'}]}),
    /world id "everyone" is not "anyone"/,
  ],
  [
    'a digest id without a hash',
    () => withRecord(1, {acl: [{id: 'user', perms: 31, scheme: 'digest'}]}),
    /digest id "user" is not user:hash/,
  ],
  [
    'an ip id that is no address',
    () => withRecord(1, {acl: [{id: '10.0.0/8', perms: 31, scheme: 'ip'}]}),
    /ip id "10\.0\.0\/8" is not an address/,
  ],
  ['an empty ACL', () => withRecord(1, {acl: []}), /its ACL is empty/],
  [
    'an ACL entry twice',
    () =>
      withRecord(1, {
        acl: [
          {id: 'anyone', perms: 31, scheme: 'world'},
          {id: 'anyone', perms: 31, scheme: 'world'},
        ],
      }),
    /ACL entry 2 repeats an earlier one/,
  ],
  ['an unknown type', () => withRecord(1, {type: 'symlink'}), /znodes\/a\/\.znode\.json: unknown type "symlink"/],
  ['a negative TTL', () => withRecord(1, {ttl: -5, type: 'ttl'}), /TTL -5 outside 1-1099511627775/],
  ['a TTL of 0', () => withRecord(1, {ttl: 0, type: 'ttl'}), /TTL 0 outside/],
  ['a TTL above ZooKeeper maximum', () => withRecord(1, {ttl: 2 ** 40, type: 'ttl'}), /TTL 1099511627776 outside/],
  ['a TTL that is not an integer', () => withRecord(1, {ttl: 1.5, type: 'ttl'}), /TTL 1\.5 is not an integer/],
  ['a TTL that is a string', () => withRecord(1, {ttl: '1000', type: 'ttl'}), /TTL "1000" is not an integer/],
  ['a TTL on a persistent znode', () => withRecord(1, {ttl: 1000}), /a TTL on a persistent znode/],
  ['a TTL znode without a TTL', () => withRecord(1, {type: 'ttl'}), /a TTL znode without a TTL/],
  [
    'a child of an ephemeral znode',
    () =>
      archiveOf(
        base()
          .slice(0, 3)
          .map((znode, index) =>
            index === 1 ? {...znode, record: {...znode.record, type: 'ephemeral' as const}} : znode,
          ),
      ),
    /"\/a\/b" is the child of an ephemeral znode/,
  ],
  ['stat: null', () => withRecord(1, {stat: null}), /znodes\/a\/\.znode\.json: its stat is not an object/],
  [
    'a stat without czxid',
    () => withRecord(1, {stat: {...plainRecord('/x').stat, czxid: undefined}}),
    /stat\.czxid is not a zxid/,
  ],
  [
    'a stat with a string version',
    () => withRecord(1, {stat: {...plainRecord('/x').stat, version: '1'}}),
    /stat\.version is not a 32-bit integer/,
  ],
  [
    'a stat with a negative numChildren',
    () => withRecord(1, {stat: {...plainRecord('/x').stat, numChildren: -1}}),
    /stat\.numChildren is not a count/,
  ],
  [
    'a stat with a bad mtime',
    () => withRecord(1, {stat: {...plainRecord('/x').stat, mtime: 'yesterday'}}),
    /stat\.mtime is not a time/,
  ],
  [
    'a path that is not a string',
    () => withRecord(1, {path: 42}),
    /record lacks path, type or acl|its path is not a string/,
  ],
  ['"sequential" that is not a boolean', () => withRecord(1, {sequential: 'yes'}), /"sequential" is not a boolean/],
  [
    'a nextSequence that is not an integer',
    () => withRecord(1, {nextSequence: 2.5}),
    /nextSequence 2\.5 is not an integer/,
  ],
  ['a nextSequence that is a string', () => withRecord(1, {nextSequence: '3'}), /nextSequence "3" is not an integer/],
  [
    'a nextSequence below numChildren',
    () => withRecord(1, {nextSequence: 1, stat: {...plainRecord('/x').stat, numChildren: 2}}),
    /nextSequence 1 is below stat\.numChildren 2/,
  ],
  [
    'a nextSequence of 2^31',
    () => withRecord(1, {nextSequence: 2 ** 31}),
    /nextSequence 2147483648 is not below 2\^31/,
  ],
  [
    'format version 0',
    () => archiveOf(base(), {...plainHeader(root), formatVersion: 0}),
    /backup\.json: format version 0 is not a positive integer/,
  ],
  [
    'format version -1',
    () => archiveOf(base(), {...plainHeader(root), formatVersion: -1}),
    /format version -1 is not a positive integer/,
  ],
  [
    'format version 0.5',
    () => archiveOf(base(), {...plainHeader(root), formatVersion: 0.5}),
    /format version 0\.5 is not a positive integer/,
  ],
  [
    'format version "1"',
    () => archiveOf(base(), {...plainHeader(root), formatVersion: '1' as unknown as number}),
    /format version "1" is not a positive integer/,
  ],
  [
    'a root that is not a znode path',
    () =>
      archiveOf(
        base().map((znode) => ({
          ...znode,
          record: {...znode.record, path: znode.record.path.replace('/app', '/app/')},
        })),
        {...plainHeader('/app/'), formatVersion: 1},
      ),
    /the header's root path "\/app\/" is invalid/,
  ],
]

describe('archive reader: hostile archives with valid checksums', () => {
  it('reads the untouched base archive (the cases below change one thing each)', async () => {
    expect(await readAll(Readable.from([encodeArchive(archiveOf(base()))]))).to.deep.equal({znodes: 4})
  })

  it('reads records with and without nextSequence (archives from before it was recorded), up to 2^31 - 1', async () => {
    const archive = archiveOf(
      base().map((znode, at) => (at === 1 ? {...znode, record: {...znode.record, nextSequence: 2 ** 31 - 1}} : znode)),
    )
    expect(await readAll(Readable.from([encodeArchive(archive)]))).to.deep.equal({znodes: 4})
  })

  for (const [name, make, problem] of IMPOSSIBLE) {
    it(`refuses ${name}, before yielding any znode a restore could act on`, async () => {
      const {error, znodes} = await readAll(Readable.from([encodeArchive(make())]))
      expect(error, 'an ArchiveError').to.be.instanceOf(ArchiveError)
      expect(error!.message).to.match(/^test\.tar\.gz failed verification: /)
      expect(error!.message).to.match(problem)
      // The reader yields as it goes; a restore verifies the whole archive before it acts.
      expect(znodes).to.be.lessThan(base().length + 1)
    })
  }

  it('never puts a control character of a path into its message raw', async () => {
    const error = await refusal(
      encodeArchive(archiveOf([...base(), record(`${root}/\u001B]0;owned\u0007\r\n\u009B2J\u202E`)])),
    )
    expect(error?.message).to.match(/is invalid/)

    expect(error?.message).not.to.match(/[\u0000-\u001F\u007F-\u009F\u202E]/)
  })

  it('refuses a record path without a leading / under an archive rooted at /, quickly', async () => {
    const znodes = [
      {data: Buffer.alloc(0), record: plainRecord('/')},
      {data: Buffer.alloc(0), member: 'znodes/bc/.znode.json', record: plainRecord('abc')},
    ]
    const error = await refusal(encodeArchive({header: plainHeader('/'), znodes}))
    expect(error?.message).to.match(/znodes\/bc\/\.znode\.json: path "abc" is invalid: it must start with \//)
  })
})

describe('archive reader: bytes after the archive, and endless input', () => {
  const good = encodeArchive(archiveOf(base()))
  const plainGood = gunzipSync(good)

  it('accepts the padding tar writes: a whole 10240-byte record, in gzip and plain', async () => {
    const padded = Buffer.concat([plainGood, Buffer.alloc(10_240 - (plainGood.length % 10_240))])
    expect((await readAll(Readable.from([gzipSync(padded)]))).error).to.equal(undefined)
    expect((await readAll(Readable.from([padded]))).error).to.equal(undefined)
  })

  it('refuses more than one record of zeros after the end-of-archive marker', async () => {
    const error = await refusal(gzipSync(Buffer.concat([plainGood, Buffer.alloc(10_241)])))
    expect(error?.message).to.match(/unexpected bytes after the end of the archive/)
  })

  it('refuses a non-zero byte after the end-of-archive marker', async () => {
    expect((await refusal(gzipSync(Buffer.concat([plainGood, Buffer.from([0, 0, 1])]))))?.message).to.match(
      /unexpected bytes after the end of the archive/,
    )
  })

  it('refuses a second gzip member, even one of zeros only', async () => {
    expect((await refusal(Buffer.concat([good, gzipSync(Buffer.alloc(512))])))?.message).to.match(
      /a second gzip member/,
    )
    expect((await refusal(Buffer.concat([good, good])))?.message).to.match(/a second gzip member/)
  })

  it('refuses zero bytes after the gzip stream (zlib would ignore them)', async () => {
    expect((await refusal(Buffer.concat([good, Buffer.alloc(16)])))?.message).to.match(
      /unexpected bytes after the end of the gzip stream/,
    )
  })

  it('refuses 32 MiB of zeros after a valid plain archive having read at most 1 MiB of them', async () => {
    const {stream, taken} = counted(
      (function* () {
        yield plainGood
        yield* zeros(32 * 1024 * 1024)
      })(),
    )
    const {error} = await readAll(stream)
    expect(error?.message).to.match(/unexpected bytes after the end of the archive/)
    expect(taken() - plainGood.length).to.be.lessThan(1024 * 1024)
  })

  it('refuses 32 MiB of zeros after a valid archive, gzip compressed', async () => {
    const {error} = await readAll(Readable.from([gzipSync(Buffer.concat([plainGood, Buffer.alloc(32 * 1024 * 1024)]))]))
    expect(error?.message).to.match(/unexpected bytes after the end of the archive/)
  })

  it('refuses `gzip -c /dev/zero` (endless) having read little of it', async () => {
    const gzip = createGzip()
    Readable.from(zeros(Number.MAX_SAFE_INTEGER)).pipe(gzip)
    const {stream, taken} = counted(gzip)
    const {error} = await readAll(stream)
    gzip.destroy()
    expect(error?.message).to.match(/unexpected bytes after the end of the archive/)
    expect(taken()).to.be.lessThan(1024 * 1024)
  })

  it('refuses 64 MiB of gzipped zeros having read a small part of it', async () => {
    const bytes = gzipSync(Buffer.alloc(64 * 1024 * 1024))
    const {stream, taken} = counted(
      (function* () {
        for (let offset = 0; offset < bytes.length; offset += 1024) yield bytes.subarray(offset, offset + 1024)
      })(),
    )
    const {error} = await readAll(stream)
    expect(error?.message).to.match(/unexpected bytes after the end of the archive/)
    expect(taken()).to.be.lessThan(bytes.length / 2)
  })

  it('reads a plain (uncompressed) archive, told by its bytes not its name', async () => {
    expect(await readAll(Readable.from([plainGood]))).to.deep.equal({znodes: 4})
  })

  it('refuses a plain archive that ends without the end-of-archive marker', async () => {
    expect((await refusal(plainGood.subarray(0, -1024)))?.message).to.match(/ends before the end-of-archive marker/)
  })
})

describe('hostile archives through the CLI: zk inspect and zk restore --dry-run', function () {
  this.timeout(60_000)
  let dir: string
  let hosts: string

  before(async () => {
    hosts = (await sharedEnsemble()).connectString
    dir = await tempDir('hostile')
  })

  after(() => removeDir(dir))

  it('a record path without a leading / under / is refused by inspect and restore --dry-run in seconds (it looped at 100% CPU)', async function () {
    this.timeout(30_000)
    const file = join(dir, 'no-slash.tar.gz')
    const znodes = [
      {data: Buffer.alloc(0), record: plainRecord('/')},
      {data: Buffer.alloc(0), member: 'znodes/bc/.znode.json', record: plainRecord('abc')},
    ]
    await writeFile(file, encodeArchive({header: plainHeader('/'), znodes}))
    const inspect = await dcos(['zk', 'inspect', file])
    expectExit(inspect, 1)
    expect(inspect.stdout + inspect.stderr).to.match(/path "abc" is invalid/)
    const target = uniquePath('hostile')
    const restore = await dcos(['zk', 'restore', file, '--zk', zkUri(hosts, target), '--dry-run'])
    expectExit(restore, 1)
    expect(restore.stdout + restore.stderr).to.match(/path "abc" is invalid/)
  })

  it('an impossible tree is refused by inspect ("Integrity OK" before) and a restore leaves the live tree alone', async () => {
    const file = join(dir, 'orphan.tar.gz')
    const target = uniquePath('hostile')
    const session = await connect(hosts)
    try {
      await session.create(target, Buffer.from('live'), 0)
      await session.create(`${target}/kept`, Buffer.from('kept'), 0)
      const archive = archiveOf([...base(), record(`${root}/x/y`)])
      await writeFile(file, tarGz(encodeArchiveMembers(archive)))
      const inspect = await dcos(['zk', 'inspect', file])
      expectExit(inspect, 1)
      expect(inspect.stdout + inspect.stderr).not.to.match(/Integrity OK/)
      const restore = await dcos(['zk', 'restore', file, '--zk', zkUri(hosts, target), '--yes', '--no-safety-backup'])
      expectExit(restore, 1)
      expect(restore.stdout + restore.stderr).to.match(/the parent of "\/x\/y" is not recorded before it/)
      expect((await session.getData(`${target}/kept`)).data.toString()).to.equal('kept')
    } finally {
      await session.close()
    }
  })
})
