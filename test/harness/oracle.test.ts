import {expect} from 'chai'
import {join} from 'node:path'

import {zkConstants} from '../../src/zk/session.js'
import {dcos, expectExit, zkUri} from '../helpers/cli.js'
import {removeDir, tempDir} from '../helpers/fixtures.js'
import {expectArchiveHolds, expectSameTree, oracleDiff, readTreeIndependently} from '../helpers/oracle.js'
import {rejection} from '../helpers/streams.js'
import {connect, digestId, seedTree, uniquePath, ZOO_PERM_ALL, ZOO_PERM_READ} from '../helpers/tree.js'
import {sharedEnsemble} from './hooks.js'

describe('the independent oracle (node-zookeeper-client)', () => {
  it('reads data, ACLs and ephemeral owners as ZooKeeper holds them, and sees every difference', async () => {
    const ensemble = await sharedEnsemble()
    const session = await connect(ensemble.connectString, {password: 'pw', user: 'oracle'})
    const root = uniquePath('oracle')
    try {
      const mine = [{id: digestId('oracle', 'pw'), perms: ZOO_PERM_ALL, scheme: 'digest'}]
      await seedTree(session, root, [
        {path: '/'},
        {data: 'one', path: '/a'},
        {acl: [{id: 'anyone', perms: ZOO_PERM_READ, scheme: 'world'}], data: Buffer.from([0, 1, 2]), path: '/a/b'},
        {acl: mine, path: '/c'},
      ])
      await session.create(`${root}/e`, Buffer.alloc(0), zkConstants.ZOO_EPHEMERAL)
      const tree = await readTreeIndependently(ensemble.connectString, root, {auth: 'oracle:pw'})
      expect(Object.keys(tree).sort()).to.deep.equal(['/', '/a', '/a/b', '/c', '/e'])
      expect(tree['/a'].data).to.equal(Buffer.from('one').toString('base64'))
      expect(tree['/a/b'].acl).to.deep.equal([`world:anyone:${ZOO_PERM_READ}`])
      expect(tree['/c'].acl).to.deep.equal([`digest:${digestId('oracle', 'pw')}:${ZOO_PERM_ALL}`])
      expect(tree['/e'].ephemeralOwner).to.not.equal('0000000000000000')
      expect(tree['/a'].ephemeralOwner).to.equal('0000000000000000')

      await session.setData(`${root}/a`, Buffer.from('two'))
      const changed = await readTreeIndependently(ensemble.connectString, root, {auth: 'oracle:pw'})
      expect(oracleDiff(tree, changed)).to.have.length(1)
      expect(oracleDiff(tree, tree)).to.deep.equal([])
      expect(await readTreeIndependently(ensemble.connectString, `${root}/missing`)).to.deep.equal({})
    } finally {
      await session.close()
    }
  })
})

/** The one difference an oracle assertion found (chai keeps it in `actual`; the message is truncated). */
function problems(error: Error): string {
  const {actual} = error as Error & {actual: string[]}
  expect(actual).to.have.length(1)
  return actual[0]
}

describe('the oracle helpers', () => {
  it('expectSameTree and expectArchiveHolds pass on equal trees and fail on a changed ACL or data', async function () {
    this.timeout(60_000)
    const hosts = (await sharedEnsemble()).connectString
    const session = await connect(hosts)
    const root = uniquePath('oracle-helpers')
    const dir = await tempDir('oracle-helpers')
    try {
      await seedTree(session, root, [
        {path: '/'},
        {data: 'one', path: '/a'},
        {acl: [{id: 'anyone', perms: ZOO_PERM_READ, scheme: 'world'}], data: 'two', path: '/b'},
      ])
      const archive = join(dir, 'a.tar.gz')
      expectExit(await dcos(['zk', 'backup', archive, '--zk', zkUri(hosts, root)]), 0)
      const tree = await readTreeIndependently(hosts, root)
      await expectSameTree(tree, hosts, root)
      await expectArchiveHolds(archive, tree)

      // Still ADMIN and WRITE, so that the test can change it back and its data.
      await session.setAcl(`${root}/a`, [
        {id: 'anyone', perms: ZOO_PERM_READ | zkConstants.ZOO_PERM_WRITE | zkConstants.ZOO_PERM_ADMIN, scheme: 'world'},
      ])
      const aclChanged = await readTreeIndependently(hosts, root)
      expect(problems(await rejection(expectSameTree(tree, hosts, root)))).to.match(/^differs \/a: /)
      expect(problems(await rejection(expectArchiveHolds(archive, aclChanged)))).to.match(/^differs \/a: /)

      await session.setAcl(`${root}/a`, [{id: 'anyone', perms: ZOO_PERM_ALL, scheme: 'world'}])
      await session.setData(`${root}/a`, Buffer.from('changed'))
      expect(problems(await rejection(expectArchiveHolds(archive, await readTreeIndependently(hosts, root))))).to.match(
        /^differs \/a: /,
      )
    } finally {
      await session.close()
      await removeDir(dir)
    }
  })
})
