import {expect} from 'chai'

import type {ZkSession} from '../../src/zk/session.js'
import type {SnapshotContent} from '../../src/zkdisk/index.js'

import {
  parseAdminSnapshot,
  settleSnapshot,
  type SnapshotCounts,
  snapshotZnodes,
} from '../../src/engine/admin-snapshot.js'
import {BulkAccess} from '../../src/engine/znodes/bulk-access.js'
import {fetchAdminSnapshot} from '../../src/zk/admin.js'
import {adminUrl, Ensemble} from '../harness/ensemble.js'
import {type OracleTree, readTreeIndependently} from '../helpers/oracle.js'
import {connect, READ_ONLY, seedTree, uniquePath} from '../helpers/tree.js'

const AUTH = {password: 'snapshot-unit', user: 'unit'}
const noExclude = () => false

describe('AdminServer snapshot: digest check and re-reads of a fuzzy snapshot', function () {
  this.timeout(120_000)
  let ensemble: Ensemble
  let session: ZkSession
  let bulk: BulkAccess

  before(async () => {
    ensemble = await Ensemble.start({adminServer: true, nodes: 1, version: '3.9'})
    session = await connect(ensemble.connectString, AUTH)
    bulk = await BulkAccess.open(session)
  })

  after(async () => {
    await bulk?.close()
    await session?.close()
    await ensemble?.stop()
  })

  const takeSnapshot = async (): Promise<SnapshotContent> =>
    parseAdminSnapshot(
      await fetchAdminSnapshot({
        auth: AUTH,
        idleTimeoutMs: 10_000,
        maxBytes: 64 * 1024 * 1024,
        url: adminUrl(ensemble.nodes[0]),
      }),
    )

  /** settleSnapshot of `snapshot` under `root`, re-reading through the test's session. */
  const settle = (snapshot: SnapshotContent, root: string) =>
    settleSnapshot({exclude: noExclude, reader: () => bulk.reader(), root, snapshot, source: 'test'})

  /** The settled tree under `root` in the oracle's form, and the types of its znodes. */
  const settledTree = (snapshot: SnapshotContent, root: string) => {
    const counts: SnapshotCounts = {dataBytes: 0, excluded: 0, skippedEphemerals: 0, znodes: 0}
    const tree: OracleTree = {}
    const types: Record<string, string> = {}
    for (const {data, record, relativePath} of snapshotZnodes(snapshot.nodes, root, {counts, exclude: noExclude})) {
      tree[relativePath] = {
        acl: record.acl.map((acl) => `${acl.scheme}:${acl.id}:${acl.perms}`).sort(),
        data: data.toString('base64'),
        ephemeralOwner: '0000000000000000',
      }
      types[relativePath] = record.type
    }

    return {tree, types}
  }

  const seed = async (root: string) => {
    await seedTree(session, root, [
      {data: 'a0', path: '/'},
      {data: 'a0', path: '/a'},
      {path: '/p'},
      {data: 'old', path: '/p/old'},
      {data: 'keep', path: '/p/keep'},
      {data: 'container', path: '/c', type: 'container'},
      {data: 'in c', path: '/c/child'},
    ])
  }

  it('leaves a snapshot whose digest matches as it is: exact at the digest zxid, nothing re-read', async () => {
    const root = uniquePath('settle-match')
    await seed(root)
    const before = await readTreeIndependently(ensemble.connectString, root)
    const snapshot = await takeSnapshot()
    await session.setData(`${root}/a`, Buffer.from('after the snapshot'))
    const {report} = await settle(snapshot, root)
    expect(report).to.include({consistentAtZxid: report.digestZxid, digest: 'matched', reread: 0})
    expect(settledTree(snapshot, root).tree).to.deep.equal(before)
  })

  it('an exact snapshot whose cache lacked a znode ACL takes only that ACL, staying exact; one whose ACL changed since is re-read and not exact', async () => {
    const root = uniquePath('settle-acl')
    await seed(root)
    const before = await readTreeIndependently(ensemble.connectString, root)
    const lacking = async (path: string) => {
      const snapshot = await takeSnapshot()
      // As the reader leaves a znode whose ACL index the cache did not hold yet.
      snapshot.aclsToResolve.set(path, 1000n)
      snapshot.nodes.get(path)!.acl = []
      return snapshot
    }

    const unchanged = await lacking(`${root}/a`)
    await session.setData(`${root}/a`, Buffer.from('after the snapshot'))
    const exact = await settle(unchanged, root)
    expect(exact.report).to.include({consistentAtZxid: exact.report.digestZxid, digest: 'matched', reread: 1})
    expect(exact.report.rereadPaths).to.deep.equal([`${root}/a`])
    // Its ACL from the client, its data and stat still the snapshot's: exactly the tree at the digest's zxid.
    expect(settledTree(unchanged, root).tree).to.deep.equal(before)
    expect(unchanged.nodes.get(`${root}/a`)!.stat.version).to.equal(0)

    const changed = await lacking(`${root}/p`)
    await session.setAcl(`${root}/p`, READ_ONLY)
    const inexact = await settle(changed, root)
    expect(inexact.report).to.include({consistentAtZxid: null, digest: 'matched'})
    expect(inexact.report.rereadPaths).to.deep.equal([`${root}/p`])
    expect(settledTree(changed, root).tree['/p'].acl).to.deep.equal(['world:anyone:1'])
  })

  it('re-reads what a fuzzy snapshot caught mid-change: new data, deleted and created children, container types kept', async () => {
    const root = uniquePath('settle-fuzzy')
    await seed(root)
    const snapshot = await takeSnapshot()
    await session.setData(`${root}/a`, Buffer.from('a1'))
    await session.delete(`${root}/p/old`)
    await seedTree(session, `${root}/p/new`, [
      {data: 'new', path: '/'},
      {data: 'deep', path: '/deep'},
    ])
    await session.setData(`${root}/c`, Buffer.from('container changed'))
    // As if serialization had reached /a, /p and /c only after those writes: their zxids are past its start.
    const during = snapshot.zxid + 1n
    for (const path of [`${root}/a`, `${root}/c`]) snapshot.nodes.get(path)!.stat.mzxid = during
    snapshot.nodes.get(`${root}/p`)!.stat.pzxid = during
    // The reader sums the digest of the bytes it read: the written digest is made to differ instead, as a fuzzy one does.
    snapshot.digest = {...snapshot.digest!, digest: BigInt.asUintN(64, snapshot.digest!.digest + 1n)}

    const {report} = await settle(snapshot, root)
    expect(report).to.include({addedByReread: 2, consistentAtZxid: null, digest: 'mismatched', removedByReread: 1})
    expect(report.rereadPaths).to.include.members([
      `${root}/a`,
      `${root}/p`,
      `${root}/c`,
      `${root}/p/new`,
      `${root}/p/new/deep`,
    ])
    const {tree, types} = settledTree(snapshot, root)
    expect(tree).to.deep.equal(await readTreeIndependently(ensemble.connectString, root))
    expect(types['/c']).to.equal('container')
    // The stat as a client reads it, cversion included, for a re-read parent.
    const parent = await session.exists(`${root}/p`)
    const {record} = [
      ...snapshotZnodes(snapshot.nodes, `${root}/p`, {
        counts: {dataBytes: 0, excluded: 0, skippedEphemerals: 0, znodes: 0},
        exclude: noExclude,
      }),
    ][0]
    expect([record.stat.cversion, record.stat.numChildren, record.stat.pzxid]).to.deep.equal([
      parent!.cversion,
      parent!.numChildren,
      `0x${parent!.pzxid.toString(16)}`,
    ])
  })
})
