/**
 * MultiReadBatcher against a real server whose connection drops on multi-reads of more than K ops
 * (a proxy in front of one node of the shared ensemble): every batch that fails as a whole is
 * halved down to single requests, and what it reads still matches what single requests read.
 */
import {expect} from 'chai'
import {randomBytes} from 'node:crypto'

import {MultiReadBatcher, type ReadZnode} from '../../../src/engine/znodes/read-znodes.js'
import {ZkSession} from '../../../src/zk/session.js'
import {sharedEnsemble} from '../../harness/hooks.js'
import {connect, READ_ONLY, seedTree, type SeedZnode, uniquePath, ZOO_PERM_ALL} from '../../helpers/tree.js'
import {OldServerProxy} from '../../zk/old-server-proxy.js'

/** The largest multi-read the proxy lets through. */
const K = 16

/** 12 directories of 24 children each (some with children of their own), data from 0 bytes to 60 KB. */
function tree(): SeedZnode[] {
  const seed: SeedZnode[] = [{data: 'root', path: '/'}]
  for (let dir = 0; dir < 12; dir++) {
    const parent = `/dir${String(dir).padStart(2, '0')}`
    seed.push({data: randomBytes(dir * 100), path: parent})
    for (let child = 0; child < 24; child++) {
      const path = `${parent}/n${String(child).padStart(2, '0')}`
      const size = child % 8 === 7 ? 20_000 + dir * 3000 : (child * 131 + dir * 17) % 700
      seed.push(child % 9 === 4 ? {acl: READ_ONLY, data: randomBytes(size), path} : {data: randomBytes(size), path})
      if (child % 6 === 0)
        for (let leaf = 0; leaf < 3; leaf++) seed.push({data: `leaf ${leaf}`, path: `${path}/leaf${leaf}`})
    }
  }

  seed.push({acl: [{id: 'anyone', perms: ZOO_PERM_ALL & ~4, scheme: 'world'}], data: 'no create', path: '/restricted'})
  return seed
}

/** The batcher's answer with its children sorted, or undefined. */
function sortedChildren(znode: ReadZnode | undefined): ReadZnode | undefined {
  return znode && {...znode, children: [...znode.children].sort()}
}

/** What single requests read of `path`, in the batcher's shape (children sorted). */
async function nativeRead(session: ZkSession, path: string): Promise<ReadZnode> {
  const [{data, stat}, {acl}] = await Promise.all([session.getData(path), session.getAcl(path)])
  const children = stat.numChildren > 0 ? await session.getChildren(path) : []
  return {acl, children: [...children].sort(), data, stat}
}

describe('MultiReadBatcher: multi-reads that fail as a whole (connection dropped above K ops)', function () {
  this.timeout(30_000)
  let native: ZkSession
  let proxy: OldServerProxy
  let wire: ZkSession
  let root: string
  let paths: string[]

  before(async () => {
    const ensemble = await sharedEnsemble()
    // The native session and the proxy use the same node, so both read what was written there.
    const node = ensemble.nodeConnectString(1)
    native = await connect(node)
    root = uniquePath('read-znodes')
    const seed = tree()
    await seedTree(native, root, seed)
    paths = seed.map((znode) => (znode.path === '/' ? root : `${root}${znode.path}`))
    proxy = await OldServerProxy.start(Number(node.split(':')[1]), {dropMultiReadsAbove: K})
    wire = await ZkSession.connect({hosts: [proxy.host], sessionTimeoutMs: 10_000})
    await wire.sync(root)
  })

  after(async () => {
    await wire?.close()
    await proxy?.close()
    await native?.close()
  })

  it('halves failed batches down to what the server takes, and reads every znode as single requests do', async () => {
    const session = wire.id
    const batcher = new MultiReadBatcher(wire)
    const started = Date.now()
    const read = await Promise.all(paths.map((path) => batcher.read(path)))
    const elapsed = Date.now() - started

    const expected = await Promise.all(paths.map((path) => nativeRead(native, path)))
    expect(paths).to.have.length(12 * 24 + 12 * 4 * 3 + 12 + 2)
    for (const [index, path] of paths.entries()) {
      expect(sortedChildren(read[index]), path).to.deep.equal(expected[index])
    }

    // The test is what it claims: batches bigger than K were sent, failed, and were split.
    expect(proxy.multiReadsDropped, 'multi-reads that dropped the connection').to.not.be.empty
    // Every batch that failed (dropped, or lost with the connection another one dropped) was split.
    expect(batcher.counts.splits).to.be.above(0).and.at.least(proxy.multiReadsDropped.length)
    // No batch above K got an answer, yet batches of several znodes still did after the splits.
    expect(proxy.multiReadsAnswered, 'answered multi-reads').to.not.be.empty
    expect(Math.max(...proxy.multiReadsAnswered))
      .to.be.at.most(K)
      .and.above(1)
    // Each drop cost one reconnect, of the same session, quickly.
    expect(proxy.connections).to.equal(proxy.multiReadsDropped.length + 1)
    expect(wire.id).to.equal(session)
    expect(elapsed).to.be.below(10_000)
  })

  it('reads a znode that does not exist, or is deleted before its multi-read, as undefined, never as data', async () => {
    const batcher = new MultiReadBatcher(wire)
    expect(await batcher.read(`${root}/missing`)).to.equal(undefined)
    expect(await batcher.read(`${root}/dir00/n01/missing`)).to.equal(undefined)

    // Its ACL is read first, then the multi-read is held at the proxy while the znode goes.
    const victim = `${root}/dir01/n05`
    const neighbours = [`${root}/dir01/n03`, `${root}/dir01/n04`, `${root}/dir01/n06`]
    const hold = proxy.holdMultiReadOf(victim)
    const reads = [victim, ...neighbours].map((path) => batcher.read(path))
    await hold.reached
    await native.delete(victim)
    hold.release()
    const [gone, ...others] = await Promise.all(reads)
    expect(gone).to.equal(undefined)
    for (const [index, path] of neighbours.entries()) {
      expect(sortedChildren(others[index]), path).to.deep.equal(await nativeRead(native, path))
    }
  })
})
