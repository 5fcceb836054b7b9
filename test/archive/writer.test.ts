/**
 * The archive writer's own tar blocks: headers written from a template must be node-tar's byte for
 * byte, and an archive of every kind of entry (empty, block-sized, larger than a write chunk, long
 * and non-ASCII names) must be what GNU tar lists and extracts, and what the reader verifies.
 */
import {expect} from 'chai'
import {execFileSync} from 'node:child_process'
import {mkdtempSync, readFileSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {Readable} from 'node:stream'
// eslint-disable-next-line n/no-unsupported-features/node-builtins -- the tests run on Node 20.15+; zlib's own CRC-32 is the independent check
import {crc32, gunzipSync} from 'node:zlib'

import {entryDirectory} from '../../src/archive/format.js'
import {crc32Combine} from '../../src/archive/gzip-frame.js'
import {readArchive} from '../../src/archive/reader.js'
import {FileHeaders, tarHeader} from '../../src/archive/tar.js'
import {type CraftedZnode, writeCraftedArchive} from '../helpers/craft.js'

const FIELDS = {gid: 0, mode: 0o644, mtime: new Date('2026-01-02T03:04:05.678Z'), type: 'File' as const, uid: 0}
const SIZES = [0, 1, 511, 512, 513, 128 * 1024, 8 ** 10 - 1, 8 ** 10, 8 ** 11 - 1, 8 ** 11]

describe('archive writer: tar headers from a template', () => {
  const headers = new FileHeaders(FIELDS)

  it("writes node-tar's header bytes for every short ASCII name and every size", () => {
    for (let length = 0; length < 100; length++) {
      const path = 'znodes/a-b_c.d%2E~'.repeat(8).slice(0, length)
      for (const size of SIZES) {
        const block = Buffer.alloc(1024)
        const written = headers.writeInto(block, 512, path, size)
        if (size >= 8 ** 11) {
          expect(written, `${size} bytes`).to.equal(false)
          continue
        }

        expect(written, path).to.equal(true)
        expect(block.subarray(512).equals(tarHeader({...FIELDS, path, size})), `${path}, ${size} bytes`).to.equal(true)
        expect(block.subarray(0, 512).equals(Buffer.alloc(512))).to.equal(true)
      }
    }
  })

  it('leaves names of 100 bytes or more and non-ASCII names to node-tar (prefix or pax), with the same result', () => {
    const names = [
      'n'.repeat(100),
      `znodes/${'deep/'.repeat(40)}.znode.json`,
      'znodes/caf\u00E9/.data',
      'znodes/\u{1F600}/.znode.json',
      `znodes/${'x'.repeat(300)}/.data`,
    ]
    for (const path of names) {
      expect(headers.writeInto(Buffer.alloc(512), 0, path, 10), path).to.equal(false)
      expect(headers.header(path, 10).equals(tarHeader({...FIELDS, path, size: 10})), path).to.equal(true)
    }
  })
})

describe('archive writer: what it writes, read by GNU tar and by the reader', () => {
  let dir: string
  const znodes = [
    {path: '/'},
    {data: 'x'.repeat(512), path: '/block'},
    {data: 'y'.repeat(300 * 1024), path: '/larger-than-a-chunk'},
    {data: '', path: '/empty'},
    {data: 'caf\u00E9', path: '/caf\u00E9'},
    {data: 'dot', path: '/.hidden'},
    {data: 'percent', path: '/100%'},
    {data: 'long', path: `/${'n'.repeat(120)}`},
    ...Array.from({length: 600}, (_, index) => ({data: `v${index}`.repeat(index % 50), path: `/many-${index}`})),
  ]

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'dcos-writer-'))
    await writeCraftedArchive(join(dir, 'a.tar.gz'), '/', znodes)
  })

  after(() => rmSync(dir, {force: true, recursive: true}))

  it('is a gzip tar that GNU tar lists and extracts, each data entry holding the znode data', () => {
    const archive = join(dir, 'a.tar.gz')
    const listed = execFileSync('tar', ['tzf', archive], {encoding: 'utf8'}).split('\n').filter(Boolean)
    const withData = znodes.filter((znode) => (znode.data ?? '').length > 0)
    expect(listed.filter((name) => name.endsWith('/.znode.json'))).to.have.length(znodes.length)
    expect(listed.filter((name) => name.endsWith('/.data'))).to.have.length(withData.length)
    execFileSync('tar', ['xzf', archive, '-C', dir])
    for (const znode of withData) {
      expect(readFileSync(join(dir, `${entryDirectory(znode.path)}/.data`), 'utf8'), znode.path).to.equal(znode.data)
    }
  })

  it('verifies: every record, the tree digest, the manifest and SHA256SUMS', async () => {
    const read: Array<{data: string; path: string}> = []
    for await (const item of readArchive(Readable.from([readFileSync(join(dir, 'a.tar.gz'))]), 'a.tar.gz')) {
      if (item.kind === 'znode') read.push({data: item.data.toString(), path: item.relativePath})
    }

    expect(read).to.deep.equal(znodes.map((znode) => ({data: znode.data ?? '', path: znode.path})))
  })
})

describe('archive writer: chunks compressed apart, one gzip member', () => {
  it('combines CRC-32 values as zlib computes the CRC-32 of the bytes joined', () => {
    const bytes = Buffer.from(Array.from({length: 70_000}, (_, index) => (index * 7919) % 251))
    for (const cut of [0, 1, 511, 512, 4096, 65_537, bytes.length]) {
      const a = bytes.subarray(0, cut)
      const b = bytes.subarray(cut)
      expect(crc32Combine(crc32(a), crc32(b), b.length), `cut at ${cut}`).to.equal(crc32(bytes))
    }
  })

  it('writes an archive of many chunks that gzip, GNU tar, node and the strict reader take as one stream', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'dcos-writer-chunks-'))
    try {
      // About 5 MiB of tar: several chunks, and a record larger than a chunk (hashed apart) between them.
      const znodes: CraftedZnode[] = [
        {path: '/'},
        ...Array.from({length: 1000}, (_, index) => ({
          data: `${index}:`.repeat(200 + (index % 300)),
          path: `/chunk-${index}`,
        })),
        {data: 'z'.repeat(1536 * 1024), path: '/over-a-chunk'},
        // A record whose JSON could outgrow a chunk: hashed here, then followed in its chunk by records the workers hash.
        {
          acl: Array.from({length: 4000}, (_, index) => ({
            id: `user-${index}:${'h'.repeat(90)}`,
            perms: 31,
            scheme: 'digest',
          })),
          data: 'acl',
          path: '/long-record',
        },
        ...Array.from({length: 1000}, (_, index) => ({
          data: `${index}:`.repeat(200 + (index % 300)),
          path: `/later-${index}`,
        })),
      ]
      const archive = join(dir, 'many.tar.gz')
      await writeCraftedArchive(archive, '/', znodes)
      execFileSync('gzip', ['-t', archive])
      const listed = execFileSync('tar', ['tzf', archive], {encoding: 'utf8', maxBuffer: 1 << 24})
        .split('\n')
        .filter(Boolean)
      expect(listed.filter((name) => name.endsWith('/.znode.json'))).to.have.length(znodes.length)
      const plain = gunzipSync(readFileSync(archive))
      expect(plain.length).to.be.greaterThan(4 * 1024 * 1024)
      const read: Array<{data: string; path: string}> = []
      for await (const item of readArchive(Readable.from([readFileSync(archive)]), 'many.tar.gz')) {
        if (item.kind === 'znode') read.push({data: item.data.toString(), path: item.relativePath})
      }

      expect(read).to.deep.equal(znodes.map((znode) => ({data: znode.data ?? '', path: znode.path})))
    } finally {
      rmSync(dir, {force: true, recursive: true})
    }
  })
})
