import {expect} from 'chai'
import {readdir} from 'node:fs/promises'
import {join} from 'node:path'

import type {ZnodeRecord} from '../../../src/archive/format.js'
import type {BackupResult} from '../../../src/engine/backup.js'
import type {ZkSession} from '../../../src/zk/session.js'

import {adminUrl, Ensemble} from '../../harness/ensemble.js'
import {runZookeeperTool} from '../../harness/zookeeper-releases.js'
import {readArchiveFile} from '../../helpers/archive.js'
import {dcos, expectExit, zkUri} from '../../helpers/cli.js'
import {removeDir, tempDir} from '../../helpers/fixtures.js'
import {expectArchiveHolds, readTreeIndependently} from '../../helpers/oracle.js'
import {secret} from '../../helpers/secrets.js'
import {
  connect,
  digestId,
  seedTree,
  type SeedZnode,
  uniquePath,
  ZOO_PERM_ALL,
  ZOO_PERM_READ,
} from '../../helpers/tree.js'

const USER = 'backup-admin'
const PASSWORD = secret('adm1n-Pa55word-for-the-snapshot')
const AUTH = `${USER}:${PASSWORD}`
const WRONG_AUTH = `${USER}:${secret('not-the-right-pa55word')}`
const HOUR = 3_600_000

/** Containers, TTL znodes, digest and world ACLs, sequential children, an ephemeral: what a snapshot shows and a client read hides in part. */
function typedTree(): SeedZnode[] {
  return [
    {data: 'the root', path: '/'},
    {data: 'container', path: '/container', type: 'container'},
    {data: 'in a container', path: '/container/child'},
    {data: 'ttl', path: '/ttl', ttl: HOUR, type: 'ttl'},
    {
      acl: [{id: digestId(USER, PASSWORD), perms: ZOO_PERM_ALL, scheme: 'digest'}],
      data: 'digest only',
      path: '/digest',
    },
    {acl: [{id: 'anyone', perms: ZOO_PERM_READ, scheme: 'world'}], data: 'world read', path: '/world'},
    {path: '/queue'},
    {data: 'first', path: '/queue/item-', sequential: true},
    {data: 'second', path: '/queue/item-', sequential: true},
    {data: 'ttl and sequential', path: '/queue/ttl-', sequential: true, ttl: HOUR, type: 'ttl'},
    {data: 'skip me', path: '/skip'},
    {data: 'under skip', path: '/skip/deeper'},
  ]
}

const json = <T>(stdout: string): T => JSON.parse(stdout) as T

describe('zk backup --admin-url (ZooKeeper 3.9 AdminServer snapshot)', function () {
  this.timeout(180_000)
  let ensemble: Ensemble
  let session: ZkSession
  let dir: string
  let admin: string

  before(async () => {
    ensemble = await Ensemble.start({adminServer: true, nodes: 3, version: '3.9'})
    admin = adminUrl(ensemble.nodes[0])
    session = await connect(ensemble.connectString, {password: PASSWORD, user: USER})
    // ALL on / for the backup user only (world may read): another user's credentials are refused.
    // The AdminServer grants the snapshot to any identity with ANY permission on / (checkACL tests
    // perms & ALL != 0): only the backup user may have one for other credentials to be refused.
    await session.setAcl('/', [{id: digestId(USER, PASSWORD), perms: ZOO_PERM_ALL, scheme: 'digest'}])
    dir = await tempDir('backup-admin')
  })

  after(async () => {
    await session?.close()
    await ensemble?.stop()
    await removeDir(dir)
  })

  const backup = (args: string[], auth = AUTH) => dcos(['zk', 'backup', ...args], {env: {DCOS_ZK_AUTH: auth}})

  it('takes the tree from the snapshot: exact at the digest zxid, with container and TTL types the server knows, the same stats a client read gives', async () => {
    const root = uniquePath('admin-typed')
    await seedTree(session, root, typedTree())
    await session.create(`${root}/queue/ephemeral`, Buffer.from('gone with its session'), 1)
    // A deleted child: the stored cversion (creates) then differs from the one clients see (creates + deletes).
    await session.create(`${root}/queue/deleted`, Buffer.alloc(0), 0)
    await session.delete(`${root}/queue/deleted`)
    const file = join(dir, 'typed.tar.gz')
    const result = expectExit(
      await backup([file, '--zk', zkUri(ensemble.connectString, root), '--admin-url', admin, '--json']),
      0,
    )
    const report = json<BackupResult>(result.stdout)
    expect(report.readPath).to.equal('admin-snapshot')
    expect(report.adminFallback).to.equal(undefined)
    expect(report.adminSnapshot?.digest).to.equal('matched')
    expect(report.adminSnapshot?.consistentAtZxid).to.be.a('string')
    expect(report.skippedEphemerals).to.equal(1)

    await expectArchiveHolds(file, await readTreeIndependently(ensemble.connectString, root, {auth: AUTH}))
    const {manifest, records} = await readArchiveFile(file)
    expect(manifest.adminSnapshot?.source).to.equal(admin)
    expect(manifest.zxidEnd).to.equal(report.adminSnapshot?.consistentAtZxid)
    expect(typesOf(records)).to.deep.equal(await typesInServerSnapshot(ensemble, root))
    expect(records.find((record) => record.path === `${root}/ttl`)?.ttl).to.equal(HOUR)

    // The client path, just after, with nothing written between: the same stats, znode by znode.
    const clientFile = join(dir, 'typed-client.tar.gz')
    expectExit(
      await backup([
        clientFile,
        '--zk',
        zkUri(ensemble.connectString, root),
        '--admin-url',
        admin,
        '--read-path',
        'client',
      ]),
      0,
    )
    const client = await readArchiveFile(clientFile)
    expect(statsOf(records)).to.deep.equal(statsOf(client.records))
  })

  it('filters the snapshot to the subtree: --exclude applies, ephemerals and /zookeeper are left out', async () => {
    const root = uniquePath('admin-filter')
    await seedTree(session, root, typedTree())
    await session.create(`${root}/queue/ephemeral`, Buffer.alloc(0), 1)
    const file = join(dir, 'filter.tar.gz')
    const result = expectExit(
      await backup([
        file,
        '--zk',
        zkUri(ensemble.connectString, root),
        '--admin-url',
        admin,
        '--exclude',
        `${root}/skip`,
        '--json',
      ]),
      0,
    )
    const report = json<BackupResult>(result.stdout)
    expect(report.readPath).to.equal('admin-snapshot')
    expect([report.excluded, report.skippedEphemerals]).to.deep.equal([1, 1])
    const {records} = await readArchiveFile(file)
    const paths = records.map((record) => record.path)
    expect(paths).to.include(`${root}/queue`)
    expect(paths.filter((path) => path.startsWith(`${root}/skip`) || path.endsWith('/ephemeral'))).to.deep.equal([])

    const whole = join(dir, 'whole.tar.gz')
    expectExit(await backup([whole, '--zk', zkUri(ensemble.connectString, '/'), '--admin-url', admin]), 0)
    const all = (await readArchiveFile(whole)).records.map((record) => record.path)
    expect(all).to.include(`${root}/container/child`)
    expect(all.filter((path) => path.startsWith('/zookeeper'))).to.deep.equal([])
  })

  it('falls back to the client API with the reason when the AdminServer refuses the credentials; never with --read-path admin; says nothing secret', async () => {
    const root = uniquePath('admin-refused')
    await seedTree(session, root, [
      {data: 'x', path: '/'},
      {data: 'y', path: '/child'},
    ])
    const file = join(dir, 'refused.tar.gz')
    const result = expectExit(
      await backup([file, '--zk', zkUri(ensemble.connectString, root), '--admin-url', admin, '--json'], WRONG_AUTH),
      0,
    )
    const report = json<BackupResult>(result.stdout)
    expect(report.readPath).to.equal('multi-read')
    expect(report.adminFallback).to.match(/403/)
    await expectArchiveHolds(file, await readTreeIndependently(ensemble.connectString, root))

    const verbose = expectExit(
      await backup(
        [join(dir, 'refused-v.tar.gz'), '--zk', zkUri(ensemble.connectString, root), '--admin-url', admin, '-v'],
        WRONG_AUTH,
      ),
      0,
    )
    expect(verbose.stdout).to.match(/Read path: multi-read batches/)
    expect(verbose.stderr.replaceAll(/\s*›\s*/g, ' ')).to.match(
      /Read through the client API: no AdminServer snapshot \([\s\S]*403/,
    )

    const forced = await backup(
      [
        join(dir, 'forced.tar.gz'),
        '--zk',
        zkUri(ensemble.connectString, root),
        '--admin-url',
        admin,
        '--read-path',
        'admin',
      ],
      WRONG_AUTH,
    )
    expectExit(forced, 1)
    expect(forced.stderr).to.match(/Cannot back up from the AdminServer snapshot \(--read-path admin\):.*403/)
    expect((await readdir(dir)).filter((name) => name.startsWith('forced'))).to.deep.equal([])
  })

  it('refuses --read-path admin without an AdminServer to read from (exit 2)', async () => {
    const result = await backup([
      join(dir, 'no-admin.tar.gz'),
      '--zk',
      zkUri(ensemble.connectString, '/'),
      '--read-path',
      'admin',
    ])
    expectExit(result, 2)
    expect(result.stderr).to.match(/--read-path admin needs --admin-url/)
  })

  it('says which path ran with -v', async () => {
    const root = uniquePath('admin-verbose')
    await seedTree(session, root, [{data: 'x', path: '/'}])
    const result = expectExit(
      await backup([
        join(dir, 'verbose.tar.gz'),
        '--zk',
        zkUri(ensemble.connectString, root),
        '--admin-url',
        admin,
        '-v',
      ]),
      0,
    )
    expect(result.stdout).to.match(
      /Read path: admin-snapshot from http:\/\/127\.0\.0\.1:\d+ \(digest matched: exact at zxid 0x[0-9a-f]+\)/,
    )
  })

  it('under a writer: the manifest names the zxid it is exact at, or what was re-read', async () => {
    const root = uniquePath('admin-writer')
    const filler = Array.from({length: 2000}, (_, index) => ({data: 'filler', path: `/filler/f${index}`}))
    await seedTree(session, root, [{path: '/'}, {data: '-1', path: '/last'}, {path: '/filler'}, ...filler])
    let stop = false
    let written = 0
    const writer = (async () => {
      // eslint-disable-next-line no-unmodified-loop-condition -- stop is set once the backup has run
      while (!stop) {
        await session.create(`${root}/n${written}`, Buffer.alloc(0), 0)

        await session.setData(`${root}/last`, Buffer.from(String(written)))
        written++
      }
    })()
    const file = join(dir, 'writer.tar.gz')
    try {
      const result = expectExit(
        await backup([file, '--zk', zkUri(ensemble.connectString, root), '--admin-url', admin, '--json']),
        0,
      )
      const report = json<BackupResult>(result.stdout).adminSnapshot!
      const {manifest, records} = await readArchiveFile(file)
      expect(manifest.adminSnapshot).to.deep.equal(report)
      if (report.consistentAtZxid) {
        // Exact: the digest matched at that zxid, and each create is followed by its setData, so
        // /last names the newest n<i> or the one before it.
        expect([report.digest, report.consistentAtZxid, manifest.zxidEnd]).to.deep.equal([
          'matched',
          report.digestZxid,
          report.consistentAtZxid,
        ])
        const at = BigInt(report.consistentAtZxid)
        expect(records.filter((record) => changedAfter(record, at)).map((record) => record.path)).to.deep.equal([])
        const last = Number(records.find((record) => record.path === `${root}/last`)!.stat.version)
        const created = records.filter((record) => /\/n\d+$/.test(record.path)).length
        expect(created - last).to.be.oneOf([0, 1])
      } else {
        // Not exact: every znode changed after the point the snapshot's state is sure for was read
        // again (as the online walk reads them: each as it was at one moment, not all at one zxid).
        // That point is the digest's zxid when it matched (then a znode whose ACL changed since was
        // re-read whole), else the zxid serialization began at.
        expect(report.digest).to.be.oneOf(['matched', 'mismatched'])
        const sureAt = BigInt(report.digest === 'matched' ? report.digestZxid! : report.snapshotZxid)
        const changed = records.filter((record) => changedAfter(record, sureAt)).map((record) => record.path)
        expect(changed.filter((path) => !report.rereadPaths.includes(path))).to.deep.equal([])
        if (report.digest === 'matched') expect(report.reread).to.be.greaterThan(0)
        expect(manifest.zxidEnd).to.not.equal(null)
      }
    } finally {
      stop = true
      await writer
    }
  })
})

describe('zk backup --admin-url on ZooKeeper 3.8 (no snapshot command)', function () {
  this.timeout(120_000)
  let ensemble: Ensemble
  let dir: string

  before(async () => {
    ensemble = await Ensemble.start({adminServer: true, nodes: 1, version: '3.8'})
    dir = await tempDir('backup-admin-38')
  })

  after(async () => {
    await ensemble?.stop()
    await removeDir(dir)
  })

  it('reads through the client API and says why', async () => {
    const session = await connect(ensemble.connectString, {password: PASSWORD, user: USER})
    const root = uniquePath('admin-38')
    try {
      await seedTree(session, root, [
        {data: 'x', path: '/'},
        {data: 'y', path: '/child'},
      ])
    } finally {
      await session.close()
    }

    const file = join(dir, 'old.tar.gz')
    const result = expectExit(
      await dcos(
        [
          'zk',
          'backup',
          file,
          '--zk',
          zkUri(ensemble.connectString, root),
          '--admin-url',
          adminUrl(ensemble.nodes[0]),
          '--json',
        ],
        {env: {DCOS_ZK_AUTH: AUTH}},
      ),
      0,
    )
    const report = json<BackupResult>(result.stdout)
    expect(report.readPath).to.equal('multi-read')
    expect(report.adminFallback).to.match(/no snapshot command \(ZooKeeper before 3\.9/)
    await expectArchiveHolds(file, await readTreeIndependently(ensemble.connectString, root))
  })
})

function changedAfter(record: ZnodeRecord, zxid: bigint): boolean {
  return BigInt(record.stat.mzxid) > zxid || BigInt(record.stat.pzxid) > zxid
}

function typesOf(records: ZnodeRecord[]): Record<string, string> {
  return Object.fromEntries(records.map((record) => [record.path, record.type]))
}

/** Everything but the type, which the client API cannot see for containers and TTL znodes. */
function statsOf(records: ZnodeRecord[]): Record<string, unknown> {
  return Object.fromEntries(records.map((record) => [record.path, {acl: record.acl, stat: record.stat}]))
}

/**
 * The types under `root` in the newest snapshot the first node wrote (the one the AdminServer took),
 * as ZooKeeper's own SnapshotFormatter prints their ephemeralOwner. Ephemerals left out, as a backup does.
 */
async function typesInServerSnapshot(ensemble: Ensemble, root: string): Promise<Record<string, string>> {
  const snapshots = join(ensemble.nodes[0].dataDir, 'version-2')
  const newest = (await readdir(snapshots))
    .filter((name) => name.startsWith('snapshot.'))
    .sort((a, b) => Number(BigInt(`0x${a.split('.')[1]}`) - BigInt(`0x${b.split('.')[1]}`)))
    .pop()!
  const stdout = await runZookeeperTool(
    'org.apache.zookeeper.server.SnapshotFormatter',
    [join(snapshots, newest)],
    '3.9',
  )
  const types: Record<string, string> = {}
  for (const block of stdout.split('----\n')) {
    const [path] = block.split('\n')
    const owner = /ephemeralOwner = 0x([0-9a-f]+)/.exec(block)?.[1]
    if (!owner || !(path === root || path.startsWith(`${root}/`))) continue
    const type = typeOfOwner(BigInt(`0x${owner}`))
    if (type !== 'ephemeral') types[path] = type
  }

  return types
}

function typeOfOwner(owner: bigint): string {
  if (owner === 0n) return 'persistent'
  if (owner === 0x80_00_00_00_00_00_00_00n) return 'container'
  if (owner >> 56n === 0xffn) return 'ttl'
  return 'ephemeral'
}
