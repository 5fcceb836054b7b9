import {expect} from 'chai'

import {sharedEnsemble} from './hooks.js'
import {oracleDiff, readTreeIndependently} from '../helpers/oracle.js'
import {connect, digestId, seedTree, uniquePath, ZOO_PERM_ALL, ZOO_PERM_READ} from '../helpers/tree.js'
import {zkConstants} from '../../src/zk/session.js'

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
      session.close()
    }
  })
})
