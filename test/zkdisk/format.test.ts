/**
 * The readers of ZooKeeper's file formats on bytes written as ZooKeeper writes them: checksums, the
 * end of a preallocated log, torn tails versus corruption, snapshot records, compression.
 */
import {expect} from 'chai'
import {randomBytes} from 'node:crypto'
import {gzipSync} from 'node:zlib'

import {
  adler32,
  Adler32,
  decodeAll,
  DiskFormatError,
  loadState,
  type LogFile,
  nodeTypeOfOwner,
  OpCode,
  readLogFile,
  readSnapshot,
  readTxnLog,
  snappyStreamDecompress,
  snappyUncompress,
  wholeEntries,
} from '../../src/zkdisk/index.js'
import {wholeEntriesOfRanges} from '../../src/zkdisk/txnlog.js'
import {BASE_ZNODES, entry, logBytes, OPEN, record, snapshotBytes, txnBytes} from './synthetic.js'

/** Adler-32 by its definition, reducing after every byte. */
function slowAdler32(bytes: Buffer): number {
  let a = 1
  let b = 0
  for (const byte of bytes) {
    a = (a + byte) % 65_521
    b = (b + a) % 65_521
  }

  return b * 65_536 + a
}

const create = (zxid: bigint, path: string, data = '') =>
  entry(txnBytes(OpCode.create, {zxid}, record.create(path, {data})))

describe('zkdisk formats', () => {
  describe('adler32', () => {
    it('computes java.util.zip.Adler32 values', () => {
      expect(adler32(Buffer.alloc(0))).to.equal(1)
      expect(adler32(Buffer.from('Wikipedia'))).to.equal(0x11_e6_03_98)
      expect(adler32(Buffer.from('abc'))).to.equal(0x02_4d_01_27)
    })

    it('agrees with the definition over long runs of 0xff and random bytes, and over any range', () => {
      const bytes = Buffer.concat([Buffer.alloc(20_000, 0xff), randomBytes(50_000)])
      expect(adler32(bytes)).to.equal(slowAdler32(bytes))
      expect(adler32(bytes, 5551, 17_000)).to.equal(slowAdler32(bytes.subarray(5551, 17_000)))
    })

    it('agrees with the definition over ranges long enough for zlib, in pieces and whole, running on from a prefix', () => {
      // Past 4 MiB: more than one of zlib's pieces, each appended to the sum of those before.
      const bytes = Buffer.concat([
        randomBytes(100_000),
        Buffer.alloc(4 * 1024 * 1024 + 70_000, 0xff),
        randomBytes(300_001),
      ])
      expect(adler32(bytes)).to.equal(slowAdler32(bytes))
      for (const [start, end] of [
        [0, 65_536],
        [1, 65_538],
        [99_999, 4 * 1024 * 1024 + 200_000],
        [4_000_000, bytes.length],
      ]) {
        expect(adler32(bytes, start, end), `[${start}, ${end})`).to.equal(slowAdler32(bytes.subarray(start, end)))
      }

      const running = new Adler32()
        .update(bytes, 0, 10)
        .update(bytes, 10, 80_000)
        .update(bytes, 80_000, bytes.length - 5)
        .update(bytes, bytes.length - 5)
      expect(running.value).to.equal(slowAdler32(bytes))
    })
  })

  describe('snappy', () => {
    // A literal "abcd", then a copy of 8 bytes from 4 back: overlapping, as Snappy encodes runs.
    const block = Buffer.from([12, 0x0c, 0x61, 0x62, 0x63, 0x64, 0x11, 0x04])

    it('decompresses raw blocks with literals and overlapping back references', () => {
      expect(snappyUncompress(block).toString()).to.equal('abcdabcdabcd')
    })

    it('decompresses snappy-java streams: header, chunks, a repeated header', () => {
      const header = Buffer.from([0x82, 0x53, 0x4e, 0x41, 0x50, 0x50, 0x59, 0x00, 0, 0, 0, 1, 0, 0, 0, 1])
      const chunk = Buffer.concat([Buffer.from([0, 0, 0, block.length]), block])
      expect(snappyStreamDecompress(Buffer.concat([header, chunk, header, chunk])).toString()).to.equal(
        'abcd'.repeat(6),
      )
      expect(() => snappyStreamDecompress(Buffer.concat([header, chunk.subarray(0, 6)]))).to.throw(/runs past the end/)
      expect(() => snappyUncompress(Buffer.from([12, 0x11, 0x04]))).to.throw(/invalid back reference/)
    })
  })

  describe('nodeTypeOfOwner', () => {
    it('reads the node types ZooKeeper encodes in ephemeralOwner', () => {
      expect(nodeTypeOfOwner(0n)).to.deep.equal({type: 'persistent'})
      expect(nodeTypeOfOwner(0x80_00_00_00_00_00_00_00n)).to.deep.equal({type: 'container'})
      expect(nodeTypeOfOwner(0xff_00_00_00_00_00_0e_10n)).to.deep.equal({ttl: 3600, type: 'ttl'})
      expect(nodeTypeOfOwner(0x01_00_01_23_45_67_89_abn)).to.deep.equal({type: 'ephemeral'})
      expect(nodeTypeOfOwner(0xff_01_00_00_00_00_00_01n)).to.deep.equal({type: 'ephemeral'})
    })
  })

  describe('readLogFile (a log read in place, the entries the snapshot holds never held)', () => {
    const entries = [
      create(1n, '/a', 'one'),
      create(2n, '/b', 'x'.repeat(3000)),
      create(3n, '/c', 'three'),
      create(4n, '/d', 'four'),
    ]
    const second = 16 + entries[0].length
    /** A file over `bytes` whose reads return at most `most` bytes each, as reads of a file may. */
    const file = (bytes: Buffer, most = 7): LogFile => ({
      name: 'log.1',
      read: (target, position, length) => bytes.copy(target, 0, position, position + Math.min(length, most)),
      size: bytes.length,
    })
    const outcome = (read: () => unknown) => {
      try {
        return read()
      } catch (error) {
        return (error as Error).message
      }
    }

    it('reads what readTxnLog reads of the same bytes, whatever the first zxid kept, damage and padding included', () => {
      const whole = logBytes(entries, 5000)
      const wrongChecksum = Buffer.from(whole)
      wrongChecksum[second + 20] ^= 0x01
      const withoutEnd = Buffer.from(whole)
      withoutEnd[second + entries[1].length - 1] = 0x41
      const short = entry(txnBytes(OpCode.create, {zxid: 2n}, record.none())).subarray(0, 20)
      const files = [
        whole,
        logBytes(entries),
        wrongChecksum,
        withoutEnd,
        whole.subarray(0, second + 30),
        logBytes([entries[0], short, entries[2]]),
        whole.subarray(0, 16),
        whole.subarray(0, 10),
        // Whole entries that do not decode: their errors must name the same file offsets under any window.
        logBytes([...entries.slice(0, 2), entry(txnBytes(99, {zxid: 3n}, record.none()))], 5000),
        logBytes([
          ...entries.slice(0, 2),
          entry(txnBytes(OpCode.setData, {zxid: 3n}, (writer) => writer.string('/a'))),
        ]),
      ]
      for (const [index, bytes] of files.entries()) {
        for (const skipBefore of [undefined, 0n, 1n, 2n, 3n, 4n, 5n]) {
          const expected = outcome(() =>
            readTxnLog({bytes, name: 'log.1'}, skipBefore === undefined ? {} : {skipBefore}),
          )
          expect(
            outcome(() => decodeAll(readLogFile(file(bytes), skipBefore))),
            `file ${index}, skipBefore ${skipBefore}`,
          ).to.deep.equal(expected)
          expect(
            outcome(() => decodeAll(readLogFile(file(bytes, 1 << 20), skipBefore))),
            `file ${index}, skipBefore ${skipBefore}, whole reads`,
          ).to.deep.equal(expected)
          for (const windowBytes of [1, 64, 1000])
            expect(
              outcome(() => decodeAll(readLogFile(file(bytes, 1 << 20), skipBefore, windowBytes))),
              `file ${index}, skipBefore ${skipBefore}, a window of ${windowBytes} bytes`,
            ).to.deep.equal(expected)
        }
      }
    })

    it('holds one window of the file (or one entry longer than it), reading its zero tail once and in bounded reads', () => {
      const bytes = logBytes(entries, 5 * 1024 * 1024)
      const reads: number[] = []
      const counted: LogFile = {
        name: 'log.1',
        read(target, position, length) {
          reads.push(length)
          return bytes.copy(target, 0, position, position + length)
        },
        size: bytes.length,
      }
      const log = readLogFile(counted, undefined, 1000)
      // The zero tail in 1 MiB reads, once: the scan stops at the first entry that is not whole.
      expect(Math.max(...reads)).to.equal(1024 * 1024)
      expect(reads.reduce((sum, length) => sum + length, 0)).to.be.below(bytes.length + 2 * 1024 * 1024)
      // Decoded after the scan: an entry is read from the file again when it is asked for.
      reads.length = 0
      expect(log.txn(1).txn).to.include({path: '/b'})
      expect(reads).to.have.length.above(0)
      expect(decodeAll(log).txns.map(({header}) => header.zxid)).to.deep.equal([1n, 2n, 3n, 4n])
    })

    it('names a corrupt entry by its offset in the file, whatever window held it', () => {
      const bytes = logBytes(entries, 5000)
      bytes[second + entries[1].length + 20] ^= 0x01
      const message = (windowBytes: number) => outcome(() => readLogFile(file(bytes, 1 << 20), undefined, windowBytes))
      expect(message(64)).to.equal(message(1 << 20))
      expect(message(64)).to.match(
        new RegExp(`^log\\.1 at byte ${second + entries[1].length}: Adler-32 checksum mismatch`),
      )
    })
  })

  describe('wholeEntriesOfRanges (a log cut in bounded reads, its preallocated tail never read)', () => {
    const MiB = 1024 * 1024
    const big = (zxid: bigint, bytes: number, fill = 'x') => create(zxid, `/big${zxid}`, fill.repeat(bytes))
    // Entries across the 1 MiB and 2 MiB reads, one of zeros only longer than the first read, then the zero tail.
    const entries = [
      big(1n, 700_000),
      big(2n, 700_000),
      big(3n, 1.5 * MiB, '\0'),
      big(4n, 900_000),
      create(5n, '/e', 'e'),
    ]
    const cases: Array<[string, Buffer]> = [
      ['whole entries and a long zero tail', logBytes(entries, 8 * MiB)],
      ['no tail', logBytes(entries)],
      ['a torn last entry', logBytes(entries).subarray(0, logBytes(entries).length - 3)],
      [
        'a wrong checksum in the middle',
        logBytes([...entries.slice(0, 3), entry(entries[3].subarray(12, -1), 7n), entries[4]], MiB),
      ],
      [
        'an entry ending exactly at the first read',
        logBytes([big(1n, MiB - 16 - big(1n, 0).length), create(2n, '/b', 'b')], 4 * MiB),
      ],
    ]

    for (const [name, bytes] of cases)
      it(`cuts where a read of the whole file cuts: ${name}`, () => {
        let largest = 0
        let read = 0
        const cut = wholeEntriesOfRanges('log.1', bytes.length, (position, length) => {
          largest = Math.max(largest, length)
          read += length
          return bytes.subarray(position, position + length)
        })
        const whole = wholeEntries({bytes, name: 'log.1'})
        expect({end: cut.end, last: cut.last}).to.deep.equal({end: whole.end, last: whole.last})
        expect(largest).to.be.at.most(Math.max(MiB, ...entries.map((one) => one.length)))
        expect(read).to.be.at.most(2 * whole.end + 2 * MiB)
      })

    it('reads a preallocated log only a little past its last entry', () => {
      const bytes = logBytes([create(1n, '/a', 'one')], 64 * MiB)
      const reads: number[][] = []
      wholeEntriesOfRanges('log.1', bytes.length, (position, length) => {
        reads.push([position, length])
        return bytes.subarray(position, position + length)
      })
      expect(reads).to.deep.equal([
        [0, 16],
        [16, MiB],
      ])
    })
  })

  describe('readTxnLog', () => {
    const entries = [create(1n, '/a', 'one'), create(2n, '/b', 'two'), create(3n, '/c', 'three')]
    const offsets = [16, 16 + entries[0].length, 16 + entries[0].length + entries[1].length]
    const read = (bytes: Buffer) => readTxnLog({bytes, name: 'log.1'})

    it('reads every entry up to the zero padding of a preallocated file, or to the end of the file', () => {
      for (const padding of [0, 1, 5000]) {
        const log = read(logBytes(entries, padding))
        expect(log.txns.map((txn) => [txn.offset, txn.header.zxid])).to.deep.equal([
          [offsets[0], 1n],
          [offsets[1], 2n],
          [offsets[2], 3n],
        ])
        expect(log.txns[2].txn).to.deep.include({data: Buffer.from('three'), kind: 'create', path: '/c'})
        expect(log.end).to.equal(16 + Buffer.concat(entries).length)
        expect(log.torn).to.equal(undefined)
      }
    })

    it('reads a torn tail up to the last whole entry: cut short, without its 0x42, with a wrong checksum', () => {
      const whole = logBytes(entries, 1000)
      const last = offsets[2]
      const withoutEnd = Buffer.from(whole)
      withoutEnd[last + entries[2].length - 1] = 0
      const wrongChecksum = Buffer.from(whole)
      wrongChecksum[last + 20] ^= 0xff
      const lengthOnly = Buffer.concat([
        whole.subarray(0, last),
        Buffer.from([0, 0, 0, 0, 0, 0, 0, 9]),
        Buffer.alloc(100),
      ])
      const cases: Array<[Buffer, RegExp]> = [
        [whole.subarray(0, last + 5), /ends inside the entry header/],
        [whole.subarray(0, last + 30), /ends inside the entry \(\d+ bytes announced/],
        [withoutEnd, /lacks its end-of-record byte/],
        [wrongChecksum, /Adler-32 checksum mismatch in the entry: stored 0x[0-9a-f]+, computed 0x[0-9a-f]+/],
        [lengthOnly, /invalid entry length 0/],
      ]
      for (const [bytes, reason] of cases) {
        const log = read(bytes)
        expect(log.txns.map((txn) => txn.header.zxid)).to.deep.equal([1n, 2n])
        expect(log.torn?.offset).to.equal(last)
        expect(log.torn?.reason).to.match(reason)
        expect(log.end).to.equal(last)
      }
    })

    it('refuses damage that more data follows: a wrong checksum, a missing 0x42, a zero length', () => {
      const whole = logBytes(entries, 100)
      const wrongChecksum = Buffer.from(whole)
      wrongChecksum[offsets[1] + 20] ^= 0x01
      const withoutEnd = Buffer.from(whole)
      withoutEnd[offsets[1] + entries[1].length - 1] = 0x41
      const zeroEntry = logBytes([entries[0], Buffer.alloc(13), entries[2]])
      const cases: Array<[Buffer, number, RegExp]> = [
        [wrongChecksum, offsets[1], /Adler-32 checksum mismatch in the entry/],
        [withoutEnd, offsets[1], /the entry lacks its end-of-record byte 0x42/],
        [zeroEntry, offsets[1], /invalid entry length 0/],
      ]
      for (const [bytes, offset, reason] of cases) {
        expect(() => read(bytes)).to.throw(
          DiskFormatError,
          new RegExp(`^log\\.1 at byte ${offset}: ${reason.source}.*the log is corrupt`),
        )
      }
    })

    it('refuses a bad magic, a short header, and a transaction it cannot decode', () => {
      const bad = logBytes(entries)
      bad.write('ZKSN', 0)
      expect(() => read(bad)).to.throw(
        DiskFormatError,
        /^log\.1 at byte 0: bad magic 0x5a4b534e, not a ZooKeeper transaction log/,
      )
      expect(() => read(Buffer.alloc(10))).to.throw(DiskFormatError, /^log\.1 at byte 0: truncated: 10 bytes/)
      const unknown = entry(txnBytes(99, {zxid: 4n}, record.none()))
      expect(() => read(logBytes([entries[0], unknown]))).to.throw(
        DiskFormatError,
        /^log\.1 at byte \d+: unknown transaction type 99/,
      )
      const truncatedRecord = entry(txnBytes(OpCode.setData, {zxid: 4n}, (writer) => writer.string('/a')))
      expect(() => read(logBytes([truncatedRecord]))).to.throw(
        DiskFormatError,
        /^log\.1 at byte \d+: truncated: an int needs 4 bytes, 0 left/,
      )
    })

    it('decodes what older servers wrote: a create without parentCVersion, a closeSession without paths', () => {
      const log = read(
        logBytes([
          entry(txnBytes(OpCode.create, {zxid: 1n}, record.createV0('/old', 'v0'))),
          entry(txnBytes(OpCode.closeSession, {zxid: 2n}, record.none())),
          entry(txnBytes(OpCode.closeSession, {zxid: 3n}, record.closeSession(['/e']))),
        ]),
      )
      expect(log.txns.map((txn) => txn.txn)).to.deep.equal([
        {acl: OPEN, data: Buffer.from('v0'), ephemeral: false, kind: 'create', parentCVersion: -1, path: '/old'},
        {kind: 'closeSession', paths2Delete: null},
        {kind: 'closeSession', paths2Delete: ['/e']},
      ])
    })

    it('decodes a multi, its digest, and says which ops ZooKeeper cannot apply inside it', () => {
      const multi = record.multi([
        [OpCode.create, record.create('/m', {data: 'x'})],
        [OpCode.check, record.check('/m', 0)],
        [OpCode.create2, record.create('/n')],
      ])
      const [{digest, txn}] = read(
        logBytes([entry(txnBytes(OpCode.multi, {zxid: 1n}, multi, {treeDigest: 0xfe_dc_ba_98n, version: 2}))]),
      ).txns
      expect(digest).to.deep.equal({treeDigest: 0xfe_dc_ba_98n, version: 2})
      expect(txn).to.deep.equal({
        kind: 'multi',
        ops: [
          {
            txn: {acl: OPEN, data: Buffer.from('x'), ephemeral: false, kind: 'create', parentCVersion: -1, path: '/m'},
            type: OpCode.create,
          },
          {txn: {kind: 'check', path: '/m', version: 0}, type: OpCode.check},
          {problem: 'type 15 is not applied inside a multi', type: OpCode.create2},
        ],
      })
    })
  })

  describe('readSnapshot', () => {
    const READ: typeof OPEN = [{id: 'anyone', perms: 1, scheme: 'world'}]
    const snapshot = {
      acls: [[7n, READ]] as Array<[bigint, typeof OPEN]>,
      digest: {digest: 0xab_cd_efn, version: 2, zxid: 0x12n},
      sessions: [[0x1_00_00_00_00_00_00_01n, 30_000]] as Array<[bigint, number]>,
      znodes: [
        ...BASE_ZNODES,
        {data: 'a', path: '/a', stat: {ctime: 5, cversion: 2, czxid: 3n, mzxid: 4n, pzxid: 6n, version: 1}},
        {acl: 7n, data: 'b', path: '/a/b', stat: {ephemeralOwner: 0x1_00_00_00_00_00_00_01n}},
      ],
    }

    it('reads the sessions, the ACL cache, the znodes from the root written as "", the digest', () => {
      const content = readSnapshot({bytes: snapshotBytes(snapshot), name: 'snapshot.10'})
      expect(content.zxid).to.equal(0x10n)
      expect(content.compression).to.equal('none')
      expect([...content.sessions]).to.deep.equal(snapshot.sessions)
      expect([...content.nodes.keys()]).to.deep.equal(['/', '/zookeeper', '/zookeeper/quota', '/a', '/a/b'])
      expect([...content.nodes.get('/')!.children!]).to.deep.equal(['zookeeper', 'a'])
      const a = content.nodes.get('/a')!
      expect(a.acl).to.deep.equal(OPEN)
      expect(a.stat).to.deep.equal({
        aversion: 0,
        ctime: 5,
        cversion: 2,
        czxid: 3n,
        ephemeralOwner: 0n,
        mtime: 0,
        mzxid: 4n,
        pzxid: 6n,
        version: 1,
      })
      expect(content.nodes.get('/a/b')!.acl).to.deep.equal(READ)
      expect(content.digest).to.deep.equal(snapshot.digest)
    })

    it("reads 3.9's last processed zxid, sealed after the digest or, with digests off, alone, and checks its seal", () => {
      const both = snapshotBytes({...snapshot, lastProcessedZxid: 0x15n})
      const withDigest = readSnapshot({bytes: both, name: 'snapshot.10'})
      expect(withDigest.digest).to.deep.equal(snapshot.digest)
      expect(withDigest.lastProcessedZxid).to.equal(0x15n)
      const alone = readSnapshot({
        bytes: snapshotBytes({...snapshot, digest: undefined, lastProcessedZxid: 0x15n}),
        name: 'snapshot.10',
      })
      expect(alone.digest).to.equal(undefined)
      expect(alone.lastProcessedZxid).to.equal(0x15n)
      expect(readSnapshot({bytes: snapshotBytes(snapshot), name: 'snapshot.10'})).not.to.have.property(
        'lastProcessedZxid',
      )

      const lastSeal = both.length - 13
      const flipped = Buffer.from(both)
      flipped[lastSeal - 1] ^= 0x01
      expect(() => readSnapshot({bytes: flipped, name: 'snapshot.10'})).to.throw(
        DiskFormatError,
        new RegExp(`^snapshot\\.10 at byte ${lastSeal}: Adler-32 checksum mismatch`),
      )
    })

    it('gives a znode whose ACL index the cache lacks (created while the snapshot was written) the ACL of its create in the log', () => {
      const stat = {czxid: 5n, mzxid: 5n, pzxid: 5n}
      const files = [
        {
          bytes: snapshotBytes({
            acls: [[1n, OPEN]],
            znodes: [...BASE_ZNODES, {acl: 1n, path: '/a'}, {acl: 2n, path: '/x', stat}],
          }),
          name: 'snapshot.4',
        },
        {
          bytes: logBytes([
            create(4n, '/a'),
            entry(txnBytes(OpCode.create, {zxid: 5n}, record.create('/x', {acl: READ}))),
          ]),
          name: 'log.4',
        },
      ]
      const state = loadState(files)
      expect(state.znodes.get('/x')!.acl).to.deep.equal(READ)
      expect(state.znodes.get('/a')!.acl).to.deep.equal(OPEN)
      // Without its create (the log cut before it) nothing tells the ACL: an error, not an empty ACL.
      const cut = [files[0], {bytes: logBytes([create(4n, '/a')]), name: 'log.4'}]
      expect(() => loadState(cut)).to.throw(DiskFormatError, /^snapshot\.4: \/x has ACL index 2, which neither/)
    })

    it('reads gzip-compressed snapshots, and hints at compression a name does not tell', () => {
      const gzipped = gzipSync(snapshotBytes(snapshot))
      expect(readSnapshot({bytes: gzipped, name: 'snapshot.10.gz'}).nodes.size).to.equal(5)
      expect(() => readSnapshot({bytes: gzipped, name: 'snapshot.10'})).to.throw(
        DiskFormatError,
        /bad magic .* it looks gzip-compressed/,
      )
    })

    it('refuses a checksum mismatch at the seal, a missing parent, an unknown ACL index, trailing bytes, a missing end', () => {
      const bytes = snapshotBytes({znodes: BASE_ZNODES})
      const sealAt = bytes.length - 13
      const flipped = Buffer.from(bytes)
      flipped[sealAt - 10] ^= 0x01
      expect(() => readSnapshot({bytes: flipped, name: 'snapshot.1'})).to.throw(
        DiskFormatError,
        new RegExp(
          `^snapshot\\.1 at byte ${sealAt}: Adler-32 checksum mismatch: stored 0x[0-9a-f]+, computed 0x[0-9a-f]+`,
        ),
      )
      const orphan = snapshotBytes({znodes: [{path: ''}, {path: '/x/y'}]})
      expect(() => readSnapshot({bytes: orphan, name: 'snapshot.1'})).to.throw(
        DiskFormatError,
        /\/x\/y comes before its parent \/x/,
      )
      // An ACL index the cache lacks is for the logs to tell (a znode created while the snapshot was written); without them it is an error.
      const unknownAcl = snapshotBytes({znodes: [{path: ''}, {acl: 3n, path: '/x'}]})
      expect(readSnapshot({bytes: unknownAcl, name: 'snapshot.1'}).aclsToResolve).to.deep.equal(new Map([['/x', 3n]]))
      expect(() => loadState([{bytes: unknownAcl, name: 'snapshot.1'}])).to.throw(
        DiskFormatError,
        /^snapshot\.1: \/x has ACL index 3, which neither the snapshot's ACL cache nor a transaction after it holds$/,
      )
      const trailing = Buffer.concat([bytes, Buffer.from([1, 2, 3])])
      expect(() => readSnapshot({bytes: trailing, name: 'snapshot.1'})).to.throw(
        DiskFormatError,
        /at byte \d+: truncated/,
      )
      const noEnd = bytes.subarray(0, sealAt - 5)
      expect(() => readSnapshot({bytes: noEnd, name: 'snapshot.1'})).to.throw(
        DiskFormatError,
        /^snapshot\.1 at byte \d+: truncated/,
      )
    })
  })
})
