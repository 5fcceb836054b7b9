/**
 * The version matrix: the tool against real ZooKeeper 3.4.13, 3.8.0 and 3.9.3 (Debian's packages;
 * the harness fetches 3.4 and 3.9 on first use). On each: an online round trip, a node stopped
 * mid-backup, an offline data-directory backup restored into another node of the same version,
 * and that data-directory archive restored online. Results are read back with the independent
 * oracle (another client library), ACLs included.
 */
import {expect} from 'chai'
import {randomBytes} from 'node:crypto'
import {writeFile} from 'node:fs/promises'
import {join} from 'node:path'
import {setTimeout as delay} from 'node:timers/promises'

import type {Acl} from '../../src/zk/session.js'

import {Ensemble, ZOOKEEPER_VERSIONS, type ZookeeperVersion} from '../harness/ensemble.js'
import {readArchiveFile} from '../helpers/archive.js'
import {dcos, expectExit, spawnDcos, zkUri} from '../helpers/cli.js'
import {ALL_BYTES, removeDir, tempDir} from '../helpers/fixtures.js'
import {connectedPorts} from '../helpers/net.js'
import {oracleDiff, type OracleTree, readTreeIndependently} from '../helpers/oracle.js'
import {secret} from '../helpers/secrets.js'
import {connect, digestId, READ_ONLY, seedTree, type SeedZnode, ZOO_PERM_ALL, ZOO_PERM_READ} from '../helpers/tree.js'
import {eventually} from '../helpers/wait.js'

const auth = {password: secret('compat-secret'), user: 'compat'}
const AUTH = `${auth.user}:${auth.password}`
const ENV = {DCOS_ZK_AUTH: AUTH}
const SECRET_ACL: Acl[] = [{id: digestId(auth.user, auth.password), perms: ZOO_PERM_ALL, scheme: 'digest'}]
const MIXED_ACL: Acl[] = [...SECRET_ACL, {id: 'anyone', perms: ZOO_PERM_READ, scheme: 'world'}]
const HOUR = 3_600_000
/** Enough incompressible data that a backup writing to a pipe nobody reads is held half way. */
const ITEMS = 2000

/** ACLs, binary and large data, depth; containers and TTL znodes where the server has them (3.5+). */
function specialZnodes(version: ZookeeperVersion): SeedZnode[] {
  return [
    {data: 'root', path: '/'},
    {acl: SECRET_ACL, data: 'hidden', path: '/secret'},
    {acl: MIXED_ACL, data: 'mixed', path: '/mixed'},
    {acl: READ_ONLY, data: 'read only', path: '/read-only'},
    {data: ALL_BYTES, path: '/binary'},
    {data: randomBytes(200_000), path: '/large'},
    {data: 'c', path: '/deep'},
    {data: 'c', path: '/deep/a'},
    {data: 'c', path: '/deep/a/b'},
    {data: 'c', path: '/deep/a/b/c'},
    {data: 'job', path: '/deep/job-', sequential: true},
    ...(version === '3.4'
      ? []
      : [
          {data: 'container', path: '/container', type: 'container' as const},
          {data: 'kept', path: '/container/child'},
          {data: 'ttl', path: '/ttl', ttl: HOUR, type: 'ttl' as const},
        ]),
  ]
}

const items = (count: number): SeedZnode[] => [
  {path: '/items'},
  ...Array.from({length: count}, (_, index) => ({data: randomBytes(300), path: `/items/z-${index}`})),
]

async function seed(hosts: string, root: string, znodes: SeedZnode[]): Promise<void> {
  const session = await connect(hosts, auth)
  try {
    await seedTree(session, root, znodes)
  } finally {
    await session.close()
  }
}

const oracle = (hosts: string, root: string): Promise<OracleTree> => readTreeIndependently(hosts, root, {auth: AUTH})

/** The tree read through `hosts` equals `expected`, and holds what the test put in it. */
async function expectTree(hosts: string, root: string, expected: OracleTree): Promise<void> {
  expect(Object.keys(expected), 'the expected tree').to.include.members(['/', '/secret', '/deep/a/b/c'])
  expect(oracleDiff(expected, await oracle(hosts, root))).to.deep.equal([])
}

for (const version of ZOOKEEPER_VERSIONS) {
  describe(`compat: ZooKeeper ${version}`, function () {
    this.timeout(180_000)
    let quorum: Ensemble
    let source: Ensemble
    let target: Ensemble
    let dir: string
    let archived: OracleTree

    before(async () => {
      ;[quorum, source, target, dir] = await Promise.all([
        Ensemble.start({nodes: 3, version}),
        // Small snapCount: the data directory holds snapshots taken as the tree grew, not only logs.
        Ensemble.start({config: {snapCount: '20'}, dataLogDirs: true, nodes: 1, version}),
        Ensemble.start({dataLogDirs: true, nodes: 1, version}),
        tempDir(`compat-${version}`),
      ])
      await Promise.all([
        seed(quorum.connectString, '/compat', [...specialZnodes(version), ...items(ITEMS)]),
        seed(source.connectString, '/offline', specialZnodes(version)),
      ])
      // The target node has a tree of its own, which the offline restore replaces.
      await seed(target.connectString, '/offline', [{data: 'not restored yet', path: '/'}, {path: '/stale'}])
      await target.stopNode(1)
    })

    after(async () => {
      await Promise.all([quorum?.stop(), source?.stop(), target?.stop()])
      await removeDir(dir)
    })

    it('online: backup, change the tree, restore: the tree equals what was backed up', async () => {
      const hosts = quorum.connectString
      archived = await oracle(hosts, '/compat')
      const archive = join(dir, 'online.tar.gz')
      const backup = JSON.parse(
        expectExit(await dcos(['zk', 'backup', archive, '--zk', zkUri(hosts, '/compat'), '--json'], {env: ENV}), 0)
          .stdout,
      )
      // 3.4 has no multi-read: the backup falls back to one request per znode, and says so.
      if (version === '3.4')
        expect(backup).to.deep.include({
          batchFallback: 'ZooKeeper does not answer multi-read requests (ZooKeeper before 3.6)',
          readPath: 'single',
        })
      else expect(backup).to.include({readPath: 'multi-read'}).and.not.to.have.property('batchFallback')

      const session = await connect(hosts, auth)
      try {
        await Promise.all(
          Array.from({length: 100}, (_, index) => session.setData(`/compat/items/z-${index}`, Buffer.from('changed'))),
        )
        await Promise.all(Array.from({length: 100}, (_, index) => session.delete(`/compat/items/z-${100 + index}`)))
        await session.delete('/compat/deep/a/b/c')
        await session.create('/compat/extra', Buffer.from('extra'), 0)
        await session.setAcl('/compat/mixed', SECRET_ACL)
        await session.setData('/compat/secret', Buffer.from('changed'))
      } finally {
        await session.close()
      }

      expect(oracleDiff(archived, await oracle(hosts, '/compat'))).to.have.length(204)
      const safety = join(dir, 'online-safety.tar.gz')
      expectExit(
        await dcos(['zk', 'restore', archive, '--zk', zkUri(hosts, '/compat'), '--yes', '--safety-backup', safety], {
          env: ENV,
          timeoutMs: 90_000,
        }),
        0,
      )
      await expectTree(hosts, '/compat', archived)
    })

    it('a node stopped mid-backup: the backup goes on through another, and its archive holds the tree the round trip restored', async () => {
      const hosts = quorum.connectString
      // Writing to stdout that nobody reads yet holds the backup half way, its session open.
      const backup = spawnDcos(['zk', 'backup', '-', '--zk', zkUri(hosts, '/compat')], {env: ENV, ownStdout: true})
      const node = await eventually(
        'the CLI to connect to a node',
        async () => {
          const ports = await connectedPorts(backup.child.pid!)
          return quorum.nodes.find((candidate) => ports.includes(candidate.clientPort))?.id
        },
        30_000,
      )
      await delay(1000)
      expect(backup.child.exitCode, 'the backup finished before the node was stopped').to.equal(null)
      try {
        await quorum.stopNode(node)
        const chunks: Buffer[] = []
        backup.child.stdout!.on('data', (chunk: Buffer) => chunks.push(chunk))
        const {code, stderr} = await backup.exited
        expect(code, stderr).to.equal(0)
        const archive = join(dir, 'failover.tar.gz')
        await writeFile(archive, Buffer.concat(chunks))
        // The round trip proved its archive equal to the tree through the oracle; the tree has not changed since.
        const {tree} = await readArchiveFile(archive)
        expect(Object.keys(tree)).to.have.length(Object.keys(archived).length)
        expect(tree).to.deep.equal((await readArchiveFile(join(dir, 'online.tar.gz'))).tree)
      } finally {
        await quorum.startNode(node)
      }
    })

    it("cluster status reads every node's srvr", async () => {
      const status = JSON.parse(
        expectExit(await dcos(['cluster', 'status', '--zk', quorum.connectString, '--expect', '3', '--json']), 0)
          .stdout,
      )
      expect(status.healthy, status.verdict).to.equal(true)
      expect(status.nodes.map((node: {mode: string}) => node.mode).sort()).to.deep.equal([
        'follower',
        'follower',
        'leader',
      ])
    })

    it("offline: a stopped node's data directory backed up, restored into another node's, which then serves the same tree", async () => {
      const expected = await oracle(source.connectString, '/offline')
      await source.stopNode(1)
      const [from] = source.nodes
      const archive = join(dir, 'datadir.tar.gz')
      const inspected = JSON.parse(
        expectExit(await dcos(['zk', 'inspect', from.dataDir, '--log-dir', from.dataLogDir, '--json']), 0).stdout,
      )
      // The tree under /offline and the root: /zookeeper is not counted.
      expect(inspected.state).to.include({ephemerals: 0, znodes: Object.keys(expected).length + 1})
      expectExit(await dcos(['zk', 'backup', archive, '--data-dir', from.dataDir, '--log-dir', from.dataLogDir]), 0)

      const [to] = target.nodes
      expectExit(await dcos(['zk', 'restore', archive, '--data-dir', to.dataDir, '--log-dir', to.dataLogDir]), 0)
      await target.startNode(1)
      await expectTree(target.connectString, '/offline', expected)

      // The same archive converted, and restored online into the quorum of this version.
      const converted = join(dir, 'converted.tar.gz')
      expectExit(await dcos(['zk', 'convert', archive, converted]), 0)
      expect(Object.keys((await readArchiveFile(converted, {from: '/offline'})).tree)).to.have.members(
        Object.keys(expected),
      )
      expectExit(
        await dcos(
          [
            'zk',
            'restore',
            archive,
            '--from',
            '/offline',
            '--zk',
            zkUri(quorum.connectString, '/offline'),
            '--yes',
            '--no-safety-backup',
          ],
          {env: ENV},
        ),
        0,
      )
      await expectTree(quorum.connectString, '/offline', expected)
    })

    if (version === '3.4') {
      it('3.4 has no containers or TTL znodes: an archive that holds them is refused before any change', async () => {
        // Only files know the types (clients see containers and TTL znodes as persistent): a 3.8 node's data directory.
        const newer = await Ensemble.start({nodes: 1})
        const archive = join(dir, 'typed.tar.gz')
        try {
          await seed(newer.connectString, '/typed', specialZnodes('3.8'))
          await newer.stopNode(1)
          expectExit(await dcos(['zk', 'backup', archive, '--data-dir', newer.nodes[0].dataDir]), 0)
        } finally {
          await newer.stop()
        }

        const hosts = quorum.connectString
        const before = await oracle(hosts, '/')
        const result = expectExit(
          await dcos(
            [
              'zk',
              'restore',
              archive,
              '--from',
              '/typed',
              '--zk',
              zkUri(hosts, '/typed'),
              '--yes',
              '--no-safety-backup',
            ],
            {env: ENV},
          ),
          1,
        )
        const lines = result.stderr.trimEnd().split('\n')
        expect(lines, result.stderr).to.have.length(1)
        expect(lines[0]).to.match(
          /Cannot restore: the archive holds container znodes \(\/typed\/container\) and the ZooKeeper servers do not accept container znodes \(ZooKeeper 3\.5\.3\+\).*nothing was changed/,
        )
        expect(oracleDiff(before, await oracle(hosts, '/'))).to.deep.equal([])
      })
    }
  })
}
