import type zookeeper from 'node-zookeeper-client'

/**
 * ZkSession's writes over the wire client, each checked with another client (node-zookeeper-client,
 * the oracle): every create type with its ACL in the create, setData, delete; what a create does when
 * its connection is lost under it; and a session's end by expiry.
 */
import {expect} from 'chai'

import {type Acl, zkConstants, ZkError, ZkSession} from '../../src/zk/session.js'
import {Ensemble} from '../harness/ensemble.js'
import {sharedEnsemble} from '../harness/hooks.js'
import {call, permsOf, withOracleClient} from '../helpers/oracle.js'
import {rejection} from '../helpers/streams.js'
import {digestId, uniquePath, ZOO_PERM_ALL} from '../helpers/tree.js'
import {eventually} from '../helpers/wait.js'
import {OldServerProxy} from './old-server-proxy.js'

const {ZCONNECTIONLOSS, ZNODEEXISTS, ZNONODE, ZBADVERSION} = zkConstants

interface Seen {
  acl: string[]
  aversion: number
  data: string
  ephemeralOwner: string
  version: number
}

/** What the oracle sees of each path (undefined for one that does not exist). */
function seen(hosts: string, paths: string[]): Promise<Array<Seen | undefined>> {
  return withOracleClient(hosts, undefined, (client) =>
    Promise.all(
      paths.map(async (path) => {
        const stat = await call<null | zookeeper.Stat>((done) => client.exists(path, done))
        if (!stat) return undefined
        const [data, dataStat] = await new Promise<[Buffer | undefined, zookeeper.Stat]>((resolve, reject) =>
          client.getData(path, (error, value, valueStat) => (error ? reject(error) : resolve([value, valueStat]))),
        )
        const acl = await call<zookeeper.ACL[]>((done) => client.getACL(path, done))
        return {
          acl: acl.map((entry) => `${entry.id.scheme}:${entry.id.id}:${permsOf(entry)}`),
          aversion: dataStat.aversion,
          data: (data ?? Buffer.alloc(0)).toString(),
          ephemeralOwner: dataStat.ephemeralOwner.toString('hex'),
          version: dataStat.version,
        }
      }),
    ),
  )
}

/** Whether the oracle sees each path: an exists only, as a getData may race a reaper's delete. */
function existing(hosts: string, paths: string[]): Promise<boolean[]> {
  return withOracleClient(hosts, undefined, (client) =>
    Promise.all(
      paths.map(async (path) => Boolean(await call<null | zookeeper.Stat>((done) => client.exists(path, done)))),
    ),
  )
}

function childrenSeen(hosts: string, path: string): Promise<string[]> {
  return withOracleClient(hosts, undefined, (client) => call<string[]>((done) => client.getChildren(path, done)))
}

const hex = (owner: bigint) => owner.toString(16).padStart(16, '0')
/** Containers and TTL znodes show no owner to clients too: their types show in what the server reaps. */
const NO_OWNER = hex(0n)

describe('ZooKeeper session: writes over the wire client, checked with another client', function () {
  this.timeout(60_000)
  let connectString: string
  let session: ZkSession

  before(async () => {
    connectString = (await sharedEnsemble()).connectString
    session = await ZkSession.connect({hosts: connectString.split(',')})
  })

  after(() => session?.close())

  it('creates every type with its ACL in the create request, answering the name created', async () => {
    const root = uniquePath('session-create')
    await session.create(root, Buffer.from('root'))
    // ADMIN for anyone: the oracle, without credentials, sees the digest's hash.
    const acl: Acl[] = [
      {id: digestId('someone', 'secret'), perms: ZOO_PERM_ALL, scheme: 'digest'},
      {id: 'anyone', perms: zkConstants.ZOO_PERM_READ | zkConstants.ZOO_PERM_ADMIN, scheme: 'world'},
    ]
    const ttl = 3_600_000
    const kinds = [
      {flags: zkConstants.ZOO_PERSISTENT, name: 'persistent', owner: NO_OWNER},
      {flags: zkConstants.ZOO_PERSISTENT_SEQUENTIAL, name: 'persistent-seq-', owner: NO_OWNER},
      {flags: zkConstants.ZOO_EPHEMERAL, name: 'ephemeral', owner: hex(session.id)},
      {flags: zkConstants.ZOO_EPHEMERAL_SEQUENTIAL, name: 'ephemeral-seq-', owner: hex(session.id)},
      {flags: zkConstants.ZOO_CONTAINER, name: 'container', owner: NO_OWNER},
      {flags: zkConstants.ZOO_PERSISTENT_WITH_TTL, name: 'ttl', owner: NO_OWNER, ttl},
      {flags: zkConstants.ZOO_PERSISTENT_SEQUENTIAL_WITH_TTL, name: 'ttl-seq-', owner: NO_OWNER, ttl},
    ]
    const created = await Promise.all(
      kinds.map(({flags, name, ttl}) => session.create(`${root}/${name}`, Buffer.from(name), flags, ttl, acl)),
    )
    for (const [index, {name}] of kinds.entries()) {
      expect(created[index]).to.match(
        name.endsWith('-') ? new RegExp(`^${root}/${name}\\d{10}$`) : new RegExp(`^${root}/${name}$`),
      )
    }

    const found = await seen(connectString, created)
    for (const [index, {name, owner}] of kinds.entries()) {
      // aversion 0: the ACL came with the create, no setACL followed it.
      expect(found[index], name).to.deep.equal({
        acl: acl.map(({id, perms, scheme}) => `${scheme}:${id}:${perms}`),
        aversion: 0,
        data: name,
        ephemeralOwner: owner,
        version: 0,
      })
    }
  })

  it('writes data and deletes, with versions, as another client sees it', async () => {
    const path = uniquePath('session-write')
    await session.create(path, Buffer.from('first'))
    await session.setData(path, Buffer.from('second'))
    await session.setData(path, Buffer.from('third'), 1)
    expect(await rejection(session.setData(path, Buffer.from('stale'), 1)))
      .to.be.instanceOf(ZkError)
      .with.property('code', ZBADVERSION)
    expect((await seen(connectString, [path]))[0]).to.include({data: 'third', version: 2})

    expect(await rejection(session.delete(path, 0)))
      .to.be.instanceOf(ZkError)
      .with.property('code', ZBADVERSION)
    await session.delete(path, 2)
    expect(await seen(connectString, [path])).to.deep.equal([undefined])
    expect(await rejection(session.delete(path)))
      .to.be.instanceOf(ZkError)
      .with.property('code', ZNONODE)
  })

  describe('a connection lost under a create (a proxy drops it)', () => {
    let proxy: OldServerProxy
    let proxied: ZkSession

    before(async () => {
      const node = (await sharedEnsemble()).nodeConnectString(1)
      proxy = await OldServerProxy.start(Number(node.split(':')[1]))
      proxied = await ZkSession.connect({hosts: [proxy.host]})
    })

    after(async () => {
      await proxied?.close()
      await proxy?.close()
    })

    it('re-sends a create the server applied unseen: done once, with our data', async () => {
      for (const flags of [zkConstants.ZOO_PERSISTENT, zkConstants.ZOO_EPHEMERAL]) {
        const path = uniquePath('session-lost-answer')
        const {connections} = proxy
        const lost = proxy.loseCreateOf({landed: true, path})

        expect(await proxied.create(path, Buffer.from('ours'), flags)).to.equal(path)

        await lost
        expect(proxy.connections, 'the connection was lost and the session reconnected').to.equal(connections + 1)

        expect((await seen(connectString, [path]))[0]).to.include({
          data: 'ours',
          ephemeralOwner: flags ? hex(proxied.id) : NO_OWNER,
          version: 0,
        })
      }
    })

    it('does not take a znode someone else created meanwhile for its own: NodeExists', async () => {
      const path = uniquePath('session-lost-request')
      const theirs = () =>
        withOracleClient(connectString, undefined, (client) =>
          call<string>((done) => client.create(path, Buffer.from('theirs'), done)),
        )
      const lost = proxy.loseCreateOf({
        async before() {
          await theirs()
        },
        landed: false,
        path,
      })
      const error = await rejection(proxied.create(path, Buffer.from('ours'), zkConstants.ZOO_PERSISTENT))
      await lost
      expect(error).to.be.instanceOf(ZkError).with.property('code', ZNODEEXISTS)
      expect((await seen(connectString, [path]))[0]).to.include({data: 'theirs'})
    })

    it('never re-sends a sequential create: the loss is reported, and one znode exists', async () => {
      const root = uniquePath('session-lost-seq')
      await proxied.create(root, Buffer.alloc(0))
      const lost = proxy.loseCreateOf({landed: true, path: `${root}/job-`})
      const error = await rejection(
        proxied.create(`${root}/job-`, Buffer.from('job'), zkConstants.ZOO_PERSISTENT_SEQUENTIAL),
      )
      await lost
      expect(error).to.be.instanceOf(ZkError).with.property('code', ZCONNECTIONLOSS)
      expect(await childrenSeen(connectString, root)).to.have.length(1)
    })
  })

  it('ends when it expires: not alive, onClose once, and the server drops its ephemerals', async () => {
    const node = (await sharedEnsemble()).nodeConnectString(1)
    const proxy = await OldServerProxy.start(Number(node.split(':')[1]))
    const doomed = await ZkSession.connect({hosts: [proxy.host], sessionTimeoutMs: 4000})
    try {
      const path = uniquePath('session-expiry')
      await doomed.create(path, Buffer.from('mine'), zkConstants.ZOO_EPHEMERAL)
      let closes = 0
      const ended = new Promise<void>((resolve) =>
        doomed.onClose(() => {
          closes++
          resolve()
        }),
      )
      expect(doomed.alive).to.equal(true)
      proxy.cut()
      await ended
      expect(doomed.alive).to.equal(false)
      await eventually(
        "the expired session's ephemeral to go",
        async () => ((await seen(connectString, [path]))[0] === undefined ? true : undefined),
        30_000,
      )
      await doomed.close()
      expect(closes).to.equal(1)
    } finally {
      await doomed.close()
      await proxy.close()
    }
  })
})

describe('ZooKeeper session: container and TTL creates (own server, reaping every 200 ms)', function () {
  this.timeout(60_000)
  let reaping: Ensemble

  before(async () => {
    reaping = await Ensemble.start({jvmFlags: ['-Dznode.container.checkIntervalMs=200'], nodes: 1})
  })

  after(() => reaping?.stop())

  it('creates containers and TTL znodes the server reaps as such, and persistent ones it keeps', async () => {
    const root = uniquePath('session-reaped')
    const session = await ZkSession.connect({hosts: [reaping.connectString]})
    await session.create(root, Buffer.alloc(0))
    const [container, ttl, ttlSequential, persistent] = await Promise.all([
      session.create(`${root}/container`, Buffer.alloc(0), zkConstants.ZOO_CONTAINER),
      session.create(`${root}/ttl`, Buffer.alloc(0), zkConstants.ZOO_PERSISTENT_WITH_TTL, 500),
      session.create(`${root}/ttl-seq-`, Buffer.alloc(0), zkConstants.ZOO_PERSISTENT_SEQUENTIAL_WITH_TTL, 500),
      session.create(`${root}/persistent`, Buffer.alloc(0)),
    ])
    // A container is reaped once it had a child and has none.
    await session.create(`${container}/child`, Buffer.alloc(0))
    await session.delete(`${container}/child`)
    const gone = [container, ttl, ttlSequential]
    await eventually(
      'the container and the TTL znodes to be reaped',
      async () => ((await existing(reaping.connectString, gone)).includes(true) ? undefined : true),
      30_000,
    )
    expect(await childrenSeen(reaping.connectString, root)).to.deep.equal([persistent.slice(root.length + 1)])
    await session.close()
  })
})
