import {expect} from 'chai'
import {execFile} from 'node:child_process'
import {randomBytes} from 'node:crypto'
import {existsSync} from 'node:fs'
import {readdir, readFile, writeFile} from 'node:fs/promises'
import {join} from 'node:path'

import {zkConstants, ZkError, type ZkSession} from '../../../src/zk/session.js'
import {Ensemble} from '../../harness/ensemble.js'
import {sharedEnsemble} from '../../harness/hooks.js'
import {S3_ACCESS_KEY, S3_SECRET_KEY, startS3} from '../../harness/s3.js'
import {gunzipSync, readArchiveFile} from '../../helpers/archive.js'
import {dcos, expectExit, expectUsageError, ROOT, zkUri} from '../../helpers/cli.js'
import {ALL_BYTES, removeDir, tempDir} from '../../helpers/fixtures.js'
import {
  archiveAsOracleTree,
  expectArchiveHolds,
  expectSameTree,
  NO_OWNER,
  oracleDiff,
  type OracleTree,
  readTreeIndependently,
  withoutEphemeralOwners,
} from '../../helpers/oracle.js'
import {secret} from '../../helpers/secrets.js'
import {
  connect,
  digestId,
  READ_ONLY,
  seedTree,
  type SeedZnode,
  uniquePath,
  withoutPaths,
  ZOO_PERM_ALL,
  ZOO_PERM_READ,
} from '../../helpers/tree.js'

const HOUR = 3_600_000
const DEPTH = 30
const WIDTH = 2000
const NAMES = [
  'ünïcødé-名前',
  'with space',
  ' leading and trailing ',
  '100%',
  '%2E',
  '.hidden',
  '.znode.json',
  '.data',
  '...',
  'a:b=c&d?e#f',
  'x'.repeat(200),
]

/** A tree with every kind of data, ACL, node type, name and shape a restore has to reproduce. */
function richTree(digest: string): SeedZnode[] {
  const deep = Array.from({length: DEPTH}, (_, index) => ({
    data: `level ${index + 1}`,
    path: `/deep${Array.from({length: index + 1}, (__, level) => `/d${level + 1}`).join('')}`,
  }))
  const wide = Array.from({length: WIDTH}, (_, index) => ({
    data: `child ${index}`,
    path: `/wide/c${String(index).padStart(4, '0')}`,
  }))
  return [
    {data: 'the root', path: '/'},
    {path: '/empty'},
    {data: ALL_BYTES, path: '/binary'},
    {data: randomBytes(1_000_000), path: '/big'},
    {acl: READ_ONLY, data: 'read only', path: '/read-only'},
    // ADMIN for anyone: the server shows the digest's hash only to clients with ADMIN on the znode.
    {
      acl: [
        {id: digest, perms: ZOO_PERM_ALL, scheme: 'digest'},
        {id: 'anyone', perms: ZOO_PERM_READ | zkConstants.ZOO_PERM_ADMIN, scheme: 'world'},
      ],
      data: 'digest',
      path: '/digest',
    },
    {data: 'container', path: '/container', type: 'container'},
    {data: 'in a container', path: '/container/child'},
    {data: 'ttl', path: '/ttl', ttl: HOUR, type: 'ttl'},
    {path: '/queue'},
    {data: 'first', path: '/queue/item-', sequential: true},
    {data: 'second', path: '/queue/item-', sequential: true},
    {data: 'ttl and sequential', path: '/queue/ttl-', sequential: true, ttl: HOUR, type: 'ttl'},
    {path: '/deep'},
    ...deep,
    {path: '/wide'},
    ...wide,
    {path: '/names'},
    ...NAMES.map((name) => ({data: name, path: `/names/${name}`})),
    {data: 'under a unicode name', path: `/names/${NAMES[0]}/${NAMES[1]}`},
  ]
}

describe('dcos zk backup', function () {
  this.timeout(60_000)
  let hosts: string
  let session: ZkSession
  let dir: string

  before(async () => {
    hosts = (await sharedEnsemble()).connectString
    session = await connect(hosts)
    dir = await tempDir('backup')
  })

  after(async () => {
    await session?.close()
    await removeDir(dir)
  })

  /** The live tree under `root` as the independent oracle reads it. */
  const liveTree = (root: string) => readTreeIndependently(hosts, root)

  // Both paths of the bulk jobs, forced: multi-read and multi batches, and one request per znode.
  for (const {batch, readLine, restoreLine} of [
    {
      batch: 'on',
      readLine: 'Read path: multi-read batches',
      restoreLine: 'Read path: multi-read batches; write path: multi batches',
    },
    {
      batch: 'off',
      readLine: 'Read path: single requests',
      restoreLine: 'Read path: single requests; write path: single requests',
    },
  ])
    describe(`round trip with zk restore (--batch ${batch})`, () => {
      let root: string
      let archive: string
      let original: OracleTree
      const seed = richTree(digestId('someone', 'secret'))

      before(async () => {
        root = uniquePath('roundtrip')
        await seedTree(session, root, seed)
        original = await liveTree(root)
        archive = join(dir, `roundtrip-${batch}.tar.gz`)
        const result = expectExit(
          await dcos(['zk', 'backup', archive, '--zk', zkUri(hosts, root), '--batch', batch, '-v']),
          0,
        )
        const count = Object.keys(original).length
        expect(result.stdout).to.match(
          new RegExp(`^Backed up ${count} znodes \\(.+\\) from ${root} to ${archive}: `, 'm'),
        )
        expect(result.stdout.split('\n')).to.include(readLine)
      })

      it('seeds what it claims to cover', () => {
        const paths = Object.keys(original)
        expect(paths).to.have.length(seed.length)
        expect(original['/empty'].data).to.equal('')
        expect(Buffer.from(original['/binary'].data, 'base64').equals(ALL_BYTES)).to.equal(true)
        expect(Buffer.from(original['/big'].data, 'base64')).to.have.length(1_000_000)
        expect(original['/read-only'].acl).to.deep.equal([`world:anyone:${ZOO_PERM_READ}`])
        expect(original['/digest'].acl).to.deep.equal([
          `digest:${digestId('someone', 'secret')}:${ZOO_PERM_ALL}`,
          `world:anyone:${ZOO_PERM_READ | zkConstants.ZOO_PERM_ADMIN}`,
        ])
        expect(paths.filter((path) => path.startsWith('/queue/'))).to.deep.equal([
          '/queue/item-0000000000',
          '/queue/item-0000000001',
          '/queue/ttl-0000000002',
        ])
        expect(paths.findLast((path) => path.startsWith('/deep/'))!.split('/')).to.have.length(DEPTH + 2)
        for (const name of NAMES) expect(original).to.have.property(`/names/${name}`)
      })

      // Known limitation (README): the server reports ephemeralOwner 0 for container and TTL znodes, and
      // no client request reveals the type or the TTL, so an online backup records them as persistent.
      // Should a server or client start exposing them, this fails and the archive can carry them.
      it('records container and TTL znodes as persistent, since the client API hides their type', async () => {
        const {records} = await readArchiveFile(archive)
        for (const name of ['container', 'ttl', 'queue/ttl-0000000002']) {
          expect(records.find((record) => record.path === `${root}/${name}`))
            .to.include({type: 'persistent'})
            .and.not.have.property('ttl')
        }
      })

      it('archives the same records and data as the other path', async () => {
        const other = join(dir, `roundtrip-${batch}-other.tar.gz`)
        const result = expectExit(
          await dcos([
            'zk',
            'backup',
            other,
            '--zk',
            zkUri(hosts, root),
            '--batch',
            batch === 'on' ? 'off' : 'on',
            '--json',
          ]),
          0,
        )
        expect(JSON.parse(result.stdout).readPath).to.equal(batch === 'on' ? 'single' : 'multi-read')
        const byPath = (records: Array<{path: string}>) => [...records].sort((a, b) => (a.path < b.path ? -1 : 1))
        const [ours, theirs] = await Promise.all([readArchiveFile(archive), readArchiveFile(other)])
        expect(byPath(theirs.records)).to.deep.equal(byPath(ours.records))
        expect(theirs.tree).to.deep.equal(ours.tree)
      })

      it('archives every znode exactly as it is live', async () => {
        const {header, manifest, records} = await readArchiveFile(archive)
        await expectArchiveHolds(archive, original)
        expect(header.source).to.deep.equal({hosts: hosts.split(','), root})
        expect(manifest).to.include({excluded: 0, inconsistentCount: 0, skippedEphemerals: 0, znodes: records.length})
        expect(records.find((record) => record.path === `${root}/queue/item-0000000001`)).to.include({
          sequential: true,
          type: 'persistent',
        })
        expect(records.find((record) => record.path === `${root}/binary`)!.stat.dataLength).to.equal(256)
      })

      it('restores to another path: the same tree, znode by znode', async () => {
        const copy = `${uniquePath('roundtrip-copy')}/nested/copy`
        const result = expectExit(
          await dcos([
            'zk',
            'restore',
            archive,
            '--zk',
            zkUri(hosts, copy),
            '--safety-backup',
            join(dir, `copy-safety-${batch}.tar.gz`),
            '--batch',
            batch,
            '-v',
          ]),
          0,
        )
        expect(result.stdout).to.include(`Restored ${Object.keys(original).length} znodes to ${copy}`)
        expect(result.stdout.split('\n')).to.include(restoreLine)
        await expectSameTree(original, hosts, copy)
      })

      it('restores over the changed original path: the tree as it was backed up', async () => {
        await session.setData(`${root}/binary`, Buffer.from('changed'))
        await session.delete(`${root}/wide/c0005`)
        await session.delete(`${root}/deep${Array.from({length: DEPTH}, (_, level) => `/d${level + 1}`).join('')}`)
        await session.delete(`${root}/queue/item-0000000001`)
        await session.setData(`${root}/ttl`, Buffer.from('longer'))
        await session.setAcl(`${root}/empty`, READ_ONLY)
        await session.create(`${root}/extra`, Buffer.from('extra'), 0)
        await session.create(`${root}/wide/new`, Buffer.alloc(0), 0)
        const changed = await liveTree(root)
        expect(changed).to.not.deep.equal(original)

        const safety = join(dir, `roundtrip-safety-${batch}.tar.gz`)
        const result = expectExit(
          await dcos([
            'zk',
            'restore',
            archive,
            '--zk',
            zkUri(hosts),
            '--yes',
            '--safety-backup',
            safety,
            '--batch',
            batch,
            '--json',
          ]),
          0,
        )
        expect(JSON.parse(result.stdout)).to.include({
          readPath: batch === 'on' ? 'multi-read' : 'single',
          verified: true,
          writePath: batch === 'on' ? 'multi' : 'single',
        })
        await expectSameTree(original, hosts, root)
        await expectArchiveHolds(safety, changed)
      })
    })

  it('backs up a tree of thousands of znodes while writers change it, into an archive that restores exactly', async function () {
    this.timeout(120_000)
    const root = uniquePath('busy')
    const dirs = Array.from({length: 30}, (_, index) => `/dir${String(index).padStart(2, '0')}`)
    const seed: SeedZnode[] = [{path: '/'}, {path: '/queue'}]
    for (const [index, parent] of dirs.entries()) {
      seed.push(index % 5 === 4 ? {path: parent, type: 'container'} : {path: parent})
      for (let child = 0; child < 100; child++) {
        const path = `${parent}/n${String(child).padStart(3, '0')}`
        const data = randomBytes(child % 50)
        switch (0) {
          case child % 13: {
            seed.push({acl: READ_ONLY, data, path})
            break
          }

          case child % 7: {
            seed.push({data, path, ttl: HOUR, type: 'ttl'})
            break
          }

          case child % 11: {
            seed.push({data, path, type: 'container'})
            break
          }

          default: {
            seed.push({data, path})
          }
        }
      }

      seed.push({data: parent, path: '/queue/job-', sequential: true})
    }

    await seedTree(session, root, seed)
    expect(Object.keys(await liveTree(root))).to.have.length(3062)

    const writer = await connect(hosts)
    let operations = 0
    let stop = false
    const writable = seed
      .filter((znode) => !znode.acl && znode.path.split('/').length === 3)
      .map((znode) => `${root}${znode.path}`)
    const created: string[] = []
    const pick = <T>(items: T[]): T => items[Math.floor(Math.random() * items.length)]
    // One write: create, update, delete (what a writer created, else a seeded znode), or a sequential create.
    const write = (id: number, step: number): Promise<unknown> => {
      const path = `${root}${pick(dirs)}/w${id}-${step}`
      switch (step % 4) {
        case 0: {
          return writer.create(path, randomBytes(8), 0).then(() => created.push(path))
        }

        case 1: {
          return writer.setData(pick(writable), randomBytes(16))
        }

        case 2: {
          return writer.delete(
            created.length > 0 ? created.splice(Math.floor(Math.random() * created.length), 1)[0] : pick(writable),
          )
        }

        default: {
          return writer.create(`${root}/queue/job-`, Buffer.from('late'), zkConstants.ZOO_PERSISTENT_SEQUENTIAL)
        }
      }
    }

    const work = async (id: number) => {
      // eslint-disable-next-line no-unmodified-loop-condition -- stop is set once the backup has run
      for (let step = 0; !stop; step++) {
        await write(id, step).catch((error: unknown) => {
          if (!(error instanceof ZkError)) throw error // conflicts with other writers are expected
        })
        operations++
      }
    }

    const writers = Array.from({length: 8}, (_, id) => work(id))
    try {
      // eslint-disable-next-line no-unmodified-loop-condition -- the writers count operations meanwhile
      while (operations < 200) await new Promise((resolve) => setTimeout(resolve, 10))
      const before = operations
      const archive = join(dir, 'busy.tar.gz')
      expectExit(await dcos(['zk', 'backup', archive, '--zk', zkUri(hosts, root)]), 0)
      expect(operations - before, 'writes during the backup').to.be.greaterThan(50)
      stop = true
      await Promise.all(writers)

      const content = await readArchiveFile(archive)
      const archived = await archiveAsOracleTree(archive)
      expect(Object.keys(archived).length).to.be.greaterThan(2900)
      expect(content.manifest.changedDuringBackup, 'znodes seen changing').to.be.greaterThan(0)
      const inspected = expectExit(await dcos(['zk', 'inspect', archive]), 0)
      expect(inspected.stdout).to.match(/^Integrity\s+OK/m)

      const copy = uniquePath('busy-copy')
      expectExit(
        await dcos([
          'zk',
          'restore',
          archive,
          '--zk',
          zkUri(hosts, copy),
          '--safety-backup',
          join(dir, 'busy-safety.tar.gz'),
        ]),
        0,
      )
      await expectSameTree(archived, hosts, copy)

      // The writers have moved the original on since: restoring over it gives the archive back too.
      expect(oracleDiff(archived, await liveTree(root))).to.not.deep.equal([])
      expectExit(
        await dcos([
          'zk',
          'restore',
          archive,
          '--zk',
          zkUri(hosts, root),
          '--yes',
          '--safety-backup',
          join(dir, 'busy-safety-2.tar.gz'),
        ]),
        0,
      )
      await expectSameTree(archived, hosts, root)
    } finally {
      stop = true
      await Promise.allSettled(writers)
      await writer.close()
    }
  })

  describe('what is left out', () => {
    it('--exclude leaves out paths and globs with their subtrees', async () => {
      const root = uniquePath('exclude')
      await seedTree(session, root, [
        {path: '/'},
        {data: 'a', path: '/a'},
        {path: '/leader'},
        {data: 'm', path: '/leader/member'},
        {path: '/app'},
        {data: 'tmp', path: '/app/tmp'},
        {path: '/app/x'},
        {data: 'deeper tmp', path: '/app/x/tmp'},
        {data: 'kept', path: '/app/x/kept'},
        {data: 'not tmp', path: '/app/tmpfile'},
      ])
      const archive = join(dir, 'exclude.tar.gz')
      const patterns = [`${root}/leader`, `${root}/**/tmp`]
      expectExit(
        await dcos([
          'zk',
          'backup',
          archive,
          '--zk',
          zkUri(hosts, root),
          ...patterns.flatMap((pattern) => ['--exclude', pattern]),
        ]),
        0,
      )

      const {manifest, tree} = await readArchiveFile(archive)
      expect(Object.keys(tree)).to.deep.equal(['/', '/a', '/app', '/app/tmpfile', '/app/x', '/app/x/kept'])
      await expectArchiveHolds(
        archive,
        withoutPaths(await liveTree(root), (path) => /^\/leader|\/tmp$/.test(path)),
      )
      expect(manifest.excluded).to.equal(3)
      expect(manifest.options.exclude).to.deep.equal(patterns)
    })

    it('skips ephemerals, and with --include-ephemerals records them, which restore never creates', async () => {
      const root = uniquePath('ephemeral')
      const owner = await connect(hosts)
      try {
        await seedTree(session, root, [
          {data: 'root', path: '/'},
          {path: '/members'},
          {data: 'persistent', path: '/members/p'},
        ])
        await seedTree(owner, root, [
          {data: 'me', path: '/members/e', type: 'ephemeral'},
          {data: 'seq', path: '/members/lock-', sequential: true, type: 'ephemeral'},
        ])
        const live = await liveTree(root)
        expect(Object.values(live).filter((znode) => znode.ephemeralOwner !== NO_OWNER)).to.have.length(2)

        const plain = join(dir, 'no-ephemerals.tar.gz')
        expectExit(await dcos(['zk', 'backup', plain, '--zk', zkUri(hosts, root)]), 0)
        const skipped = await readArchiveFile(plain, {ephemerals: true})
        await expectArchiveHolds(plain, live)
        expect(skipped.manifest.skippedEphemerals).to.equal(2)

        const full = join(dir, 'ephemerals.tar.gz')
        expectExit(await dcos(['zk', 'backup', full, '--zk', zkUri(hosts, root), '--include-ephemerals']), 0)
        const recorded = await readArchiveFile(full, {ephemerals: true})
        await expectArchiveHolds(full, live, {ephemerals: true})
        const ephemerals = recorded.records.filter((record) => record.type === 'ephemeral')
        expect(ephemerals.map((record) => record.path))
          .to.have.length(2)
          .and.include(`${root}/members/e`)
        // Siblings are archived in the order their reads complete.
        const sequential = ephemerals.find((record) => record.path !== `${root}/members/e`)
        expect(sequential)
          .to.include({sequential: true})
          .and.have.property('path')
          .that.matches(/\/members\/lock-\d{10}$/)
        expect(recorded.manifest.options.includeEphemerals).to.equal(true)

        const copy = uniquePath('ephemeral-copy')
        expectExit(
          await dcos([
            'zk',
            'restore',
            full,
            '--zk',
            zkUri(hosts, copy),
            '--safety-backup',
            join(dir, 'e-safety.tar.gz'),
          ]),
          0,
        )
        await expectSameTree(withoutEphemeralOwners(live), hosts, copy)
      } finally {
        await owner.close()
      }
    })

    it('never includes /zookeeper when backing up / (own standalone server)', async function () {
      this.timeout(90_000)
      const standalone = await Ensemble.start({nodes: 1})
      const own = await connect(standalone.connectString)
      try {
        await own.setData('/', Buffer.from('root data'))
        await seedTree(own, '/app', [
          {data: 'app', path: '/'},
          {data: 'x', path: '/x'},
          {acl: READ_ONLY, data: 'ro', path: '/ro'},
        ])
        await seedTree(own, '/other', [{path: '/'}, {data: 'ttl', path: '/t', ttl: HOUR, type: 'ttl'}])
        const original = await readTreeIndependently(standalone.connectString, '/')
        const archive = join(dir, 'whole.tar.gz')
        expectExit(await dcos(['zk', 'backup', archive, '--zk', zkUri(standalone.connectString, '/')]), 0)

        const {records} = await readArchiveFile(archive)
        expect(records.map((record) => record.path)).to.have.members([
          '/',
          '/app',
          '/app/ro',
          '/app/x',
          '/other',
          '/other/t',
        ])
        await expectArchiveHolds(archive, original)

        await own.delete('/app/x')
        await own.create('/new', Buffer.alloc(0), 0)
        await own.setData('/', Buffer.from('changed'))
        expectExit(
          await dcos([
            'zk',
            'restore',
            archive,
            '--zk',
            zkUri(standalone.connectString, '/'),
            '--yes',
            '--safety-backup',
            join(dir, 'whole-safety.tar.gz'),
          ]),
          0,
        )
        await expectSameTree(original, standalone.connectString, '/')
        expect(await own.getChildren('/zookeeper')).to.include.members(['config', 'quota'])
      } finally {
        await own.close()
        await standalone.stop()
      }
    })
  })

  describe('digest auth', () => {
    const user = 'backup-user'
    const password = secret(`pw-${randomBytes(6).toString('hex')}`)
    const outputs: string[] = []
    const archives: string[] = []
    let root: string
    let authed: ZkSession
    let original: OracleTree
    const credentials = `${user}:${password}`

    const run = async (args: string[], env?: Record<string, string>) => {
      const result = await dcos(args, {env})
      outputs.push(result.stdout, result.stderr)
      return result
    }

    before(async () => {
      root = uniquePath('auth')
      authed = await connect(hosts, {password, user})
      const acl = [{id: digestId(user, password), perms: ZOO_PERM_ALL, scheme: 'digest'}]
      await seedTree(authed, root, [
        {data: 'open root', path: '/'},
        {acl, data: 'secret data', path: '/secret'},
        {acl, data: 'deeper', path: '/secret/child'},
        {data: 'open', path: '/open'},
      ])
      original = await readTreeIndependently(hosts, root, {auth: credentials})
    })

    after(async () => {
      authed?.close()
      for (const text of outputs) expect(text).to.not.include(password)
    })

    it('refuses to back up digest-protected znodes without credentials, naming the path', async () => {
      const archive = join(dir, 'no-auth.tar.gz')
      const result = expectExit(await run(['zk', 'backup', archive, '--zk', zkUri(hosts, root)]), 1)
      expect(result.stderr).to.match(
        new RegExp(`^Error: Not authorized to read (the ACL of )?${root}/secret: pass credentials with --zk-auth`),
      )
      expect(existsSync(archive)).to.equal(false)

      const wrong = expectExit(
        await run(['zk', 'backup', archive, '--zk', zkUri(hosts, root), '--zk-auth', `${user}:not-${password}`]),
        1,
      )
      expect(wrong.stderr).to.include(`Not authorized to read`)
      expect(existsSync(archive)).to.equal(false)
    })

    it('refuses a znode whose digest ACL the server hides from it (no ADMIN): the archive would lock its user out', async () => {
      const hidden = uniquePath('hidden-digest')
      const acl = [
        {id: digestId(user, password), perms: ZOO_PERM_ALL, scheme: 'digest'},
        {id: 'anyone', perms: ZOO_PERM_READ, scheme: 'world'},
      ]
      await seedTree(authed, hidden, [
        {data: 'open', path: '/'},
        {acl, data: 'readable by anyone', path: '/theirs'},
      ])
      const archive = join(dir, 'hidden-digest.tar.gz')
      const result = expectExit(await run(['zk', 'backup', archive, '--zk', zkUri(hosts, hidden)]), 1)
      expect(result.stderr.trim()).to.equal(
        `Error: Cannot back up ${hidden}/theirs: ZooKeeper hides the password hash of its ACL entry for digest user "${user}" from credentials without ADMIN on it, so the archive could not restore that ACL; pass --zk-auth of a user with ADMIN there, or of a ZooKeeper superuser`,
      )
      expect(existsSync(archive)).to.equal(false)
      // With ADMIN there, the hash is shown and archived.
      expectExit(await run(['zk', 'backup', archive, '--zk', zkUri(hosts, hidden), '--zk-auth', credentials]), 0)
      await expectArchiveHolds(archive, await readTreeIndependently(hosts, hidden, {auth: credentials}))
    })

    for (const via of ['--zk-auth', 'DCOS_ZK_AUTH'] as const) {
      it(`backs up and restores with credentials from ${via}`, async () => {
        const archive = join(dir, `auth-${via}.tar.gz`)
        const auth =
          via === '--zk-auth'
            ? {args: ['--zk-auth', `${user}:${password}`]}
            : {args: [], env: {DCOS_ZK_AUTH: `${user}:${password}`}}
        expectExit(await run(['zk', 'backup', archive, '--zk', zkUri(hosts, root), ...auth.args], auth.env), 0)
        archives.push(archive)
        await expectArchiveHolds(archive, original)

        const copy = uniquePath('auth-copy')
        expectExit(await run(['zk', 'restore', archive, '--zk', zkUri(hosts, copy), ...auth.args], auth.env), 0)
        await expectSameTree(original, hosts, copy, credentials)

        // Over the original, so the safety backup holds protected znodes too.
        await authed.setData(`${root}/secret/child`, Buffer.from('changed'))
        const safety = join(dir, `auth-safety-${via}.tar.gz`)
        expectExit(
          await run(
            ['zk', 'restore', archive, '--zk', zkUri(hosts, root), '--yes', '--safety-backup', safety, ...auth.args],
            auth.env,
          ),
          0,
        )
        archives.push(safety)
        await expectSameTree(original, hosts, root, credentials)
      })
    }

    it('never shows the password: not on bad input, not in --json parse errors, not in any archive', async () => {
      const malformed = expectUsageError(
        await run(['zk', 'backup', join(dir, 'x.tar.gz'), '--zk', zkUri(hosts, root), '--zk-auth', password]),
        'Invalid --zk-auth',
      )
      expect(malformed).to.not.include(password)
      const parse = expectExit(
        await run([
          'zk',
          'backup',
          join(dir, 'x.tar.gz'),
          '--zk',
          zkUri(hosts, root),
          '--zk-auth',
          `${user}:${password}`,
          '--bogus',
          '--json',
        ]),
        2,
      )
      expect(JSON.parse(parse.stdout).error.message).to.include('--bogus')
      expect(archives).to.have.length(4)
      for (const archive of archives) {
        const tar = gunzipSync(await readFile(archive))
        expect(tar.includes('secret data'), `${archive} holds the data`).to.equal(true)
        expect(tar.includes(password), `${archive} holds the password`).to.equal(false)
      }
    })
  })

  describe('usage errors: exit 2, one line, nothing written', () => {
    let root: string

    before(async () => {
      root = uniquePath('usage')
      await seedTree(session, root, [{data: 'x', path: '/'}])
    })

    const cases: Array<[string, (archive: string, hosts: string, root: string) => string[], RegExp]> = [
      [
        'an unknown storage scheme',
        (_, h, r) => ['ftp://server/x.tar.gz', '--zk', zkUri(h, r)],
        /^Error: Unknown storage scheme "ftp"/,
      ],
      [
        'an empty znode name in --zk',
        (a, h) => [a, '--zk', zkUri(h, '/a//b')],
        /^Error: Invalid znode path "\/a\/\/b": it contains an empty name/,
      ],
      [
        '"." as a znode name',
        (a, h) => [a, '--zk', zkUri(h, '/a/.')],
        /^Error: Invalid znode path "\/a\/\.": "\." is not allowed/,
      ],
      [
        '".." as a znode name',
        (a, h) => [a, '--zk', zkUri(h, '/a/../b')],
        /^Error: Invalid znode path "\/a\/\.\.\/b": "\.\." is not allowed/,
      ],
      [
        'a control character in the path',
        (a, h) => [a, '--zk', zkUri(h, '/a\u0001b')],
        /^Error: Invalid znode path "\/a\\u0001b": it contains a character/,
      ],
      [
        'a port out of range',
        (a) => [a, '--zk', 'zk://127.0.0.1:99999/x'],
        /^Error: Invalid port "99999" for ZooKeeper host 127\.0\.0\.1/,
      ],
      ['port 0', (a) => [a, '--zk', '127.0.0.1:0/x'], /^Error: Invalid port "0"/],
      [
        'a port that is not a number',
        (a) => [a, '--zk', '127.0.0.1:abc/x'],
        /^Error: Invalid ZooKeeper host "127\.0\.0\.1:abc"/,
      ],
      ['no hosts', (a) => [a, '--zk', 'zk:///x'], /^Error: No ZooKeeper hosts in "zk:\/\/\/x"/],
      [
        'credentials in the URI',
        (a) => [a, '--zk', 'zk://user:pw@127.0.0.1/x'],
        /^Error: Credentials do not belong in the ZooKeeper URI/,
      ],
      ['another URI scheme', (a) => [a, '--zk', 'http://127.0.0.1/x'], /^Error: Unsupported ZooKeeper URI scheme/],
      [
        'a relative --exclude',
        (a, h, r) => [a, '--zk', zkUri(h, r), '--exclude', 'leader'],
        /^Error: Invalid --exclude "leader": use an absolute znode path or glob/,
      ],
      [
        'a missing root znode',
        (a, h, r) => [a, '--zk', zkUri(h, `${r}/missing`)],
        /^Error: No znode at \/t-usage-\w+\/missing/,
      ],
      [
        'a missing directory',
        (a, h, r) => [join(a, 'missing', 'x.tar.gz'), '--zk', zkUri(h, r)],
        /directory .+ does not exist/,
      ],
      [
        '--json with stdout as the archive',
        (_, h, r) => ['-', '--zk', zkUri(h, r), '--json'],
        /--json cannot be used with -/,
      ],
    ]
    for (const [name, args, message] of cases) {
      it(`refuses ${name}`, async () => {
        const archive = join(dir, `usage-${randomBytes(4).toString('hex')}.tar.gz`)
        const result = await dcos(['zk', 'backup', ...args(archive, hosts, root)])
        if (args(archive, hosts, root).includes('--json')) {
          expectExit(result, 2)
          expect(JSON.parse(result.stdout).error.message).to.match(message)
        } else {
          expectUsageError(result, message)
        }

        expect(existsSync(archive)).to.equal(false)
      })
    }

    it('refuses to replace an existing archive without --force, and replaces it with --force', async () => {
      const archive = join(dir, 'existing.tar.gz')
      await writeFile(archive, 'precious')
      expectUsageError(
        await dcos(['zk', 'backup', archive, '--zk', zkUri(hosts, root)]),
        `${archive} already exists: choose another location or pass --force`,
      )
      expect(await readFile(archive, 'utf8')).to.equal('precious')
      expect((await readdir(dir)).filter((name) => name.includes('existing'))).to.deep.equal(['existing.tar.gz'])

      expectExit(await dcos(['zk', 'backup', archive, '--zk', zkUri(hosts, root), '--force']), 0)
      await expectArchiveHolds(archive, await liveTree(root))
    })
  })

  it('streams to stdout with -, the summary going to stderr', async () => {
    const root = uniquePath('stdout')
    await seedTree(session, root, [
      {data: 'x', path: '/'},
      {data: ALL_BYTES, path: '/bin'},
    ])
    const bytes = await new Promise<Buffer>((resolve, reject) => {
      execFile(
        process.execPath,
        ['bin/run.js', 'zk', 'backup', '-', '--zk', zkUri(hosts, root)],
        {cwd: ROOT, encoding: 'buffer'},
        (error, stdout, stderr) => {
          if (error) reject(new Error(`${error.message}\n${stderr.toString()}`))
          else {
            expect(stderr.toString()).to.match(/^Backed up 2 znodes/)
            resolve(stdout)
          }
        },
      )
    })
    const file = join(dir, 'stdout.tar.gz')
    await writeFile(file, bytes)
    await expectArchiveHolds(file, await liveTree(root))
  })

  it('backs up to S3 and restores from it, never showing the keys', async () => {
    const s3 = await startS3()
    try {
      const root = uniquePath('s3')
      await seedTree(session, root, [
        {data: 'root', path: '/'},
        {data: ALL_BYTES, path: '/bin'},
        {acl: READ_ONLY, data: 'ro', path: '/ro'},
        {path: '/empty'},
      ])
      const original = await liveTree(root)
      const location = s3.uri('zk/backup.tar.gz')
      const results = [expectExit(await dcos(['zk', 'backup', location, '--zk', zkUri(hosts, root)]), 0)]
      expect(results[0].stdout).to.include(
        's3://backups/zk/backup.tar.gz?region=us-east-1&access_key=***&secret_key=***',
      )

      results.push(expectExit(await dcos(['zk', 'inspect', location, '--json']), 0))
      expect(JSON.parse(results[1].stdout)).to.include({verified: true, znodesRead: 4})
      results.push(expectExit(await dcos(['zk', 'backup', location, '--zk', zkUri(hosts, root)]), 2))
      expect(results[2].stderr).to.match(/already exists/)

      const copy = uniquePath('s3-copy')
      results.push(
        expectExit(
          await dcos([
            'zk',
            'restore',
            location,
            '--zk',
            zkUri(hosts, copy),
            '--safety-backup',
            s3.uri('zk/safety.tar.gz'),
          ]),
          0,
        ),
      )
      await expectSameTree(original, hosts, copy)
      results.push(
        expectExit(await dcos(['zk', 'restore', s3.uri('zk/missing.tar.gz'), '--zk', zkUri(hosts, copy), '--yes']), 2),
      )
      expect(results.at(-1)!.stderr).to.include('No archive at s3://backups/zk/missing.tar.gz')

      const {GetObjectCommand} = await import('@aws-sdk/client-s3')
      const object = await s3.client.send(new GetObjectCommand({Bucket: s3.bucket, Key: 'zk/backup.tar.gz'}))
      const archive = Buffer.from(await object.Body!.transformToByteArray())
      const file = join(dir, 's3.tar.gz')
      await writeFile(file, archive)
      await expectArchiveHolds(file, original)
      for (const text of [
        ...results.flatMap((result) => [result.stdout, result.stderr]),
        gunzipSync(archive).toString('latin1'),
      ]) {
        expect(text).to.not.include(S3_ACCESS_KEY)
        expect(text).to.not.include(S3_SECRET_KEY)
      }
    } finally {
      await s3.stop()
    }
  })
})
