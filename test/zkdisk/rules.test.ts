/**
 * How a replay follows ZooKeeper (FileTxnSnapLog.restore, DataTree.processTxn, ZooKeeperServer.loadData)
 * in the cases a running server does not produce on demand: fuzzy snapshots, old log formats, failed
 * and undecodable multis, sessions, the choice of snapshot and logs.
 */
import {expect} from 'chai'

import {
  DataTree,
  decodeTxn,
  type DiskFile,
  DiskFormatError,
  type DiskState,
  loadState,
  OpCode,
  readSnapshot,
  replayState,
  stateSource,
} from '../../src/zkdisk/index.js'
import {
  BASE_ZNODES,
  entry,
  logBytes,
  record,
  snapshotBytes,
  type SyntheticSnapshot,
  type SyntheticZnode,
  txnBytes,
} from './synthetic.js'

const SESSION = 0x1_00_00_00_00_00_00_01n
const OTHER_SESSION = 0x1_00_00_00_00_00_00_02n

function snapshot(zxid: bigint, znodes: SyntheticZnode[], extra: Omit<SyntheticSnapshot, 'znodes'> = {}): DiskFile {
  return {bytes: snapshotBytes({...extra, znodes: [...BASE_ZNODES, ...znodes]}), name: `snapshot.${zxid.toString(16)}`}
}

function log(firstZxid: bigint, entries: Buffer[]): DiskFile {
  return {bytes: logBytes(entries, 64), name: `log.${firstZxid.toString(16)}`}
}

const txn = (type: number, zxid: bigint, write: Parameters<typeof txnBytes>[2], clientId = SESSION) =>
  entry(txnBytes(type, {clientId, zxid}, write))

/** The stat fields a test looks at, as a client would see them. */
function stat(state: DiskState, path: string) {
  const znode = state.znodes.get(path)
  if (!znode) return undefined
  const {cversion, numChildren, pzxid, version} = znode.stat
  return {cversion, numChildren, pzxid, version}
}

describe('zkdisk replay rules', () => {
  it('lets a create that finds its znode (a fuzzy snapshot holds it) raise the parent cversion and pzxid, as only "create" does', () => {
    const state = loadState([
      snapshot(0x10n, [
        {path: '/p', stat: {cversion: 1, pzxid: 0x5n}},
        {path: '/p/c'},
        {path: '/p2', stat: {cversion: 1, pzxid: 0x5n}},
        {path: '/p2/c'},
        {path: '/p3', stat: {cversion: 5, pzxid: 0x9n}},
        {path: '/p3/c'},
      ]),
      log(0x11n, [
        txn(OpCode.create, 0x11n, record.create('/p/c', {parentCVersion: 4})),
        txn(OpCode.create2, 0x12n, record.create('/p2/c', {parentCVersion: 4})),
        txn(OpCode.create, 0x13n, record.create('/p3/c', {parentCVersion: 2})),
      ]),
    ])
    // Clients see the stored cversion (creates) times two minus the children still there.
    expect(stat(state, '/p')).to.deep.equal({cversion: 7, numChildren: 1, pzxid: 0x11n, version: 0})
    expect(stat(state, '/p2')).to.deep.equal({cversion: 1, numChildren: 1, pzxid: 0x5n, version: 0})
    expect(stat(state, '/p3')).to.deep.equal({cversion: 9, numChildren: 1, pzxid: 0x9n, version: 0})
    expect(state.zxid).to.equal(0x13n)
    expect(state.txnsApplied).to.equal(3)
  })

  it('moves the parent pzxid forward on a delete that does not find its znode, and counts a pre-3.3 create from the parent', () => {
    const state = loadState([
      snapshot(0x10n, [{path: '/q', stat: {cversion: 2, pzxid: 0x3n}}]),
      log(0x11n, [
        txn(OpCode.create, 0x11n, record.createV0('/q/new', 'v0')),
        txn(OpCode.delete, 0x12n, record.delete('/q/gone')),
        txn(OpCode.delete, 0x13n, record.delete('/nowhere/x')),
      ]),
    ])
    expect(stat(state, '/q')).to.deep.equal({cversion: 5, numChildren: 1, pzxid: 0x12n, version: 0})
    expect(state.znodes.get('/q/new')!.data.toString()).to.equal('v0')
  })

  it('applies nothing of a failed multi, and stops a multi at an op ZooKeeper cannot apply inside it, keeping the ops before', () => {
    const state = loadState([
      snapshot(0x10n, [{data: 'old', path: '/a'}]),
      log(0x11n, [
        txn(
          OpCode.multi,
          0x11n,
          record.multi([
            [OpCode.create, record.create('/m1')],
            [OpCode.setData, record.setData('/a', 'new', 1)],
            [OpCode.error, record.error(-103)],
          ]),
        ),
        txn(
          OpCode.multi,
          0x12n,
          record.multi([
            [OpCode.create, record.create('/m2')],
            [OpCode.create2, record.create('/m3')],
            [OpCode.create, record.create('/m4')],
          ]),
        ),
      ]),
    ])
    const paths = [...state.znodes.keys()]
    expect(paths).not.to.include.members(['/m1', '/m3', '/m4'])
    expect(paths).to.include('/m2')
    expect(state.znodes.get('/a')!.data.toString()).to.equal('old')
    expect(state.zxid).to.equal(0x12n)
    expect(state.notes).to.deep.equal([
      'multi at zxid 0x12: type 15 is not applied inside a multi; ZooKeeper stops applying the multi there',
    ])
  })

  it('deletes what a closeSession lists and every other ephemeral of the session, with or without the list', () => {
    const state = loadState([
      snapshot(
        0x10n,
        [
          {path: '/e1', stat: {ephemeralOwner: SESSION}},
          {path: '/e2', stat: {ephemeralOwner: SESSION}},
          {path: '/f', stat: {ephemeralOwner: OTHER_SESSION}},
          {path: '/kept'},
        ],
        {
          sessions: [
            [SESSION, 10_000],
            [OTHER_SESSION, 10_000],
          ],
        },
      ),
      log(0x11n, [
        txn(OpCode.closeSession, 0x11n, record.closeSession(['/e1']), SESSION),
        txn(OpCode.closeSession, 0x12n, record.none(), OTHER_SESSION),
      ]),
    ])
    expect([...state.znodes.keys()].filter((path) => path.length <= 5)).to.deep.equal(['/', '/kept'])
    expect(stat(state, '/')!.pzxid).to.equal(0x12n)
    expect([...state.sessions.keys()]).to.deep.equal([])
    expect(state.notes).to.deep.equal([
      'closing session 0x100000000000001 at zxid 0x11 also deleted /e2, which its transaction did not list',
    ])
  })

  it('removes the ephemerals of sessions missing from the session table, as ZooKeeper does when it starts', () => {
    const DEAD = 0x1_00_00_00_00_00_00_09n
    const NEW = 0x1_00_00_00_00_00_00_03n
    const state = loadState([
      snapshot(
        0x10n,
        [
          {path: '/alive', stat: {ephemeralOwner: SESSION}},
          {path: '/dead', stat: {ephemeralOwner: DEAD}},
        ],
        {sessions: [[SESSION, 10_000]]},
      ),
      log(0x11n, [
        txn(OpCode.createSession, 0x11n, record.createSession(8000), NEW),
        txn(OpCode.create, 0x12n, record.create('/new', {ephemeral: true}), NEW),
      ]),
    ])
    expect([...state.znodes.keys()].filter((path) => !path.startsWith('/zookeeper'))).to.deep.equal([
      '/',
      '/alive',
      '/new',
    ])
    expect(state.znodes.get('/new')!.stat.ephemeralOwner).to.equal(NEW)
    expect([...state.sessions]).to.deep.equal([
      [SESSION, 10_000],
      [NEW, 8000],
    ])
    expect(state.notes).to.deep.equal([
      'removed /dead: ephemerals of session 0x100000000000009, which is not in the session table (ZooKeeper removes them when it starts)',
    ])
  })

  it('reads the log that starts before the snapshot and the later ones, skipping what the snapshot holds', () => {
    const unreadable = log(0x1n, [Buffer.from('not an entry, and never read')])
    const state = loadState([
      unreadable,
      snapshot(0x20n, [{path: '/held'}]),
      log(0x15n, [
        txn(OpCode.create, 0x15n, record.create('/skipped')),
        txn(OpCode.create, 0x20n, record.create('/held-again')),
        txn(OpCode.create, 0x21n, record.create('/after')),
      ]),
      log(0x22n, [txn(OpCode.setData, 0x22n, record.setData('/after', 'x', 1))]),
    ])
    expect(state.logs).to.deep.equal(['log.15', 'log.22'])
    expect(state.snapshot).to.deep.equal({name: 'snapshot.20', zxid: 0x20n})
    expect(state.txnsApplied).to.equal(2)
    expect([...state.znodes.keys()])
      .to.include.members(['/held', '/after'])
      .and.not.to.include.members(['/skipped', '/held-again'])
    expect(state.znodes.get('/after')!.stat.version).to.equal(1)
  })

  it('with untilZxid stops after the last transaction at or below it, across logs, and uses no snapshot past it', () => {
    const files = [
      snapshot(0x10n, [{path: '/old'}]),
      snapshot(0x13n, [{path: '/old'}, {path: '/a'}, {path: '/b'}, {path: '/c'}]),
      log(0x11n, [txn(OpCode.create, 0x11n, record.create('/a')), txn(OpCode.create, 0x12n, record.create('/b'))]),
      log(0x13n, [txn(OpCode.create, 0x13n, record.create('/c')), txn(OpCode.create, 0x14n, record.create('/d'))]),
      log(0x15n, [txn(OpCode.create, 0x15n, record.create('/e'))]),
    ]
    const bytes = new Map(files.map((file) => [file.name, file.bytes]))
    const replayUntil = (untilZxid: bigint) => {
      const notes: string[] = []
      return replayState(
        stateSource([...bytes.keys()], (name) => bytes.get(name)!, notes),
        notes,
        {untilZxid},
      )
    }

    const at12 = replayUntil(0x12n)
    expect(at12.snapshot?.name, 'the snapshot past the target is not used').to.equal('snapshot.10')
    expect(at12.zxid).to.equal(0x12n)
    expect([...at12.znodes.keys()])
      .to.include.members(['/old', '/a', '/b'])
      .and.not.to.include.members(['/c', '/d'])
    const at13 = replayUntil(0x13n)
    expect(at13.zxid).to.equal(0x13n)
    expect(at13.snapshot?.name).to.equal('snapshot.13')
    expect([...at13.znodes.keys()]).not.to.include.members(['/d', '/e'])
    const at14 = replayUntil(0x14n)
    expect([at14.zxid, at14.logs, at14.txnsApplied]).to.deep.equal([0x14n, ['log.13'], 1])
    expect([...at14.znodes.keys()])
      .to.include('/d')
      .and.not.to.include('/e')
  })

  it('notes transactions missing from the logs and transactions out of order', () => {
    const state = loadState([
      snapshot(0x10n, []),
      log(0x11n, [txn(OpCode.create, 0x13n, record.create('/a')), txn(OpCode.create, 0x12n, record.create('/b'))]),
    ])
    expect(state.notes).to.deep.equal([
      'log.11: zxid 0x13 follows 0x10: the transactions between them are missing',
      'log.11: zxid 0x12 follows 0x13, out of order (applied anyway, as ZooKeeper does)',
    ])
  })

  it('falls back to an older snapshot, and fails with every reason when none can be read', () => {
    const good = snapshot(0x10n, [{path: '/old'}])
    const broken = snapshot(0x20n, [{path: '/new'}])
    broken.bytes = broken.bytes.subarray(0, -2)
    const state = loadState([good, broken, log(0x11n, [txn(OpCode.create, 0x11n, record.create('/logged'))])])
    expect(state.snapshot?.name).to.equal('snapshot.10')
    expect([...state.znodes.keys()]).to.include.members(['/old', '/logged'])
    expect(state.notes).to.have.length(1)
    expect(state.notes[0]).to.match(/^skipped snapshot\.20 at byte \d+: truncated/)
    const alsoBroken = {...good, bytes: Buffer.from('ZKSN')}
    expect(() => loadState([alsoBroken, broken])).to.throw(
      DiskFormatError,
      /^snapshot\.20: none of the 2 snapshots tried can be read \(newest: snapshot\.20 at byte \d+: truncated[^;]*; 1 older one unreadable too\)$/,
    )
  })

  it("sums up a hundred unreadable snapshots: the newest one's reason and how many more, on one short line", () => {
    const snapshots = Array.from({length: 120}, (_, index) => {
      const file = snapshot(BigInt(0x1_00 + index), [{path: `/s${index}`}])
      return {...file, bytes: file.bytes.subarray(0, -2)}
    })
    const error = (() => {
      try {
        loadState(snapshots)
      } catch (error) {
        return error as Error
      }
    })()
    expect(error).to.be.instanceOf(DiskFormatError)
    // ZooKeeper tries the newest 100 only.
    expect(error!.message).to.match(
      /^snapshot\.177: none of the 100 snapshots tried can be read \(newest: snapshot\.177 at byte \d+: truncated[^;]*; 99 older ones unreadable too\)$/,
    )
    expect(error!.message.length).to.be.below(300)
  })

  it('replays logs from the first transaction without a snapshot (3.4 writes none before snapCount), refuses later ones, and reads no files as the tree of a new server', () => {
    const fromStart = loadState([
      log(0x1n, [txn(OpCode.create, 0x1n, record.create('/a')), txn(OpCode.create, 0x2n, record.create('/a/b'))]),
    ])
    expect([...fromStart.znodes.keys()]).to.include.members(['/a', '/a/b'])
    expect(fromStart.zxid).to.equal(2n)
    expect(fromStart.notes[0]).to.match(/^no snapshot: the logs start at the first transaction \(log\.1\)/)
    expect(() => loadState([log(0x5n, [txn(OpCode.create, 0x5n, record.create('/a'))])])).to.throw(
      DiskFormatError,
      /^log\.5: transaction logs but no snapshot, and the first log starts at 0x5: what came before it is missing/,
    )
    const empty = loadState([{bytes: Buffer.from('1'), name: 'acceptedEpoch'}])
    expect([...empty.znodes.keys()]).to.deep.equal(['/', '/zookeeper', '/zookeeper/config', '/zookeeper/quota'])
    expect(empty.znodes.get('/zookeeper/config')!.acl).to.deep.equal([{id: 'anyone', perms: 1, scheme: 'world'}])
    expect(empty.zxid).to.equal(0n)
    expect(empty.notes).to.deep.equal(['no snapshot and no transaction log: the empty tree of a new server'])
  })

  it('ignores an empty newest log as ZooKeeper does, and notes misnamed snapshot and log files', () => {
    const state = loadState([
      snapshot(0x10n, []),
      log(0x11n, [txn(OpCode.create, 0x11n, record.create('/a'))]),
      {bytes: Buffer.alloc(0), name: 'log.12'},
      {bytes: Buffer.alloc(10), name: 'snapshot.20.tmp'},
    ])
    expect(state.logs).to.deep.equal(['log.11'])
    expect(state.notes).to.deep.equal([
      'ignored snapshot.20.tmp: not named snapshot.<hex zxid>[.gz|.snappy] or log.<hex zxid>',
      'log.12 is empty: ignored, as ZooKeeper deletes an empty newest log',
    ])
  })

  it('says where a torn log was read to when every whole entry in it came before the snapshot (checked, not decoded)', () => {
    const whole = [txn(OpCode.create, 0x11n, record.create('/a')), txn(OpCode.create, 0x12n, record.create('/b'))]
    const torn = txn(OpCode.create, 0x13n, record.create('/c')).subarray(0, 20)
    const state = loadState([
      snapshot(0x12n, [{path: '/a'}, {path: '/b'}]),
      {bytes: Buffer.concat([logBytes(whole), torn]), name: 'log.11'},
    ])
    const offset = logBytes(whole).length
    expect(state.notes).to.deep.equal([
      `log.11: torn tail at byte ${offset} (the file ends inside the entry (${torn.readInt32BE(8)} bytes announced, 8 left)), as a crash leaves it: read up to the last whole transaction, zxid 0x12`,
    ])
    expect(state.txnsApplied).to.equal(0)
  })

  it('does not count the mismatches of a snapshot whose digest was read before a change its tree holds was recorded', () => {
    const txns: Array<[number, bigint, Parameters<typeof txnBytes>[2]]> = [
      [OpCode.create, 0x11n, record.create('/b', {parentCVersion: 1})],
      [OpCode.create, 0x12n, record.create('/a', {parentCVersion: 2})],
      [OpCode.setData, 0x13n, record.setData('/a', 'x', 1)],
    ]
    // The server's tree digest after each transaction: those transactions applied to the tree before them.
    const server = DataTree.fromSnapshot(readSnapshot(snapshot(0x10n, [])))
    const digests = txns.map(([type, zxid, write]) => {
      const bytes = txnBytes(type, {clientId: SESSION, zxid}, write)
      const {header, txn: decoded} = decodeTxn(bytes, 'log', 0, bytes.length)
      server.processTxn(header, decoded)
      return server.digest
    })
    const logged = txns.map(([type, zxid, write], index) =>
      entry(txnBytes(type, {clientId: SESSION, zxid}, write, {treeDigest: digests[index], version: 2})),
    )
    // Taken as 0x12 was being applied: its tree holds /a (0x12), its digest is the one recorded after 0x11.
    const stamped = (zxid: bigint) => ({ctime: 1000, czxid: zxid, mtime: 1000, mzxid: zxid, pzxid: zxid})
    const fuzzy = {
      bytes: snapshotBytes({
        digest: {digest: digests[0], version: 2, zxid: 0x11n},
        znodes: [
          {path: '', stat: {cversion: 2, pzxid: 0x12n}},
          ...BASE_ZNODES.slice(1),
          {path: '/b', stat: stamped(0x11n)},
          {path: '/a', stat: stamped(0x12n)},
        ],
      }),
      name: 'snapshot.10',
    }
    const state = loadState([fuzzy, log(0x11n, logged)])
    // At 0x11 the snapshot's digest and the logged one differ (the tree is ahead); from 0x12 on they match.
    expect(state.digests).to.deep.equal({fuzzy: 2, lastCheck: {matched: true, zxid: 0x13n}, mismatched: 0, verified: 2})
    expect(state.znodes.get('/a')?.data.toString()).to.equal('x')
    expect(state.notes).to.deep.equal([])
  })

  it('says when the tree digest after the last transaction differs from the one ZooKeeper logged', () => {
    const wrong = entry(txnBytes(OpCode.create, {zxid: 0x11n}, record.create('/a'), {treeDigest: 12_345n, version: 2}))
    const state = loadState([snapshot(0x10n, []), log(0x11n, [wrong])])
    expect(state.digests).to.deep.equal({lastCheck: {matched: false, zxid: 0x11n}, mismatched: 1, verified: 0})
    expect(state.notes).to.deep.equal([
      "the tree digest after zxid 0x11 differs from ZooKeeper's: the replayed state is not the server's",
    ])
  })

  it('leaves out what a delete of a znode with children left unreachable, as the next snapshot would, in every way the state is read', () => {
    const state = loadState([
      snapshot(0x10n, [
        {path: '/a'},
        {path: '/a/b', stat: {cversion: 1}},
        {path: '/a/b/c'},
        {path: '/kept', data: 'k'},
      ]),
      log(0x11n, [txn(OpCode.delete, 0x11n, record.delete('/a'))]),
    ])
    const user = [...state.znodes.keys()].filter((path) => !path.startsWith('/zookeeper'))
    expect(user).to.deep.equal(['/', '/kept'])
    expect(state.znodes.size).to.equal([...state.znodes.keys()].length)
    expect(state.znodes.has('/a/b')).to.equal(false)
    expect(state.znodes.get('/a/b/c')).to.equal(undefined)
    expect(state.children('/a/b')).to.deep.equal([])
    expect(state.znodes.get('/kept')!.data.toString()).to.equal('k')
  })
})
