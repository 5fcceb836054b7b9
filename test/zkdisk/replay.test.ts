/**
 * A real ZooKeeper's data directory (snapshots taken mid-way, separate log directory) read without
 * Java: the replayed state must equal what clients read before the server stopped, znode by znode,
 * down to every stat field; damaged copies of its files must be reported or read as ZooKeeper would.
 */
import {expect} from 'chai'
import {randomBytes} from 'node:crypto'
import {readdirSync, readFileSync} from 'node:fs'
import {join} from 'node:path'

import {type Acl, OPEN_ACL, zkConstants, ZkError, ZkSession} from '../../src/zk/session.js'
import {WireSession} from '../../src/zk/wire/session.js'
import {
  type DiskFile,
  DiskFormatError,
  type DiskState,
  loadState,
  loadStateFromDirectories,
  OpCode,
  parseLogName,
  parseSnapshotName,
  readSnapshot,
  readTxnLog,
  replayState,
  stateSource,
} from '../../src/zkdisk/index.js'
import {Ensemble, type ZookeeperVersion} from '../harness/ensemble.js'
import {ALL_BYTES} from '../helpers/fixtures.js'
import {secret} from '../helpers/secrets.js'
import {digestId, READ_ONLY, waitUntilGone, ZOO_PERM_ALL} from '../helpers/tree.js'
import {sendMulti} from '../helpers/zk-multi.js'
import {differences, lastDigestCheck, type LiveTree, readLiveTree} from './live.js'

const ITEMS = 120
const BURST = 400
const NEW_ACLS = 300
const auth = {password: secret('disk-secret'), user: 'ops'}
const SECRET_ACL: Acl[] = [{id: digestId(auth.user, auth.password), perms: ZOO_PERM_ALL, scheme: 'digest'}]
const MIXED_ACL: Acl[] = [...SECRET_ACL, {id: 'anyone', perms: zkConstants.ZOO_PERM_READ, scheme: 'world'}]
const HOUR = 3_600_000

interface Run {
  /** What clients read just before the last write, and once it was made. */
  beforeLastWrite: LiveTree
  dataDir: string
  live: LiveTree
  logDir: string
  node: Ensemble
  state: DiskState
}

// 3.9 ends its snapshots with one more sealed section (the last processed zxid); 3.4 has no
// containers, TTL znodes or digests, and its own test is in test/compat.
for (const version of ['3.8', '3.9'] as const)
  describe(`zkdisk: a real ${version} data directory replayed without Java`, function () {
    this.timeout(180_000)
    let run: Run

    before(async () => {
      run = await produceDataDirectory(version)
    })

    after(async () => {
      await run?.node.stop()
    })

    it('replays to exactly what clients read: data, ACL and every stat field of every znode', () => {
      expect(differences(run.live, run.state)).to.deep.equal([])
      expect(run.state.znodes.size).to.equal(run.live.size).and.to.be.greaterThan(ITEMS)
    })

    it("counts in its census what clients read outside /zookeeper: znodes, their data's bytes, the open session's ephemerals", () => {
      const user = [...run.live].filter(([path]) => path !== '/zookeeper' && !path.startsWith('/zookeeper/'))
      expect(run.state.census()).to.deep.equal({
        dataBytes: user.reduce((sum, [, znode]) => sum + znode.data.length, 0),
        ephemerals: user.filter(([, znode]) => znode.stat.ephemeralOwner !== '0').length,
        znodes: user.length,
      })
      expect(run.state.census().ephemerals).to.be.greaterThan(0)
    })

    it('started from the newest snapshot and replayed the logs after it', () => {
      const {state} = run
      const {logs, snapshots} = versionFiles(run)
      expect(state.snapshot).to.deep.equal(snapshots.at(-1))
      expect(state.logs).to.deep.equal(
        logs.slice(logs.findLastIndex((log) => log.zxid <= state.snapshot!.zxid)).map((log) => log.name),
      )
      expect(state.zxid).to.equal(maxZxid(run.live))
      // A standalone server's zxids follow each other: every one after the snapshot's was replayed.
      expect(BigInt(state.txnsApplied)).to.equal(state.zxid - state.snapshot!.zxid)
      expect(state.notes).to.deep.equal([])
      expect(state.torn).to.deep.equal([])
    })

    // On 3.9 one clean-clone run in four once saw 2 mismatches (never reproduced in 12 runs since). The
    // one cause found: a snapshot whose digest was read while a transaction it already held was being
    // applied, now counted apart as fuzzy (rules.test.ts). Should another appear, the message says where.
    it('matches every digest ZooKeeper logged with the transactions it replayed', () => {
      const {state} = run
      expect(state.digests.mismatched, digestReport(run)).to.equal(0)
      expect(lastDigestCheck(state), digestReport(run)).to.deep.equal({matched: true, zxid: state.zxid})
    })

    it('replays to the same state from every snapshot it took, through the logs after it', () => {
      const {logs, snapshots} = versionFiles(run)
      expect(snapshots.length).to.be.greaterThan(20)
      expect(logs.length).to.be.greaterThan(20)
      for (const snapshot of snapshots) {
        const state = loadState(filesFor(run, 1, snapshot.zxid))
        expect(state.snapshot?.name).to.equal(snapshot.name)
        expect(differences(run.live, state), snapshot.name).to.deep.equal([])
        expect(state.notes, snapshot.name).to.deep.equal([])
        // Snapshots taken during the burst hold changes their digest does not: digests differ until those are replayed.
        expect(lastDigestCheck(state), snapshot.name).to.deep.equal({matched: true, zxid: run.state.zxid})
      }
    })

    it('replays every transaction from the first snapshot, each matching the digest ZooKeeper logged with it', () => {
      const files = filesFor(run, 1, 0n)
      const state = loadState(files)
      expect(state.snapshot?.name).to.equal('snapshot.0')
      expect(differences(run.live, state)).to.deep.equal([])
      const txns = files.filter((file) => file.name.startsWith('log.')).flatMap((file) => readTxnLog(file).txns)
      expect(state.txnsApplied)
        .to.equal(txns.length)
        .and.to.be.greaterThan(2 * BURST + ITEMS)
      // Failed requests are logged as error transactions, without a digest.
      const undigested = txns.filter((txn) => !txn.digest)
      expect(new Set(undigested.map((txn) => txn.header.type))).to.deep.equal(new Set([OpCode.error]))
      // (snapshot.0 carries a digest at zxid 0, which ZooKeeper does not compare either.)
      const verified = state.txnsApplied - undigested.length
      expect(state.digests).to.deep.equal({lastCheck: {matched: true, zxid: state.zxid}, mismatched: 0, verified})
    })

    it('pauses (where a replay collects its garbage) before each log it reads and every 4096 txns, and replays the same state', () => {
      const files = filesFor(run, 1, 0n)
      const bytes = new Map(files.map((file) => [file.name, file.bytes]))
      const paused: number[] = []
      let logsRead = 0
      const source = stateSource([...bytes.keys()], (name) => bytes.get(name)!, [])
      const state = replayState(
        {
          ...source,
          read(name) {
            if (name.startsWith('log.')) logsRead++
            return source.read(name)
          },
        },
        [],
        {pause: () => paused.push(logsRead)},
      )
      expect(differences(run.live, state)).to.deep.equal([])
      expect(paused.length).to.equal(state.logs.length + Math.floor(state.txnsApplied / 4096))
      // One before each log (none read yet before the first), the rest within the logs.
      for (const [index] of state.logs.entries()) expect(paused, `before log ${index}`).to.include(index)
      expect(Math.max(...paused)).to.be.at.most(state.logs.length)
    })

    it('reads no files as the tree a new server starts with, which its first snapshot holds', () => {
      const first = loadState(filesFor(run, 1, 0n).filter((file) => file.name === 'snapshot.0'))
      const none = loadState([])
      expect([...none.znodes.values()]).to.deep.equal([...first.znodes.values()])
    })

    it('knows the containers and TTL znodes, which clients are shown as persistent', () => {
      const type = (path: string) => {
        const znode = run.state.znodes.get(path)!
        return {ttl: znode.ttl, type: znode.type}
      }

      expect(type('/app/container')).to.deep.equal({ttl: undefined, type: 'container'})
      expect(type('/app/multi/container')).to.deep.equal({ttl: undefined, type: 'container'})
      expect(type('/app/ttl-long')).to.deep.equal({ttl: HOUR, type: 'ttl'})
      expect(type('/app/ttl-parent')).to.deep.equal({ttl: 1000, type: 'ttl'})
      expect(type('/app/multi/ttl')).to.deep.equal({ttl: 2 * HOUR, type: 'ttl'})
      expect(type('/app/eph-open')).to.deep.equal({ttl: undefined, type: 'ephemeral'})
      expect(type('/app/items')).to.deep.equal({ttl: undefined, type: 'persistent'})
      expect(run.live.get('/app/container')!.stat.ephemeralOwner).to.equal('0')
    })

    it('shows what the container manager and the session closes deleted as deleted, and what the open session owns as there', () => {
      const paths = [...run.state.znodes.keys()]
      for (const gone of ['/app/container-emptied', '/app/ttl-short', '/app/eph-closed', '/app/multi-eph'])
        expect(paths).not.to.include(gone)
      expect(paths.filter((path) => path.startsWith('/app/eph-closed-seq-'))).to.deep.equal([])
      expect(paths.filter((path) => path.startsWith('/app/eph-open'))).to.have.length(2)
    })

    it('applies every op of the successful multi and none of the failed one', () => {
      const {znodes} = run.state
      expect(znodes.get('/app/multi/a')!.data.toString()).to.equal('a')
      expect([...znodes.keys()].filter((path) => /^\/app\/multi\/seq-\d{10}$/.test(path))).to.have.length(1)
      expect(znodes.get('/app/items/item-1')!.data.toString()).to.equal('from multi')
      expect(znodes.has('/app/items/item-2')).to.equal(false)
      expect(znodes.has('/app/never')).to.equal(false)
      expect(znodes.get('/app/items/item-4')!.data.toString()).not.to.equal('never')
    })

    it('reads the version-2 directories themselves as well', async () => {
      const state = await loadStateFromDirectories(join(run.dataDir, 'version-2'), join(run.logDir, 'version-2'))
      expect(differences(run.live, state)).to.deep.equal([])
    })

    it('reads a log whose last entry was cut short up to the last whole transaction, and says so', () => {
      const {files, last} = filesWithoutLastWrite(run)
      const log = files.find((file) => file.name === last.file)!
      log.bytes = log.bytes.subarray(0, last.offset + 30)
      const state = loadState(files)
      expect(differences(run.beforeLastWrite, state)).to.deep.equal([])
      expect(state.zxid).to.equal(last.zxid - 1n)
      expect(state.torn).to.deep.equal([{file: last.file, offset: last.offset, reason: state.torn[0]?.reason}])
      expect(state.torn[0].reason).to.match(/ends inside the entry/)
      expect(state.notes.join('\n')).to.include(`${last.file}: torn tail at byte ${last.offset}`)
    })

    it('reads a log whose last entry has a wrong checksum, zeros after it, as torn', () => {
      const {files, last} = filesWithoutLastWrite(run)
      const log = files.find((file) => file.name === last.file)!
      log.bytes = Buffer.from(log.bytes)
      log.bytes[last.offset + 40] ^= 0xff
      const state = loadState(files)
      expect(differences(run.beforeLastWrite, state)).to.deep.equal([])
      expect(state.torn.map(({file, offset}) => ({file, offset}))).to.deep.equal([
        {file: last.file, offset: last.offset},
      ])
      expect(state.torn[0].reason).to.match(/Adler-32 checksum mismatch/)
    })

    it('refuses a log with a wrong checksum in an entry that more entries follow, naming the file and offset', () => {
      const files = filesFor(run, 1)
      const log = files.find((file) => file.name.startsWith('log.') && readTxnLog(file).txns.length >= 3)!
      const victim = readTxnLog(log).txns[1]
      log.bytes = Buffer.from(log.bytes)
      log.bytes[victim.offset + 30] ^= 0x01
      const expected = new RegExp(
        `^${log.name} at byte ${victim.offset}: Adler-32 checksum mismatch.*non-zero bytes follow`,
      )
      expect(() => readTxnLog(log)).to.throw(DiskFormatError, expected)
      expect(() => loadState(files)).to.throw(DiskFormatError, expected)
    })

    it('falls back to the previous snapshot when the newest has a bad magic, as ZooKeeper does', () => {
      const files = filesFor(run, 2)
      const newest = files.find((file) => file.name === run.state.snapshot!.name)!
      newest.bytes = Buffer.concat([Buffer.from('NOPE'), newest.bytes.subarray(4)])
      expect(() => readSnapshot(newest)).to.throw(
        DiskFormatError,
        new RegExp(`^${newest.name} at byte 0: bad magic 0x4e4f5045`),
      )
      const state = loadState(files)
      expect(state.snapshot!.zxid < run.state.snapshot!.zxid).to.equal(true)
      expect(state.notes[0]).to.match(new RegExp(`^skipped ${newest.name} at byte 0: bad magic`))
      expect(differences(run.live, state)).to.deep.equal([])
    })

    it(
      version === '3.9'
        ? 'reads the last processed zxid 3.9 seals after the digest, and checks that seal'
        : 'has no last processed zxid (3.9 adds it)',
      () => {
        const [newest] = filesFor(run, 1)
        const snapshot = readSnapshot(newest)
        if (version !== '3.9') {
          expect(snapshot).not.to.have.property('lastProcessedZxid')
          return
        }

        // Written once the tree was: at least every zxid the tree's digest and the file's name cover.
        expect(
          snapshot.lastProcessedZxid! >= snapshot.digest!.zxid && snapshot.lastProcessedZxid! >= snapshot.zxid,
          String(snapshot.lastProcessedZxid),
        ).to.equal(true)
        const lastSeal = newest.bytes.length - 13
        const flipped = {...newest, bytes: Buffer.from(newest.bytes)}
        flipped.bytes[lastSeal - 1] ^= 0x01
        expect(() => readSnapshot(flipped)).to.throw(
          DiskFormatError,
          new RegExp(`^${newest.name} at byte ${lastSeal}: Adler-32 checksum mismatch`),
        )
      },
    )

    it('reports a truncated snapshot with its file and offset, and a checksum mismatch where the seal is', () => {
      const [newest] = filesFor(run, 1)
      const truncated = {...newest, bytes: newest.bytes.subarray(0, Math.floor(newest.bytes.length / 2))}
      expect(() => readSnapshot(truncated)).to.throw(
        DiskFormatError,
        new RegExp(`^${newest.name} at byte \\d+: truncated`),
      )
      expect(() => loadState([truncated])).to.throw(
        DiskFormatError,
        new RegExp(`^${newest.name} at byte \\d+: truncated`),
      )
      const flipped = {...newest, bytes: Buffer.from(newest.bytes)}
      flipped.bytes[flipped.bytes.indexOf('created again')] ^= 0x01
      // The tree, its seal (long, "/"), the digest (long, int, long), the second seal; on 3.9 the last processed zxid (long) and a third seal.
      const firstSeal = flipped.bytes.length - 13 - 20 - 13 - (version === '3.9' ? 8 + 13 : 0)
      expect(() => readSnapshot(flipped)).to.throw(
        DiskFormatError,
        new RegExp(`^${newest.name} at byte ${firstSeal}: Adler-32 checksum mismatch`),
      )
    })
  })

async function produceDataDirectory(version: ZookeeperVersion): Promise<Run> {
  const node = await Ensemble.start({
    version,
    // Small logs: the replays from every snapshot read them all (ZooKeeper preallocates 64 MiB by default).
    config: {preAllocSize: '256', snapCount: '20'},
    dataLogDirs: true,
    // The container manager runs often, to delete the emptied container and the expired TTL znode in time.
    jvmFlags: ['-Dznode.container.checkIntervalMs=200'],
    nodes: 1,
  })
  const host = node.nodeConnectString(1)
  const zk = await ZkSession.connect({auth, hosts: [host]})
  const keeper = await ZkSession.connect({hosts: [host]})
  try {
    await writeWorkload(zk, keeper, host)
    const beforeLastWrite = await readLiveTree(zk)
    await sleep(300) // let a snapshot that the previous write started finish before the last write
    await zk.setData('/app/last', Buffer.from('after'))
    const live = await readLiveTree(zk)
    await node.stopNode(1)
    const [{dataDir, dataLogDir}] = node.nodes
    return {
      beforeLastWrite,
      dataDir,
      live,
      logDir: dataLogDir,
      node,
      state: await loadStateFromDirectories(dataDir, dataLogDir),
    }
  } catch (error) {
    await node.stop()
    throw error
  } finally {
    await zk.close()
    await keeper.close()
  }
}

async function writeWorkload(zk: ZkSession, keeper: ZkSession, host: string): Promise<void> {
  await create(zk, '/app', 'root')
  await create(zk, '/app/last', 'before')
  await writeItems(zk)
  await writeBurst(zk)
  await writeAcls(zk)
  await writeNewAcls(host)
  await writeSequentials(zk)
  await writeContainersAndTtls(zk)
  await writeFailures(zk)
  await writeEphemerals(host, keeper)
  await writeMultis(host)
}

async function writeItems(zk: ZkSession): Promise<void> {
  await create(zk, '/app/items', '')
  for (let index = 0; index < ITEMS; index++) {
    const data =
      index % 10 === 0
        ? ''
        : index % 10 === 1
          ? ALL_BYTES
          : index % 10 === 2
            ? randomBytes(40_000)
            : `{"item": ${index}}`
    await create(zk, `/app/items/item-${index}`, data)
    if (index % 3 === 0) await zk.setData(`/app/items/item-${index}`, Buffer.from(`{"item": ${index}, "v": 2}`))
    if (index % 9 === 0) await zk.setData(`/app/items/item-${index}`, Buffer.from(`{"item": ${index}, "v": 3}`))
    if (index % 7 === 5) await zk.delete(`/app/items/item-${index}`)
  }

  await create(zk, '/app/items/item-5', 'created again')
  await create(zk, '/app/deep/a/b/c', 'deep')
}

/** Many requests in flight: snapshots are taken while transactions keep changing the tree (they are fuzzy). */
async function writeBurst(zk: ZkSession): Promise<void> {
  const paths = Array.from({length: BURST}, (_, index) => `/app/burst/node-${index}`)
  await create(zk, '/app/burst', '')
  await Promise.all(paths.map((path) => zk.create(path, Buffer.from(path), 0)))
  await Promise.all(paths.map((path, index) => zk.setData(path, Buffer.from(`v${index}`))))
  await Promise.all(paths.filter((_, index) => index % 2 === 0).map((path) => zk.delete(path)))
  await Promise.all(paths.filter((_, index) => index % 4 === 0).map((path) => zk.create(path, Buffer.from('again'), 0)))
}

async function writeAcls(zk: ZkSession): Promise<void> {
  await create(zk, '/app/secret', 'hidden')
  await zk.setAcl('/app/secret', MIXED_ACL)
  await zk.setAcl('/app/secret', SECRET_ACL)
  await create(zk, '/app/read-only', 'ro')
  await zk.setAcl('/app/read-only', READ_ONLY)
}

/**
 * Znodes created with ACLs the server has not seen, many in flight while snapshots are taken: a
 * snapshot writes its ACL cache before its znodes, so a znode may refer to an ACL it lacks (1 of
 * ~50 snapshots in the runs tried; format.test.ts has the deterministic case). ip ACLs make each
 * list new; clients see them unmasked, unlike other users' digests.
 */
async function writeNewAcls(host: string): Promise<void> {
  const session = await WireSession.connect({hosts: [host]})
  try {
    await session.multi([{acl: OPEN_ACL, data: Buffer.alloc(0), flags: 0, kind: 'create', path: '/app/new-acls'}])
    await Promise.all(
      Array.from({length: NEW_ACLS}, (_, index) => {
        const acl: Acl[] = [
          ...SECRET_ACL,
          {id: `10.1.${index >> 8}.${index & 255}`, perms: zkConstants.ZOO_PERM_READ, scheme: 'ip'},
        ]
        return session.multi([
          {acl, data: Buffer.from(`acl ${index}`), flags: 0, kind: 'create', path: `/app/new-acls/n-${index}`},
        ])
      }),
    )
  } finally {
    await session.close()
  }
}

async function writeSequentials(zk: ZkSession): Promise<void> {
  await create(zk, '/app/seq', '')
  for (let index = 0; index < 3; index++)
    await zk.create('/app/seq/job-', Buffer.from(`job ${index}`), zkConstants.ZOO_PERSISTENT_SEQUENTIAL)
  await zk.delete('/app/seq/job-0000000001')
}

async function writeContainersAndTtls(zk: ZkSession): Promise<void> {
  await zk.create('/app/container', Buffer.from('c'), zkConstants.ZOO_CONTAINER)
  await create(zk, '/app/container/kept', 'k')
  await zk.create('/app/container-emptied', Buffer.alloc(0), zkConstants.ZOO_CONTAINER)
  await create(zk, '/app/container-emptied/gone', '')
  await zk.delete('/app/container-emptied/gone')
  await zk.create('/app/ttl-long', Buffer.from('t'), zkConstants.ZOO_PERSISTENT_WITH_TTL, HOUR)
  await zk.create('/app/ttl-short', Buffer.from('t'), zkConstants.ZOO_PERSISTENT_WITH_TTL, 500)
  await zk.create('/app/ttl-parent', Buffer.alloc(0), zkConstants.ZOO_PERSISTENT_WITH_TTL, 1000)
  await create(zk, '/app/ttl-parent/child', '')
  await waitUntilGone(zk, '/app/container-emptied')
  await waitUntilGone(zk, '/app/ttl-short')
}

/** Requests that fail are logged as error transactions. */
async function writeFailures(zk: ZkSession): Promise<void> {
  await expectZkError(zk.create('/app/items', Buffer.from('exists'), 0), zkConstants.ZNODEEXISTS)
  await expectZkError(zk.setData('/app/items/item-3', Buffer.from('wrong version'), 42), zkConstants.ZBADVERSION)
}

async function writeEphemerals(host: string, keeper: ZkSession): Promise<void> {
  const closer = await ZkSession.connect({hosts: [host]})
  await closer.create('/app/eph-closed', Buffer.from('bye'), zkConstants.ZOO_EPHEMERAL)
  await closer.create('/app/eph-closed-seq-', Buffer.from('bye'), zkConstants.ZOO_EPHEMERAL_SEQUENTIAL)
  await closer.close()
  await keeper.create('/app/eph-open', Buffer.from('still here'), zkConstants.ZOO_EPHEMERAL)
  await keeper.create('/app/eph-open-seq-', Buffer.from('still here'), zkConstants.ZOO_EPHEMERAL_SEQUENTIAL)
  await waitUntilGone(keeper, '/app/eph-closed')
}

async function writeMultis(host: string): Promise<void> {
  const done = await sendMulti(host, [
    {path: '/app/multi', type: 'create'},
    {data: 'a', path: '/app/multi/a', type: 'create'},
    {data: 's', flags: zkConstants.ZOO_PERSISTENT_SEQUENTIAL, path: '/app/multi/seq-', type: 'create'},
    {path: '/app/multi/container', type: 'createContainer'},
    {data: 'in a container', path: '/app/multi/container/child', type: 'create'},
    {data: 'ttl', path: '/app/multi/ttl', ttl: 2 * HOUR, type: 'createTTL'},
    {acl: READ_ONLY, data: 'read only', path: '/app/multi/read-only', type: 'create'},
    {data: 'from multi', path: '/app/items/item-1', type: 'setData'},
    {path: '/app/items/item-2', type: 'delete'},
    {path: '/app/items/item-4', type: 'check', version: 0},
  ])
  expect(done.err).to.equal(0)
  const failed = await sendMulti(host, [
    {path: '/app/never', type: 'create'},
    {data: 'never', path: '/app/items/item-4', type: 'setData'},
    {path: '/app/items/item-4', type: 'check', version: 99},
  ])
  expect(failed.results.map((result) => result.err)).to.deep.equal([0, 0, zkConstants.ZBADVERSION])
  const ephemeral = await sendMulti(host, [{flags: zkConstants.ZOO_EPHEMERAL, path: '/app/multi-eph', type: 'create'}])
  expect(ephemeral.results).to.deep.equal([{path: '/app/multi-eph', type: 1}])
}

/** Creates `path` and its missing ancestors. */
async function create(zk: ZkSession, path: string, data: Buffer | string): Promise<void> {
  await zk.createParents(path)
  await zk.create(path, typeof data === 'string' ? Buffer.from(data) : data, 0)
}

async function expectZkError(request: Promise<unknown>, code: number): Promise<void> {
  const error = await request.then(
    () => undefined,
    (error_: unknown) => error_,
  )
  expect(error).to.be.instanceOf(ZkError).with.property('code', code)
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

function maxZxid(live: LiveTree): bigint {
  let max = 0n
  for (const {stat} of live.values())
    for (const zxid of [stat.czxid, stat.mzxid, stat.pzxid]) if (BigInt(zxid) > max) max = BigInt(zxid)
  return max
}

/** Where the replayed snapshot's digest stands against its znodes: what a digest mismatch is first checked against. */
function digestReport({dataDir, state}: Run): string {
  const {name} = state.snapshot!
  const {digest, nodes} = readSnapshot({bytes: readFileSync(join(dataDir, 'version-2', name)), name})
  let stamped = 0n
  for (const {stat} of nodes.values())
    for (const zxid of [stat.czxid, stat.mzxid, stat.pzxid]) if (zxid > stamped) stamped = zxid
  const digests = JSON.stringify(state.digests, (_, value: unknown) =>
    typeof value === 'bigint' ? `0x${value.toString(16)}` : value,
  )
  return `${name}: digest at zxid 0x${digest?.zxid.toString(16)}, znodes stamped up to 0x${stamped.toString(16)}; digests ${digests}`
}

function versionFiles(run: Run): {
  logs: Array<{name: string; zxid: bigint}>
  snapshots: Array<{name: string; zxid: bigint}>
} {
  const named = (dir: string, parse: (name: string) => bigint | undefined) =>
    readdirSync(join(dir, 'version-2'))
      .map((name) => ({name, zxid: parse(name)}))
      .filter((file): file is {name: string; zxid: bigint} => file.zxid !== undefined)
      .sort((a, b) => (a.zxid < b.zxid ? -1 : 1))
  return {logs: named(run.logDir, parseLogName), snapshots: named(run.dataDir, (name) => parseSnapshotName(name)?.zxid)}
}

/** The newest `count` snapshots at or below `maxZxid`, and the logs a replay from the oldest of them needs. */
function filesFor(run: Run, count: number, maxZxid = 1n << 62n): DiskFile[] {
  const {logs, snapshots} = versionFiles(run)
  const chosen = snapshots.filter((snapshot) => snapshot.zxid <= maxZxid).slice(-count)
  const first = Math.max(
    0,
    logs.findLastIndex((log) => log.zxid <= chosen[0].zxid),
  )
  const read = (dir: string, name: string) => ({bytes: readFileSync(join(dir, 'version-2', name)), name})
  return [
    ...chosen.reverse().map(({name}) => read(run.dataDir, name)),
    ...logs.slice(first).map(({name}) => read(run.logDir, name)),
  ]
}

/** Files whose replay must rely on the log for the last write (no snapshot may hold it), and where that write is. */
function filesWithoutLastWrite(run: Run): {files: DiskFile[]; last: {file: string; offset: number; zxid: bigint}} {
  const files = filesFor(run, 1, run.state.zxid - 2n)
  const newestLog = files.findLast((file) => file.name.startsWith('log.'))!
  const last = readTxnLog(newestLog).txns.at(-1)!
  expect(last.header.zxid).to.equal(run.state.zxid)
  expect(last.txn).to.deep.include({data: Buffer.from('after'), kind: 'setData', path: '/app/last'})
  return {files, last: {file: newestLog.name, offset: last.offset, zxid: last.header.zxid}}
}
