import {expect} from 'chai'
import {existsSync} from 'node:fs'
import {join} from 'node:path'

import {zkConstants, type ZkSession} from '../../../src/zk/session.js'
import {Ensemble} from '../../harness/ensemble.js'
import {sharedEnsemble} from '../../harness/hooks.js'
import {dcos, expectExit, spawnDcos, zkUri} from '../../helpers/cli.js'
import {writeCraftedArchive} from '../../helpers/craft.js'
import {removeDir, tempDir} from '../../helpers/fixtures.js'
import {oracleDiff, readTreeIndependently} from '../../helpers/oracle.js'
import {connect, digestId, seedTree, uniquePath, ZOO_PERM_ALL} from '../../helpers/tree.js'
import {eventually} from '../../helpers/wait.js'

const HOUR = 3_600_000

/** The one line on stderr of a failed command. */
function errorLine(stderr: string): string {
  const lines = stderr.trimEnd().split('\n')
  expect(lines, `stderr is one line:\n${stderr}`).to.have.length(1)
  return lines[0]
}

describe('dcos zk restore: what the servers and credentials must allow is checked before anything changes', function () {
  this.timeout(120_000)
  let dir: string

  before(async () => {
    dir = await tempDir('restore-checks')
  })

  after(() => removeDir(dir))

  describe('on a server without TTL znodes (zookeeper.extendedTypesEnabled off), alone on its own node', () => {
    let node: Ensemble
    let session: ZkSession

    before(async () => {
      node = await Ensemble.start({jvmFlags: ['-Dzookeeper.extendedTypesEnabled=false'], nodes: 1})
      session = await connect(node.connectString)
    })

    after(async () => {
      await session?.close()
      await node?.stop()
    })

    it('refuses an archive holding TTL znodes: exit 1 naming the first one, the live tree and the lock untouched', async () => {
      const root = '/ttl-app'
      await seedTree(session, root, [
        {data: 'live', path: '/'},
        {data: 'keep me', path: '/current'},
      ])
      const before = await readTreeIndependently(node.connectString, root)
      const archive = join(dir, 'ttl.tar.gz')
      await writeCraftedArchive(archive, root, [
        {data: 'archived', path: '/'},
        {path: '/sessions'},
        {data: 'expiring', path: '/sessions/one', ttl: HOUR, type: 'ttl'},
        {path: '/sessions/two', ttl: HOUR, type: 'ttl'},
      ])
      const result = await dcos([
        'zk',
        'restore',
        archive,
        '--zk',
        zkUri(node.connectString, root),
        '--yes',
        '--safety-backup',
        join(dir, 'ttl-safety.tar.gz'),
      ])
      expectExit(result, 1)
      expect(errorLine(result.stderr)).to.match(
        /^Error: Cannot restore: the archive holds TTL znodes \(\/ttl-app\/sessions\/one and 1 more\) and the ZooKeeper servers do not accept TTL znodes .*extendedTypesEnabled.*nothing was changed/,
      )
      expect(oracleDiff(before, await readTreeIndependently(node.connectString, root))).to.deep.equal([])
      expect(await readTreeIndependently(node.connectString, '/dcos-backup')).to.deep.equal({})
    })

    it("restores an archive of / into / without touching ZooKeeper's own /zookeeper", async () => {
      await seedTree(session, '/whole', [
        {data: 'whole', path: '/'},
        {data: 'child', path: '/child'},
      ])
      const own = await readTreeIndependently(node.connectString, '/zookeeper', {skipZookeeper: false})
      expect(Object.keys(own)).to.include('/config')
      const archive = join(dir, 'root.tar.gz')
      expectExit(await dcos(['zk', 'backup', archive, '--zk', zkUri(node.connectString, '/')]), 0)
      await session.create('/whole/extra', Buffer.from('extra'), 0)
      expectExit(
        await dcos(['zk', 'restore', archive, '--zk', zkUri(node.connectString, '/'), '--yes', '--no-safety-backup']),
        0,
      )
      expect(await session.exists('/whole/extra')).to.equal(undefined)
      expect(
        oracleDiff(own, await readTreeIndependently(node.connectString, '/zookeeper', {skipZookeeper: false})),
      ).to.deep.equal([])
    })
  })

  describe('on the shared ensemble', () => {
    let hosts: string
    let session: ZkSession

    before(async () => {
      hosts = (await sharedEnsemble()).connectString
      session = await connect(hosts)
    })

    after(() => session?.close())

    it('refuses /zookeeper or a path under it as the target before connecting: exit 2', async () => {
      const archive = join(dir, 'quota.tar.gz')
      await writeCraftedArchive(archive, '/quota', [{path: '/'}])
      for (const target of ['/zookeeper', '/zookeeper/quota']) {
        const result = await dcos(['zk', 'restore', archive, '--zk', zkUri('127.0.0.1:1', target), '--yes'])
        expectExit(result, 2)
        expect(errorLine(result.stderr)).to.include(`the target ${target} is under /zookeeper, ZooKeeper's own subtree`)
      }
    })

    it('refuses an archive of / that holds /zookeeper: exit 2, nothing changed, nothing written', async () => {
      const archive = join(dir, 'own.tar.gz')
      await writeCraftedArchive(archive, '/', [
        {path: '/'},
        {data: 'x', path: '/zookeeper'},
        {data: '1', path: '/zookeeper/quota'},
      ])
      const safety = join(dir, 'own-safety.tar.gz')
      const result = await dcos([
        'zk',
        'restore',
        archive,
        '--zk',
        zkUri(hosts, '/'),
        '--yes',
        '--safety-backup',
        safety,
      ])
      expectExit(result, 2)
      expect(errorLine(result.stderr)).to.match(
        /holds \/zookeeper, under ZooKeeper's own subtree \/zookeeper, which no client restores; nothing was changed$/,
      )
      expect(existsSync(safety)).to.equal(false)
    })

    it('refuses an archive whose ACLs would hide a restored znode from its own verification: exit 1 before any change', async () => {
      const root = uniquePath('unreadable')
      await seedTree(session, root, [
        {data: 'live', path: '/'},
        {data: 'live child', path: '/child'},
      ])
      const before = await readTreeIndependently(hosts, root)
      const archive = join(dir, 'unreadable.tar.gz')
      const someoneElse = [{id: digestId('someone', 'else'), perms: ZOO_PERM_ALL, scheme: 'digest'}]
      await writeCraftedArchive(archive, root, [
        {data: 'archived', path: '/'},
        {data: 'secret', path: '/theirs', acl: someoneElse},
      ])
      const result = await dcos(['zk', 'restore', archive, '--zk', zkUri(hosts, root), '--yes', '--no-safety-backup'])
      expectExit(result, 1)
      expect(errorLine(result.stderr)).to.include(
        `cannot read back ${root}/theirs after restoring it, to verify it (its archived ACL digest:${someoneElse[0].id}:rwcda grants them no READ)`,
      )
      expect(oracleDiff(before, await readTreeIndependently(hosts, root))).to.deep.equal([])
    })

    it('restores a digest ACL whose hash it may not read back (no ADMIN there), and its user keeps the access', async () => {
      const root = uniquePath('digest-shown')
      const theirs = [
        {id: digestId('someone', 'their-pw'), perms: ZOO_PERM_ALL, scheme: 'digest'},
        {id: 'anyone', perms: zkConstants.ZOO_PERM_READ, scheme: 'world'},
      ]
      const archive = join(dir, 'digest-shown.tar.gz')
      await writeCraftedArchive(archive, root, [
        {data: 'root', path: '/'},
        {acl: theirs, data: 'theirs', path: '/theirs'},
      ])
      // The server shows this session "someone:x" on /theirs: the final check must compare what it can see.
      const result = await dcos(['zk', 'restore', archive, '--zk', zkUri(hosts, root), '--yes'])
      expectExit(result, 0)
      const asThem = await readTreeIndependently(hosts, root, {auth: 'someone:their-pw'})
      expect(asThem['/theirs'].acl).to.deep.equal(
        [`digest:${theirs[0].id}:${ZOO_PERM_ALL}`, `world:anyone:${zkConstants.ZOO_PERM_READ}`].sort(),
      )
      const them = await connect(hosts, {password: 'their-pw', user: 'someone'})
      try {
        await them.setData(`${root}/theirs`, Buffer.from('still theirs'))
      } finally {
        await them.close()
      }
    })

    it('waits for a lock whose holder on this host was killed, until its session expires, then restores', async () => {
      const root = uniquePath('dead-holder')
      await seedTree(session, root, [
        {data: 'v1', path: '/'},
        {data: 'child', path: '/child'},
      ])
      const archive = join(dir, 'dead-holder.tar.gz')
      expectExit(await dcos(['zk', 'backup', archive, '--zk', zkUri(hosts, root)]), 0)
      await session.setData(`${root}/child`, Buffer.from('changed'))
      const lockPath = `${uniquePath('dead-lock')}/lock`
      // A restore holding the lock, killed while it holds it: its session (4 s) outlives it.
      const victim = spawnDcos([
        'zk',
        'restore',
        archive,
        '--zk',
        zkUri(hosts, root),
        '--yes',
        '--no-safety-backup',
        '--lock-path',
        lockPath,
        '--session-timeout',
        '4',
      ])
      await eventually(
        'the victim to hold the lock',
        async () => ((await session.exists(lockPath)) ? true : undefined),
        30_000,
        5,
      )
      victim.child.kill('SIGSTOP') // so that it cannot finish, and release the lock, first
      victim.child.kill('SIGKILL')
      await victim.exited
      expect(await session.exists(lockPath)).to.not.equal(undefined)
      const result = await dcos([
        'zk',
        'restore',
        archive,
        '--zk',
        zkUri(hosts, root),
        '--yes',
        '--no-safety-backup',
        '--lock-path',
        lockPath,
      ])
      expectExit(result, 0)
      expect(result.stderr).to.match(
        /holds the cluster lock .*, but that process no longer exists: waiting up to 6s for its ZooKeeper session to expire/,
      )
      expect((await session.getData(`${root}/child`)).data.toString()).to.equal('child')
    })

    it('--wait-lock waits for a live holder elsewhere to let go', async () => {
      const root = uniquePath('wait-lock')
      await seedTree(session, root, [{data: 'v1', path: '/'}])
      const archive = join(dir, 'wait-lock.tar.gz')
      expectExit(await dcos(['zk', 'backup', archive, '--zk', zkUri(hosts, root)]), 0)
      await session.setData(root, Buffer.from('v2'))
      const lockPath = `${uniquePath('wait-lock')}/lock`
      await session.createParents(lockPath)
      const holder = {instance: 'other-host:42', job: 'restore-other', kind: 'restore', since: new Date().toISOString()}
      await session.create(lockPath, Buffer.from(JSON.stringify(holder)), zkConstants.ZOO_EPHEMERAL)
      const restore = spawnDcos([
        'zk',
        'restore',
        archive,
        '--zk',
        zkUri(hosts, root),
        '--yes',
        '--no-safety-backup',
        '--lock-path',
        lockPath,
        '--wait-lock',
        '30s',
      ])
      let said = ''
      restore.child.stderr!.on('data', (chunk: Buffer) => (said += chunk.toString()))
      // Let go only once the restore says it waits: it has met the lock.
      await eventually(
        'the restore to wait for the lock',
        async () => (said.includes('--wait-lock') ? true : undefined),
        30_000,
        20,
      )
      expect(await session.exists(root)).to.not.equal(undefined)
      expect((await session.getData(root)).data.toString()).to.equal('v2')
      await session.delete(lockPath)
      const result = await restore.exited
      expect(result.code, result.stderr).to.equal(0)
      expect(result.stderr).to.include('a restore (restore-other) on other-host:42')
      expect(result.stderr).to.match(/waiting up to \d+s \(--wait-lock\)/)
      expect((await session.getData(root)).data.toString()).to.equal('v1')
    })
  })
})
