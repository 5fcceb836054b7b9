import type zookeeper from 'node-zookeeper-client'

import {expect} from 'chai'
import {randomBytes} from 'node:crypto'
import {join} from 'node:path'
import {setTimeout as sleep} from 'node:timers/promises'

import {BulkAccess} from '../../src/engine/znodes/bulk-access.js'
import {MultiReadBatcher, RESPONSE_BUDGET} from '../../src/engine/znodes/read-znodes.js'
import {OperationError} from '../../src/errors.js'
import {zkConstants, ZkError, ZkSession} from '../../src/zk/session.js'
import {resolveZnodePath} from '../../src/zk/uri.js'
import {MultiFailed} from '../../src/zk/wire/protocol.js'
import {AuthFailed, WireSession} from '../../src/zk/wire/session.js'
import {Ensemble, fourLetterWord} from '../harness/ensemble.js'
import {sharedEnsemble} from '../harness/hooks.js'
import {dcos, expectExit, zkUri} from '../helpers/cli.js'
import {removeDir, tempDir} from '../helpers/fixtures.js'
import {silentServer} from '../helpers/net.js'
import {call, permsOf, withOracleClient} from '../helpers/oracle.js'
import {connect, digestId, READ_ONLY, seedTree, type SeedZnode, uniquePath, ZOO_PERM_ALL} from '../helpers/tree.js'
import {OldServerProxy} from './old-server-proxy.js'

const {ZCONNECTIONLOSS, ZNOAUTH, ZNODEEXISTS, ZNONODE, ZSESSIONEXPIRED} = zkConstants

/** Whether the node at `host` lists session `id` among its connections (`cons`). */
async function servesSession(host: string, id: bigint): Promise<boolean> {
  const answer = await fourLetterWord(Number(host.split(':')[1]), 'cons')
  return answer.includes(`sid=0x${id.toString(16)}`)
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => expect.fail('expected a rejection'),
    (error: unknown) => error,
  )
}

describe('ZooKeeper wire client (src/zk/wire)', function () {
  this.timeout(60_000)
  let hosts: string[]
  let native: ZkSession
  let wire: ZkSession

  before(async () => {
    const ensemble = await sharedEnsemble()
    hosts = ensemble.connectString.split(',')
    native = await connect(ensemble.connectString)
    wire = await ZkSession.connect({hosts, sessionTimeoutMs: 6000})
  })

  after(async () => {
    await wire?.close()
    await native?.close()
  })

  /** Seeds through the native session, then brings our session's node up to it (it may be another, not yet caught up). */
  async function seed(root: string, znodes: SeedZnode[]): Promise<void> {
    await seedTree(native, root, znodes)
    await wire.sync(root)
  }

  it('opens a session the server lists on the node it is connected to, with the timeout it negotiated', async () => {
    expect(hosts).to.include(wire.host)
    expect(wire.id).to.not.equal(0n)
    expect(wire.timeoutMs).to.equal(6000)
    expect(await servesSession(wire.host!, wire.id)).to.equal(true)
  })

  it("answers a multi-read with each op's result, and an error in place for a missing znode", async () => {
    const root = uniquePath('wire-read')
    await seed(root, [
      {data: 'parent', path: '/'},
      {data: 'a', path: '/a'},
      {data: Buffer.from([0, 255]), path: '/b'},
    ])
    const results = await wire.multiRead([
      {kind: 'getData', path: `${root}/a`},
      {kind: 'getData', path: `${root}/missing`},
      {kind: 'getChildren', path: root},
      {kind: 'getData', path: `${root}/b`},
    ])
    expect(results[0]).to.deep.include({data: Buffer.from('a'), kind: 'getData'})
    expect(results[1]).to.be.instanceOf(ZkError).with.property('code', ZNONODE)
    expect((results[1] as ZkError).path).to.equal(`${root}/missing`)
    expect(results[2]).to.deep.include({kind: 'getChildren'})
    expect((results[2] as {children: string[]}).children.sort()).to.deep.equal(['a', 'b'])
    expect(results[3]).to.deep.include({data: Buffer.from([0, 255])})
  })

  it('reads the same stat and ACL as another client (node-zookeeper-client)', async () => {
    const root = uniquePath('wire-stat')
    await seed(root, [{acl: READ_ONLY, data: 'x', path: '/'}])
    const ours = await wire.getAcl(root)
    // On the node our session reads from, which seed() brought up to date.
    const read = await withOracleClient(wire.host!, undefined, async (client) => {
      const stat = await call<zookeeper.Stat>((done) => client.exists(root, done))
      const acl = await call<zookeeper.ACL[]>((done) => client.getACL(root, done))
      return {acl: acl.map((entry) => ({id: entry.id.id, perms: permsOf(entry), scheme: entry.id.scheme})), stat}
    })
    const long = (bytes: Buffer) => Number(bytes.readBigInt64BE(0))
    const {stat} = read
    expect(ours.acl).to.deep.equal(read.acl)
    expect(ours.stat).to.deep.equal({
      aversion: stat.aversion,
      ctime: new Date(long(stat.ctime)),
      cversion: stat.cversion,
      czxid: long(stat.czxid),
      dataLength: stat.dataLength,
      ephemeralOwner: stat.ephemeralOwner.readBigUInt64BE(0).toString(16),
      mtime: new Date(long(stat.mtime)),
      mzxid: long(stat.mzxid),
      numChildren: stat.numChildren,
      pzxid: long(stat.pzxid),
      version: stat.version,
    })
  })

  describe('digest auth', () => {
    const user = 'wire-user'
    const password = `pw-${randomBytes(6).toString('hex')}`
    let root: string

    before(async () => {
      root = uniquePath('wire-auth')
      await seedTree(native, root, [
        {acl: [{id: digestId(user, password), perms: ZOO_PERM_ALL, scheme: 'digest'}], data: 'secret data', path: '/'},
      ])
    })

    it('reads a znode its credentials may read', async () => {
      const authed = await WireSession.connect({auth: {password, user}, hosts})
      try {
        await authed.sync(root)
        expect((await authed.getData(root)).data.toString()).to.equal('secret data')
      } finally {
        await authed.close()
      }
    })

    it('gets NoAuth for that znode with other credentials, as the error of that op only', async () => {
      const other = await WireSession.connect({auth: {password: 'wrong', user}, hosts})
      try {
        await other.sync(root)
        const [denied, allowed] = await other.multiRead([
          {kind: 'getData', path: root},
          {kind: 'getChildren', path: '/'},
        ])
        expect(denied).to.be.instanceOf(ZkError).with.property('code', ZNOAUTH)
        expect(allowed).to.not.be.instanceOf(ZkError)
      } finally {
        await other.close()
      }
    })

    it('reports credentials the server refuses on one line, without the secret', async () => {
      const error = await rejection(
        WireSession.connect({authScheme: {credentials: `${user}:${password}`, scheme: 'no-such-scheme', user}, hosts}),
      )
      expect(error).to.be.instanceOf(AuthFailed)
      expect((error as Error).message).to.match(
        /refused the no-such-scheme credentials of user wire-user \(ZAUTHFAILED\)/,
      )
      expect((error as Error).message).to.not.include(password)
    })
  })

  describe('multi', () => {
    it('creates znodes with their ACLs and types, all at once', async () => {
      const root = uniquePath('wire-multi')
      const results = await wire.multi([
        {
          acl: READ_ONLY.map((entry) => ({...entry, perms: ZOO_PERM_ALL})),
          data: Buffer.from('root'),
          kind: 'create',
          path: root,
        },
        {acl: READ_ONLY, data: Buffer.from('read only'), kind: 'create', path: `${root}/ro`},
        {
          acl: [{id: 'anyone', perms: ZOO_PERM_ALL, scheme: 'world'}],
          flags: 4,
          kind: 'create',
          path: `${root}/container`,
        },
        {
          acl: [{id: 'anyone', perms: ZOO_PERM_ALL, scheme: 'world'}],
          flags: 5,
          kind: 'create',
          path: `${root}/ttl`,
          ttlMs: 3_600_000,
        },
        {acl: [{id: 'anyone', perms: ZOO_PERM_ALL, scheme: 'world'}], flags: 2, kind: 'create', path: `${root}/seq-`},
      ])
      expect(results.map((result) => result.path)).to.deep.equal([
        root,
        `${root}/ro`,
        `${root}/container`,
        `${root}/ttl`,
        `${root}/seq-0000000003`,
      ])
      // Creates of containers and TTL znodes answer as create2 (15); their type is not visible to clients after.
      expect(results.map((result) => result.type)).to.deep.equal([1, 1, 15, 15, 1])
      // The other session may be on a node that has not applied the multi yet.
      await native.sync(root)
      expect((await native.getAcl(`${root}/ro`)).acl).to.deep.equal(READ_ONLY)
      expect((await native.getData(`${root}/ro`)).data.toString()).to.equal('read only')
    })

    it('applies nothing when one op fails, and names that op', async () => {
      const root = uniquePath('wire-atomic')
      await native.create(root, Buffer.alloc(0), 0)
      await native.create(`${root}/taken`, Buffer.alloc(0), 0)
      const open = [{id: 'anyone', perms: ZOO_PERM_ALL, scheme: 'world'}]
      const error = await rejection(
        wire.multi([
          {acl: open, kind: 'create', path: `${root}/first`},
          {acl: open, kind: 'create', path: `${root}/first/child`},
          {acl: open, kind: 'create', path: `${root}/taken`},
          {acl: open, kind: 'create', path: `${root}/after`},
        ]),
      )
      expect(error)
        .to.be.instanceOf(MultiFailed)
        .and.include({code: ZNODEEXISTS, index: 2, path: `${root}/taken`})
      expect((error as Error).message).to.equal(`ZooKeeper create ${root}/taken failed: ZNODEEXISTS`)
      expect(await native.getChildren(root)).to.deep.equal(['taken'])
    })
  })

  it('splits multi-reads of ~1 MB znodes to stay under jute.maxbuffer, reading every byte', async () => {
    const root = uniquePath('wire-big')
    const big = Array.from({length: 4}, (_, index) => ({data: randomBytes(1_000_000), path: `/big${index}`}))
    const small = Array.from({length: 40}, (_, index) => ({data: `small ${index}`, path: `/small${index}`}))
    await seed(root, [{path: '/'}, ...big, ...small])
    const batcher = new MultiReadBatcher(wire)
    const read = await Promise.all([...big, ...small].map(({path}) => batcher.read(`${root}${path}`)))
    expect(read.map((znode) => znode!.data)).to.deep.equal([...big, ...small].map(({data}) => Buffer.from(data)))
    expect(batcher.counts.batches).to.be.at.least(big.length)
    expect(batcher.counts.largestSharedBatchBytes).to.be.above(0).and.at.most(RESPONSE_BUDGET)
    expect(batcher.counts.splits).to.equal(0)
  })

  it('keeps an ACL only with the data it belongs to: ACLs read from a view behind the leader are read again', async () => {
    // A second server holding an older copy of the tree stands in for a follower that is behind:
    // the same paths, created at other zxids, with the ACLs as they were before a change.
    const stale = await Ensemble.start({nodes: 1})
    const staleNative = await connect(stale.connectString)
    const staleWire = await ZkSession.connect({hosts: [stale.connectString]})
    try {
      const root = uniquePath('wire-stale-acl')
      const znodes = [{path: '/'}, {data: 'a', path: '/a'}, {data: 'b', path: '/b'}, {data: 'c', path: '/c'}]
      await seedTree(
        staleNative,
        '/padding',
        Array.from({length: 20}, (_, index) => ({path: index === 0 ? '/' : `/p${index}`})),
      )
      await seedTree(
        staleNative,
        root,
        znodes.filter(({path}) => path !== '/c'),
      )
      await seed(root, [...znodes.slice(0, 2), {...znodes[2], acl: READ_ONLY}, znodes[3]])
      const at = (path: string) => resolveZnodePath(root, path)
      const truth = await Promise.all(
        znodes.map(async ({path}) => {
          const [{data, stat}, {acl}] = await Promise.all([native.getData(at(path)), native.getAcl(at(path))])
          return {acl, data, stat}
        }),
      )
      expect(truth[2].acl).to.deep.equal(READ_ONLY)

      const batcher = new MultiReadBatcher(wire, undefined, [staleWire])
      const reads = []
      // ACL reads take the sessions in turn: reading each path twice, in sequence, sends one of its two through the stale view.
      for (const {path} of znodes.flatMap((znode) => [znode, znode])) reads.push(await batcher.read(at(path)))
      for (const [index, read] of reads.entries()) {
        const {acl, data, stat} = truth[Math.floor(index / 2)]
        expect(read).to.deep.include({acl, data})
        const {aversion, czxid, mzxid, pzxid, version} = read!.stat
        expect(stat).to.include({aversion, czxid, mzxid, pzxid, version})
      }

      // Every stale read of a path the stale server has came from other zxids: each was read again. /c, missing there, fell back.
      expect(batcher.counts.aclRereads).to.equal(3)
    } finally {
      await staleWire.close()
      await staleNative.close()
      await stale.stop()
    }
  })

  it('gives up on a node that does not answer after connectTimeoutMs, and by default goes on to the next', async () => {
    const silent = await silentServer()
    const hung = `127.0.0.1:${silent.port}`
    try {
      const started = Date.now()
      const error = await rejection(
        WireSession.connect({connectTimeoutMs: 1000, hosts: [hung], preferredHost: hung, sessionTimeoutMs: 6000}),
      )
      expect(error).to.be.instanceOf(OperationError).and.have.property('message').that.includes(hung)
      expect(Date.now() - started).to.be.below(3000) // the session timeout is 6 s
      const onward = await WireSession.connect({hosts: [hung, ...hosts], preferredHost: hung, sessionTimeoutMs: 6000})
      expect(hosts).to.include(onward.host)
      await onward.close()
    } finally {
      await silent.close()
    }
  })

  it('keeps an idle session alive with pings past its timeout', async () => {
    const idle = await WireSession.connect({hosts, sessionTimeoutMs: 2000})
    try {
      await sleep(5000)
      expect(await servesSession(idle.host!, idle.id)).to.equal(true)
      expect(await idle.exists('/')).to.not.equal(undefined)
    } finally {
      await idle.close()
    }
  })

  it('keeps its connection through a busy event loop: an answer waiting unread behind a late ping tick is not silence', async () => {
    const busy = await WireSession.connect({hosts, sessionTimeoutMs: 3000})
    try {
      await busy.exists('/')
      const answered = busy.exists('/')
      // Blocks this thread past two thirds of the timeout while the answer arrives (short of the server's expiry).
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, busy.timeoutMs * 0.8)
      expect(await answered).to.not.equal(undefined)
    } finally {
      await busy.close()
    }
  })

  describe('a server without multi-read (ZooKeeper 3.4, simulated by a proxy)', () => {
    let proxy: OldServerProxy
    let dir: string

    before(async () => {
      proxy = await OldServerProxy.start(Number(hosts[0].split(':')[1]))
      dir = await tempDir('wire-old')
    })

    after(async () => {
      await proxy?.close()
      await removeDir(dir)
    })

    it('is detected: auto falls back to single requests and says why, on fails clearly', async () => {
      const session = await connect(proxy.host)
      try {
        const auto = await BulkAccess.open(session, 'auto')
        expect(auto).to.include({readPath: 'single', writePath: 'single'})
        expect(auto.fallbackReason).to.match(/does not answer multi-read/)
        expect(proxy.multiReadsRefused).to.equal(1)
        const error = await rejection(BulkAccess.open(session, 'on'))
        expect((error as Error).message).to.match(
          /^Cannot use batches \(--batch on\): ZooKeeper does not answer multi-read .*; use --batch auto or off$/,
        )
      } finally {
        await session.close()
      }
    })

    it('backs up and restores through it with --batch auto, saying which path ran, each znode created with its ACL', async () => {
      const root = uniquePath('wire-old-roundtrip')
      // Not open, but it lets the restore create children: created with it, not set afterwards.
      const readCreate = [
        {id: 'anyone', perms: zkConstants.ZOO_PERM_READ | zkConstants.ZOO_PERM_CREATE, scheme: 'world'},
      ]
      // Seeded on the node behind the proxy, which the CLI reads from.
      const onProxiedNode = await connect(proxy.host)
      try {
        await seedTree(onProxiedNode, root, [
          {data: 'r', path: '/'},
          {data: 'a', path: '/a'},
          {acl: READ_ONLY, data: 'ro', path: '/a/ro'},
          {acl: readCreate, data: 'rc', path: '/a/rc'},
        ])
      } finally {
        await onProxiedNode.close()
      }

      const archive = join(dir, 'old.tar.gz')
      const backup = JSON.parse(
        expectExit(await dcos(['zk', 'backup', archive, '--zk', zkUri(proxy.host, root), '--json']), 0).stdout,
      )
      expect(backup).to.include({readPath: 'single', znodes: 4})
      const copy = uniquePath('wire-old-copy')
      const restore = JSON.parse(
        expectExit(
          await dcos([
            'zk',
            'restore',
            archive,
            '--zk',
            zkUri(proxy.host, copy),
            '--json',
            '--no-safety-backup',
            '--yes',
          ]),
          0,
        ).stdout,
      )
      expect(restore).to.include({created: 4, readPath: 'single', verified: true, writePath: 'single'})
      // As another client sees it: ACL version 0, no setACL after the create.
      const {acl, aversion} = await withOracleClient(proxy.host, undefined, async (client) => {
        const stat = await call<zookeeper.Stat>((done) => client.exists(`${copy}/a/rc`, done))
        const entries = await call<zookeeper.ACL[]>((done) => client.getACL(`${copy}/a/rc`, done))
        return {
          acl: entries.map((entry) => ({id: entry.id.id, perms: permsOf(entry), scheme: entry.id.scheme})),
          aversion: stat.aversion,
        }
      })
      expect({acl, aversion}).to.deep.equal({acl: readCreate, aversion: 0})
    })
  })
})

describe('ZooKeeper wire client: losing nodes (own ensemble)', function () {
  this.timeout(120_000)
  let ensemble: Ensemble

  before(async () => {
    ensemble = await Ensemble.start({nodes: 3})
  })

  after(async () => {
    await ensemble?.stop()
  })

  it('moves to another node with the same session when its node stops mid-stream; requests in flight fail with connection loss', async () => {
    const hosts = ensemble.connectString.split(',')
    const wire = await WireSession.connect({hosts, sessionTimeoutMs: 8000})
    try {
      const first = wire.host!
      const id = hosts.indexOf(first) + 1
      const outcomes: Array<'lost' | 'ok'> = []
      const stream = (async () => {
        for (let round = 0; round < 400; round++) {
          const settled = await Promise.allSettled(
            Array.from({length: 20}, () => wire.multiRead([{kind: 'getChildren', path: '/'}])),
          )
          for (const result of settled) {
            if (result.status === 'fulfilled') outcomes.push('ok')
            else if (result.reason instanceof ZkError && result.reason.code === ZCONNECTIONLOSS) outcomes.push('lost')
            else throw result.reason
          }

          if (outcomes.includes('lost') && outcomes.at(-1) === 'ok') return
        }
      })()
      await sleep(300)
      await ensemble.stopNode(id)
      await stream
      expect(outcomes).to.include('lost')
      expect(outcomes.at(-1)).to.equal('ok')
      expect(wire.host).to.not.equal(first)
      expect(await servesSession(wire.host!, wire.id)).to.equal(true)
      await ensemble.startNode(id)
    } finally {
      await wire.close()
    }
  })

  it('reports an expired session clearly once no node was reachable for the session timeout', async () => {
    const proxy = await OldServerProxy.start(Number(ensemble.nodeConnectString(1).split(':')[1]))
    const wire = await WireSession.connect({hosts: [proxy.host], sessionTimeoutMs: 2000})
    try {
      proxy.cut()
      await sleep(3500)
      proxy.restore()
      const error = await rejection(wire.getData('/'))
      expect(error).to.be.instanceOf(ZkError).with.property('code', ZSESSIONEXPIRED)
      expect((error as Error).message).to.match(/^ZooKeeper session expired/)
    } finally {
      await wire.close()
      await proxy.close()
    }
  })
})
