/**
 * The writer's fast paths against plain implementations: recordBody must be JSON.stringify of the
 * record byte for byte, and the whole tar the writer emits must be, byte for byte, the members that
 * JSON.stringify, a Hash object and node-tar's headers give, in order, whatever chunk each lands in.
 */
import {expect} from 'chai'
import {createHash} from 'node:crypto'
import {Writable} from 'node:stream'
import {pipeline} from 'node:stream/promises'
import {gunzipSync} from 'node:zlib'

import type {Acl} from '../../src/zk/session.js'

import {
  type ArchiveHeader,
  entryDirectory,
  FORMAT_NAME,
  FORMAT_VERSION,
  isSequentialName,
  type Manifest,
  type NodeType,
  recordBody,
  type ZnodeRecord,
} from '../../src/archive/format.js'
import {TAR_END, tarHeader, tarPadding} from '../../src/archive/tar.js'
import {ArchiveWriter} from '../../src/archive/writer.js'

const STRINGS = [
  '',
  'plain',
  'quote"d',
  String.raw`back\slash`,
  'tab\there',
  'nl\n',
  '\u0000\u001F\u007F',
  'caf\u00E9',
  '\u{1F600}',
  '\u2028\u2029',
  'lone \uD800 high',
  'lone \uDC00 low',
  '</script>',
  '%2E.dot',
  '~!@#$%^&*()[]{}',
]
const TYPES: NodeType[] = ['persistent', 'container', 'ttl', 'ephemeral']
const SHARED_ACL: Acl[] = [{id: 'anyone', perms: 31, scheme: 'world'}]

/** Records as the walk, convert and the crafted archives build them, with every kind of text in every string member. */
function records(): ZnodeRecord[] {
  const made: ZnodeRecord[] = []
  for (let index = 0; index < 400; index++) {
    const text = STRINGS[index % STRINGS.length]
    const other = STRINGS[(index * 7) % STRINGS.length]
    const acl: Acl[] =
      index % 3 === 0
        ? SHARED_ACL
        : [
            {id: `user${other}:hash${text}`, perms: index % 32, scheme: 'digest'},
            {perms: 1, scheme: 'ip', id: `10.0.0.${index % 256}`} as Acl,
          ]
    const type = TYPES[index % TYPES.length]
    const ttl = type === 'ttl' ? [1, 1000, 2 ** 40 - 1][index % 3] : undefined
    made.push({
      acl,
      ...(index % 4 === 1 ? {} : {nextSequence: index % 8 === 0 ? 2 ** 31 - 1 : index % 7}),
      path: `/a${text}/b-${index}${other}`,
      sequential: index % 2 === 0,
      stat: {
        aversion: index % 5 === 0 ? -1 : index,
        ctime: index % 9 === 0 ? text : new Date(1_700_000_000_000 + index * 997).toISOString(),
        cversion: index % 4 === 0 ? -(2 ** 31) : 2 ** 31 - 1 - index,
        czxid: `0x${(2n ** 63n + BigInt(index)).toString(16)}`,
        dataLength: index * 13,
        mtime: new Date(index * 1e9).toISOString(),
        mzxid: index % 11 === 0 ? other : `0x${index.toString(16)}`,
        numChildren: index % 7,
        pzxid: '0x0',
        version: index % 6 === 0 ? -0 : index,
      },
      type,
      ...(index % 10 === 5 ? {ttl: undefined} : ttl === undefined ? {} : {ttl}),
    })
  }

  return made
}

describe('archive encoding: the hand-rolled record encoder', () => {
  it('keeps every member of a record it does not know, or whose members come in another order', () => {
    const [record] = records()
    const withMore = {...record, future: {kept: true}} as unknown as ZnodeRecord
    // eslint-disable-next-line unicorn/prefer-structured-clone -- the JSON round trip is the expectation, not a copy
    expect(JSON.parse(recordBody(withMore))).to.deep.equal(JSON.parse(JSON.stringify(withMore)))
    const {path, ...rest} = record
    const reordered = {path, ...rest} as ZnodeRecord
    expect(recordBody(reordered)).to.equal(JSON.stringify(reordered))
    const statWithMore = {...record, stat: {...record.stat, ephemeralOwner: '0'}} as unknown as ZnodeRecord
    expect(recordBody(statWithMore)).to.equal(JSON.stringify(statWithMore))
  })

  it('gives JSON.stringify of the record, byte for byte, for every kind of string, number and ACL', () => {
    for (const record of records()) {
      expect(recordBody(record), JSON.stringify(record)).to.equal(JSON.stringify(record))
      // Encoded twice: the ACL list's cached encoding is the same as the first.
      expect(Buffer.from(recordBody(record)).equals(Buffer.from(JSON.stringify(record)))).to.equal(true)
    }
  })
})

describe('archive encoding: sequential names', () => {
  it(String.raw`are those ending in ten ASCII digits, as /\d{10}$/ says`, () => {
    const names = [
      '',
      '/a',
      '/0123456789',
      '/x-000000001',
      '/x-0000000001',
      '0000000000',
      '/x-00000000\u0661',
      '/x-000000000a',
      '/\uFF10000000000',
      `/${'9'.repeat(30)}`,
      '/x-0000000001/',
    ]
    for (const name of names) expect(isSequentialName(name), JSON.stringify(name)).to.equal(/\d{10}$/.test(name))
  })
})

describe('archive encoding: the writer against a plain tar of the same members', () => {
  const header: ArchiveHeader = {
    createdAt: '2026-01-02T03:04:05.678Z',
    format: FORMAT_NAME,
    formatVersion: FORMAT_VERSION,
    options: {exclude: [], includeEphemerals: false},
    source: {hosts: ['h:2181'], root: '/'},
    tool: 'test',
    zxidStart: '0x1',
  }
  const summary = {
    changedDuringBackup: 0,
    completedAt: '2026-01-02T03:04:06.000Z',
    dataBytes: 0,
    excluded: 0,
    inconsistent: [],
    inconsistentCount: 0,
    skippedEphemerals: 0,
    vanished: 0,
    zxidEnd: '0x2',
    znodes: 0,
  }
  // Sizes around blocks and the writer's 128 KiB chunk, so entries land at every place in a chunk and across chunks.
  const SIZES = [0, 1, 511, 512, 513, 1000, 4096, 60_000, 127 * 1024, 128 * 1024 - 1100, 128 * 1024, 200 * 1024]

  function znodes(): Array<{data: Buffer; record: ZnodeRecord; relativePath: string}> {
    return records().map((record, index) => {
      const relativePath =
        index === 0
          ? '/'
          : index % 50 === 7
            ? `/${'long'.repeat(30)}-${index}`
            : `/n${STRINGS[index % STRINGS.length].replaceAll('/', '')}-${index}`
      const data = Buffer.alloc(SIZES[index % SIZES.length], index % 251)
      return {data, record: {...record, stat: {...record.stat, dataLength: data.length}}, relativePath}
    })
  }

  /** The archive's tar, built from JSON.stringify, createHash and node-tar's headers, members one after another. */
  function plainTar(
    items: ReturnType<typeof znodes>,
    mtime: Date,
    manifestOf: (treeDigest: string) => Manifest,
  ): Buffer {
    const parts: Buffer[] = []
    const member = (path: string, body: Buffer) =>
      parts.push(
        tarHeader({gid: 0, mode: 0o644, mtime, path, size: body.length, type: 'File', uid: 0}),
        body,
        tarPadding(body.length),
      )
    const jsonEntry = (value: unknown) => Buffer.from(`${JSON.stringify(value, null, 2)}\n`)
    const sha = (...bytes: Array<Buffer | string>) => {
      const hash = createHash('sha256')
      for (const part of bytes) hash.update(part)
      return hash.digest('hex')
    }

    const headerBody = jsonEntry(header)
    member('backup.json', headerBody)
    const tree = createHash('sha256')
    for (const {data, record, relativePath} of items) {
      const body = JSON.stringify(record)
      const hash = sha(body, data)
      tree.update(hash)
      member(`${entryDirectory(relativePath)}/.znode.json`, Buffer.from(`{"sha256":"${hash}",${body.slice(1)}`))
      if (data.length > 0) member(`${entryDirectory(relativePath)}/.data`, data)
    }

    const manifest = manifestOf(tree.digest('hex'))
    const manifestBody = jsonEntry(manifest)
    member('manifest.json', manifestBody)
    member(
      'SHA256SUMS',
      Buffer.from(
        `${sha(headerBody)}  backup.json\n${sha(manifestBody)}  manifest.json\n${manifest.treeDigest}  znodes/\n`,
      ),
    )
    parts.push(TAR_END)
    return Buffer.concat(parts)
  }

  it('writes the same tar bytes as the plain members, with the same tree digest', async () => {
    const items = znodes()
    const writer = new ArchiveWriter(header)
    const chunks: Buffer[] = []
    const done = pipeline(
      writer.output,
      new Writable({
        write(chunk: Buffer, _encoding, callback) {
          chunks.push(chunk)
          callback()
        },
      }),
    )
    for (const {data, record, relativePath} of items) {
      await writer.addZnode(relativePath, record, data)
    }

    const manifest = await writer.finish(summary)
    await done
    const tar = gunzipSync(Buffer.concat(chunks))
    // The writer's mtime, to the millisecond as its pax headers give it (the ustar field keeps whole seconds).
    const paxMtime = /\d+ mtime=(\d+(?:\.\d+)?)\n/.exec(tar.toString('latin1'))
    expect(paxMtime, 'a pax header').to.not.equal(null)
    const mtime = new Date(Number(paxMtime![1]) * 1000)
    let treeDigest = ''
    const expected = plainTar(items, mtime, (digest) => ({...header, ...summary, treeDigest: (treeDigest = digest)}))
    expect(manifest.treeDigest).to.equal(treeDigest)
    expect(tar.length).to.equal(expected.length)
    const first = tar.findIndex((byte, index) => byte !== expected[index])
    expect(first, `first differing byte at ${first}`).to.equal(-1)
  })
})
