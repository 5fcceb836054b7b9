import {expect} from 'chai'
import {randomBytes} from 'node:crypto'
import {existsSync} from 'node:fs'
import {readdir, readFile, writeFile} from 'node:fs/promises'
import {join} from 'node:path'

import {zkConstants, type ZkSession} from '../../../src/zk/session.js'
import {sharedEnsemble} from '../../harness/hooks.js'
import {type ArchiveMaterial, BAD_ARCHIVES, readArchiveFile} from '../../helpers/archive.js'
import {type CliResult, dcos, expectExit, expectUsageError, zkUri} from '../../helpers/cli.js'
import {ALL_BYTES, archiveMaterial, removeDir, tempDir} from '../../helpers/fixtures.js'
import {
  archiveAsOracleTree,
  expectArchiveHolds,
  expectSameTree,
  oracleDiff,
  type OracleTree,
  readTreeIndependently,
} from '../../helpers/oracle.js'
import {
  connect,
  digestId,
  READ_ONLY,
  seedTree,
  type SeedZnode,
  sorted,
  subtree,
  uniquePath,
  withoutPaths,
  ZOO_PERM_ALL,
  ZOO_PERM_READ,
} from '../../helpers/tree.js'

const APP_TREE: SeedZnode[] = [
  {data: 'root', path: '/'},
  {path: '/apps'},
  {data: 'a', path: '/apps/a'},
  {data: 'a config', path: '/apps/a/config'},
  {data: 'b', path: '/apps/b'},
  {data: 'b tmp', path: '/apps/b/tmp'},
  {data: 'c', path: '/apps/c'},
  {path: '/leader'},
  {data: 'member', path: '/leader/member'},
  {acl: READ_ONLY, data: ALL_BYTES, path: '/state'},
]

const HOUR = 3_600_000
const {ZOO_PERM_ADMIN, ZOO_PERM_CREATE, ZOO_PERM_DELETE, ZOO_PERM_WRITE} = zkConstants
const world = (perms: number) => [{id: 'anyone', perms, scheme: 'world'}]

/**
 * APP_TREE and what else a restore must reproduce on either path: a parent with children whose ACL
 * denies the restorer CREATE (it can only get that ACL once its children exist), one that denies
 * ADMIN, an ACL of another user, container and TTL znodes (archived as persistent: the server hides
 * their type), sequential names, empty and large data.
 */
const RICH_TREE: SeedZnode[] = [
  ...APP_TREE,
  {path: '/empty'},
  {data: randomBytes(100_000), path: '/big'},
  // ADMIN for anyone: the server shows the digest's hash only to clients with ADMIN on the znode.
  {
    acl: [
      {id: digestId('someone', 'secret'), perms: ZOO_PERM_ALL, scheme: 'digest'},
      ...world(ZOO_PERM_READ | ZOO_PERM_ADMIN),
    ],
    data: 'digest',
    path: '/digest',
  },
  {
    acl: world(ZOO_PERM_READ | ZOO_PERM_WRITE | ZOO_PERM_DELETE | ZOO_PERM_ADMIN),
    data: 'no create',
    path: '/no-create',
  },
  {data: 'first', path: '/no-create/first'},
  {data: 'second', path: '/no-create/second'},
  {data: 'deeper', path: '/no-create/second/deeper'},
  {acl: world(ZOO_PERM_READ | ZOO_PERM_WRITE | ZOO_PERM_CREATE | ZOO_PERM_DELETE), data: 'no admin', path: '/no-admin'},
  {data: 'child', path: '/no-admin/child'},
  {data: 'container', path: '/container', type: 'container'},
  {data: 'in a container', path: '/container/child'},
  {data: 'ttl', path: '/ttl', ttl: HOUR, type: 'ttl'},
  {path: '/queue'},
  {data: 'first', path: '/queue/item-', sequential: true},
  {data: 'second', path: '/queue/item-', sequential: true},
]

/** The two paths a restore can take, forced with --batch, and what --json then reports. */
const PATHS = [
  {batch: 'on', readPath: 'multi-read', writePath: 'multi'},
  {batch: 'off', readPath: 'single', writePath: 'single'},
] as const

const count = (tree: OracleTree) => Object.keys(tree).length

const base64 = (text: string) => Buffer.from(text).toString('base64')

/** The one line on stderr of a failed command. */
function errorLine(result: CliResult): string {
  const lines = result.stderr.trimEnd().split('\n')
  expect(lines, `stderr is one line:\n${result.stderr}`).to.have.length(1)
  return lines[0]
}

/** An error oclif printed itself (flag parsing), unwrapped: its lines start with " ›". */
function oclifMessage(result: CliResult): string {
  return result.stderr.replaceAll(/\s*›\s*/g, ' ').replaceAll(/\s+/g, ' ')
}

describe('dcos zk restore', function () {
  this.timeout(60_000)
  let hosts: string
  let session: ZkSession
  let dir: string

  before(async () => {
    hosts = (await sharedEnsemble()).connectString
    session = await connect(hosts)
    dir = await tempDir('restore')
  })

  after(async () => {
    await session?.close()
    await removeDir(dir)
  })

  /** The live tree under `root` as the independent oracle reads it. */
  const liveTree = (root: string) => readTreeIndependently(hosts, root)

  /** A fresh copy of APP_TREE and its archive. */
  async function appTree(label: string): Promise<{archive: string; root: string; tree: OracleTree}> {
    const root = uniquePath(label)
    await seedTree(session, root, APP_TREE)
    const archive = join(dir, `${label}-${root.slice(-8)}.tar.gz`)
    expectExit(await dcos(['zk', 'backup', archive, '--zk', zkUri(hosts, root)]), 0)
    const tree = await liveTree(root)
    await expectArchiveHolds(archive, tree)
    return {archive, root, tree}
  }

  describe('bad archives: refused before ZooKeeper is touched', () => {
    let material: ArchiveMaterial & {file: string; root: string}
    let changed: OracleTree

    before(async () => {
      material = await archiveMaterial(session, hosts, dir)
      // The live tree differs from the archive, so a restore that went ahead would change it.
      await session.setData(`${material.root}/a`, Buffer.from('changed'))
      await session.create(`${material.root}/extra`, Buffer.from('extra'), 0)
      changed = await liveTree(material.root)
    })

    for (const [index, bad] of BAD_ARCHIVES.entries()) {
      it(`refuses ${bad.name}: exit 1, tree unchanged, no safety backup`, async () => {
        const file = join(dir, `bad-${index}.tar.gz`)
        await writeFile(file, bad.make(material))
        const safety = join(dir, `bad-${index}-safety.tar.gz`)
        const result = expectExit(
          await dcos(['zk', 'restore', file, '--zk', zkUri(hosts, material.root), '--yes', '--safety-backup', safety]),
          1,
        )
        const line = errorLine(result)
        expect(line).to.match(
          new RegExp(`^Error: ${file.replaceAll(/[.*+?^${}()|[\]\\/]/g, String.raw`\$&`)} failed verification: `),
        )
        expect(line).to.match(bad.problem)
        expect(result.stdout).to.equal('')
        await expectSameTree(changed, hosts, material.root)
        expect(existsSync(safety)).to.equal(false)
      })
    }

    it('restores the good archive they were made from (control)', async () => {
      const safety = join(dir, 'good-safety.tar.gz')
      expectExit(
        await dcos([
          'zk',
          'restore',
          material.file,
          '--zk',
          zkUri(hosts, material.root),
          '--yes',
          '--safety-backup',
          safety,
        ]),
        0,
      )
      const restored = await liveTree(material.root)
      expect(oracleDiff(await archiveAsOracleTree(material.file), restored)).to.deep.equal([])
      expect(restored).to.not.deep.equal(changed)
      await expectArchiveHolds(safety, changed)
    })
  })

  describe('--exclude and --from', () => {
    const excluded = (path: string) => path === '/leader' || path.startsWith('/leader/') || /\/tmp(\/|$)/.test(path)

    it('--exclude (a path and a glob) leaves excluded live znodes alone and does not restore excluded archive znodes', async () => {
      const {archive, root, tree} = await appTree('exclude')
      await session.setData(`${root}/apps/a`, Buffer.from('a changed'))
      await session.setData(`${root}/leader/member`, Buffer.from('member changed'))
      await session.create(`${root}/leader/new`, Buffer.from('new member'), 0)
      await session.delete(`${root}/apps/b/tmp`)
      await session.create(`${root}/apps/c/tmp`, Buffer.from('new tmp'), 0)
      await session.delete(`${root}/state`)
      await session.create(`${root}/extra`, Buffer.from('extra'), 0)
      const before = await liveTree(root)

      const patterns = ['--exclude', `${root}/leader`, '--exclude', `${root}/**/tmp`]
      const result = expectExit(
        await dcos([
          'zk',
          'restore',
          archive,
          '--zk',
          zkUri(hosts),
          '--yes',
          '--safety-backup',
          join(dir, 'exclude-safety.tar.gz'),
          ...patterns,
        ]),
        0,
      )
      expect(result.stdout).to.match(/^ {2}excluded\s+4 {2}left as they are$/m)

      const after = await liveTree(root)
      expect(after).to.deep.equal(
        sorted({...withoutPaths(tree, excluded), ...withoutPaths(before, (path) => !excluded(path))}),
      )
      expect(after['/leader/member'].data).to.equal(base64('member changed'))
      expect(after).to.have.property('/leader/new')
      expect(after).to.have.property('/apps/c/tmp')
      expect(after).to.not.have.property('/apps/b/tmp')
      expect(after).to.not.have.property('/extra')
      expect(after['/apps/a'].data).to.equal(base64('a'))
      expect(after['/state']).to.deep.equal(tree['/state'])
    })

    it("gives a kept znode (the parent of an excluded one) the archive's data and ACL back", async () => {
      const {archive, root, tree} = await appTree('kept')
      await session.setData(`${root}/apps/b`, Buffer.from('b changed'))
      await session.setAcl(`${root}/apps/b`, [
        {
          id: 'anyone',
          perms: zkConstants.ZOO_PERM_READ | zkConstants.ZOO_PERM_WRITE | zkConstants.ZOO_PERM_ADMIN,
          scheme: 'world',
        },
      ])
      await session.setData(`${root}/apps/b/tmp`, Buffer.from('tmp changed'))
      const safety = join(dir, 'kept-safety.tar.gz')
      expectExit(
        await dcos([
          'zk',
          'restore',
          archive,
          '--zk',
          zkUri(hosts),
          '--yes',
          '--safety-backup',
          safety,
          '--exclude',
          `${root}/**/tmp`,
        ]),
        0,
      )
      const after = await liveTree(root)
      expect(after['/apps/b']).to.deep.equal(tree['/apps/b'])
      expect(after['/apps/b/tmp'].data).to.equal(base64('tmp changed'))
    })

    it('--exclude names archive paths, also when restoring to another path', async () => {
      const {archive, root, tree} = await appTree('exclude-copy')
      const copy = uniquePath('exclude-copy-target')
      expectExit(
        await dcos([
          'zk',
          'restore',
          archive,
          '--zk',
          zkUri(hosts, copy),
          '--exclude',
          `${root}/leader`,
          '--exclude',
          `${root}/**/tmp`,
        ]),
        0,
      )
      await expectSameTree(withoutPaths(tree, excluded), hosts, copy)
    })

    it('--from restores one subtree, to another path or to its own, leaving the rest alone', async () => {
      const {archive, root, tree} = await appTree('from')
      const copy = `${uniquePath('from-copy')}/apps`
      expectExit(await dcos(['zk', 'restore', archive, '--zk', zkUri(hosts, copy), '--from', `${root}/apps`]), 0)
      await expectSameTree(subtree(tree, '/apps'), hosts, copy)

      await session.setData(`${root}/apps/a/config`, Buffer.from('config changed'))
      await session.create(`${root}/apps/d`, Buffer.alloc(0), 0)
      await session.create(`${root}/other`, Buffer.from('outside the subtree'), 0)
      await session.setData(`${root}/leader/member`, Buffer.from('outside too'))
      const before = await liveTree(root)
      expectExit(
        await dcos([
          'zk',
          'restore',
          archive,
          '--zk',
          zkUri(hosts),
          '--from',
          `${root}/apps`,
          '--yes',
          '--safety-backup',
          join(dir, 'from-safety.tar.gz'),
        ]),
        0,
      )
      const after = await liveTree(root)
      expect(subtree(after, '/apps')).to.deep.equal(subtree(tree, '/apps'))
      expect(withoutPaths(after, (path) => path.startsWith('/apps'))).to.deep.equal(
        withoutPaths(before, (path) => path.startsWith('/apps')),
      )
      expect(after['/other'].data).to.equal(base64('outside the subtree'))
    })
  })

  describe('--dry-run', () => {
    it('prints the plan with counts and first paths, and changes nothing', async () => {
      const {archive, root, tree} = await appTree('dry-run')
      await session.delete(`${root}/apps/c`)
      await session.delete(`${root}/state`)
      await session.setData(`${root}/apps/a`, Buffer.from('a changed'))
      const extras = Array.from({length: 12}, (_, index) => `${root}/extra${String(index).padStart(2, '0')}`)
      for (const path of extras) await session.create(path, Buffer.alloc(0), 0)
      const before = await liveTree(root)
      const safety = join(dir, 'dry-run-safety.tar.gz')

      const result = expectExit(
        await dcos(['zk', 'restore', archive, '--zk', zkUri(hosts, root), '--dry-run', '--safety-backup', safety]),
        0,
      )
      const unchanged = Object.keys(tree).length - 3
      // Paths are listed in archive order, which the concurrent walk does not fix for siblings' subtrees.
      const lines = result.stdout.split('\n')
      expect(lines[1]).to.be.oneOf([
        `  create            2  ${root}/apps/c, ${root}/state`,
        `  create            2  ${root}/state, ${root}/apps/c`,
      ])
      expect([lines[0], ...lines.slice(2)]).to.deep.equal([
        `Plan: restore ${archive} to ${root}`,
        `  change            1  ${root}/apps/a`,
        `  delete           12  ${extras.slice(0, 10).join(', ')}, ...`,
        `  ${'unchanged'.padEnd(10)} ${String(unchanged).padStart(8)}`,
        'Dry run: nothing was changed.',
        '',
      ])
      await expectSameTree(before, hosts, root)
      expect(existsSync(safety)).to.equal(false)

      const json = JSON.parse(
        expectExit(await dcos(['zk', 'restore', archive, '--zk', zkUri(hosts, root), '--dry-run', '--json']), 0).stdout,
      )
      expect(json).to.include({created: 0, deleted: 0, dryRun: true, safetyBackup: null})
      expect(json.plan).to.deep.include({
        archive,
        change: 1,
        create: 2,
        delete: 12,
        ephemeralsToDelete: 0,
        firstDelete: extras.slice(0, 10),
        target: root,
        unchanged,
      })
      expect(json.plan.firstCreate).to.have.members([`${root}/apps/c`, `${root}/state`])
      await expectSameTree(before, hosts, root)
    })
  })

  describe('safety backup and confirmation', () => {
    it('saves the current tree first, and restoring that safety backup brings it back exactly', async () => {
      const {archive, root, tree} = await appTree('safety')
      await session.setData(`${root}/apps/a`, Buffer.from('a changed'))
      await session.setAcl(`${root}/apps/a/config`, READ_ONLY)
      await session.delete(`${root}/apps/c`)
      await session.create(`${root}/new`, Buffer.from('new'), 0)
      const previous = await liveTree(root)

      const safety = join(dir, 'safety.tar.gz')
      const result = expectExit(
        await dcos(['zk', 'restore', archive, '--zk', zkUri(hosts, root), '--yes', '--safety-backup', safety]),
        0,
      )
      expect(result.stdout).to.match(
        new RegExp(`^Safety backup of ${root}: ${safety} \\(${Object.keys(previous).length} znodes, `, 'm'),
      )
      await expectSameTree(tree, hosts, root)
      await expectArchiveHolds(safety, previous)

      expectExit(
        await dcos([
          'zk',
          'restore',
          safety,
          '--zk',
          zkUri(hosts, root),
          '--yes',
          '--safety-backup',
          join(dir, 'safety-2.tar.gz'),
        ]),
        0,
      )
      await expectSameTree(previous, hosts, root)
    })

    // Restore deletes the live tree before it recreates the archive's: a live znode whose ACL grants
    // nobody DELETE would stop it half way. The ACLs read with the tree are checked first.
    it('refuses while another restore or a service job holds the cluster lock: exit 1, nothing changed, no safety backup', async () => {
      const {archive, root} = await appTree('locked')
      await session.setData(`${root}/apps/a`, Buffer.from('a changed'))
      const before = await liveTree(root)
      const lockPath = `${uniquePath('lock')}/lock`
      // What another process holding the lock looks like: an ephemeral znode of its session.
      const holder = await connect(hosts)
      try {
        await holder.createParents(lockPath)
        const job = {
          instance: 'other-host:42',
          job: 'restore-other',
          kind: 'restore',
          since: '2026-11-21T00:00:00.000Z',
        }
        await holder.create(lockPath, Buffer.from(JSON.stringify(job)), zkConstants.ZOO_EPHEMERAL)
        const safety = join(dir, 'locked-safety.tar.gz')
        const refused = expectExit(
          await dcos([
            'zk',
            'restore',
            archive,
            '--zk',
            zkUri(hosts, root),
            '--yes',
            '--safety-backup',
            safety,
            '--lock-path',
            lockPath,
          ]),
          1,
        )
        expect(errorLine(refused)).to.equal(
          `Error: Refusing to restore: a restore (restore-other) on other-host:42 since 2026-11-21T00:00:00.000Z holds the cluster lock ${lockPath}; nothing was changed. Try again when it has ended: if that process is dead, its lock goes when its session expires, at most 15s after it died (--wait-lock <duration> waits)`,
        )
        await expectSameTree(before, hosts, root)
        expect(existsSync(safety)).to.equal(false)
        // A dry run changes nothing, so it needs no lock.
        expectExit(
          await dcos(['zk', 'restore', archive, '--zk', zkUri(hosts, root), '--dry-run', '--lock-path', lockPath]),
          0,
        )
      } finally {
        await holder.close()
      }

      // Once the holder's session is gone, so is the lock; the restore then takes it and gives it back.
      expectExit(
        await dcos([
          'zk',
          'restore',
          archive,
          '--zk',
          zkUri(hosts, root),
          '--yes',
          '--no-safety-backup',
          '--lock-path',
          lockPath,
        ]),
        0,
      )
      expect(await session.exists(lockPath)).to.equal(undefined)
    })

    it('says which --lock-path to choose when the credentials may not create the lock: exit 1, nothing changed', async () => {
      const {archive, root} = await appTree('lock-noauth')
      await session.setData(`${root}/apps/a`, Buffer.from('a changed'))
      const before = await liveTree(root)
      const readOnly = uniquePath('ro-lock')
      await session.create(readOnly, Buffer.alloc(0), 0)
      await session.setAcl(readOnly, READ_ONLY)
      const result = expectExit(
        await dcos([
          'zk',
          'restore',
          archive,
          '--zk',
          zkUri(hosts, root),
          '--yes',
          '--no-safety-backup',
          '--lock-path',
          `${readOnly}/lock`,
        ]),
        1,
      )
      expect(errorLine(result)).to.include(
        `Cannot take the cluster lock ${readOnly}/lock: these credentials may not create it; nothing was changed. Pass --lock-path`,
      )
      await expectSameTree(before, hosts, root)
    })

    it('refuses up front, changing nothing, when a live ACL forbids deleting children', async () => {
      const {archive, root} = await appTree('inner-acl')
      await session.setData(`${root}/apps/a`, Buffer.from('a changed'))
      await session.setAcl(`${root}/apps/b`, READ_ONLY)
      const before = await liveTree(root)
      const result = expectExit(
        await dcos([
          'zk',
          'restore',
          archive,
          '--zk',
          zkUri(hosts, root),
          '--yes',
          '--safety-backup',
          join(dir, 'inner-acl-safety.tar.gz'),
        ]),
        1,
      )
      expect(errorLine(result)).to.include(`cannot delete the children of ${root}/apps/b (ACL world:anyone:r)`)
      expect(errorLine(result)).to.include('nothing was changed')
      await expectSameTree(before, hosts, root)

      const dryRun = expectExit(await dcos(['zk', 'restore', archive, '--zk', zkUri(hosts, root), '--dry-run']), 0)
      expect(dryRun.stdout).to.include(`not allowed: these credentials cannot delete the children of ${root}/apps/b`)
    })

    it('writes the safety backup to ./zk-safety-<path>-<time>.tar.gz by default', async () => {
      const {archive, root} = await appTree('default-safety')
      await session.setData(`${root}/apps/a`, Buffer.from('a changed'))
      const previous = await liveTree(root)
      const cwd = await tempDir('cwd')
      try {
        expectExit(await dcos(['zk', 'restore', archive, '--zk', zkUri(hosts, root), '--yes'], {cwd}), 0)
        const files = await readdir(cwd)
        expect(files).to.have.length(1)
        expect(files[0]).to.match(new RegExp(`^zk-safety-${root.slice(1)}-\\d{8}T\\d{6}Z\\.tar\\.gz$`))
        await expectArchiveHolds(join(cwd, files[0]), previous)
      } finally {
        await removeDir(cwd)
      }
    })

    it('refuses a destructive restore without --yes and without a terminal: exit 2, tree unchanged', async () => {
      const {archive, root} = await appTree('confirm')
      await session.setData(`${root}/apps/a`, Buffer.from('a changed'))
      const before = await liveTree(root)
      const result = expectExit(
        await dcos([
          'zk',
          'restore',
          archive,
          '--zk',
          zkUri(hosts, root),
          '--safety-backup',
          join(dir, 'confirm-safety.tar.gz'),
        ]),
        2,
      )
      expect(errorLine(result)).to.equal(
        'Error: Refusing to change ZooKeeper without confirmation: there is no terminal to ask, so pass --yes',
      )
      expect(result.stdout).to.include(`  change            1  ${root}/apps/a`)
      await expectSameTree(before, hosts, root)
    })

    it('--no-safety-backup needs --yes: exit 2 without it; with it, no safety backup anywhere', async () => {
      const {archive, root, tree} = await appTree('no-safety')
      await session.setData(`${root}/apps/a`, Buffer.from('a changed'))
      const before = await liveTree(root)
      const cwd = await tempDir('cwd')
      try {
        const refused = expectExit(
          await dcos(['zk', 'restore', archive, '--zk', zkUri(hosts, root), '--no-safety-backup'], {cwd}),
          2,
        )
        expect(oclifMessage(refused)).to.include(
          'All of the following must be provided when using --no-safety-backup: --yes',
        )
        await expectSameTree(before, hosts, root)

        const result = expectExit(
          await dcos(['zk', 'restore', archive, '--zk', zkUri(hosts, root), '--no-safety-backup', '--yes'], {cwd}),
          0,
        )
        expect(result.stdout).to.not.include('Safety backup')
        await expectSameTree(tree, hosts, root)
        expect(await readdir(cwd)).to.deep.equal([])
      } finally {
        await removeDir(cwd)
      }
    })

    it('restores into a path that does not exist yet without asking, and with nothing to save', async () => {
      const {archive, tree} = await appTree('fresh')
      const target = `${uniquePath('fresh-target')}/a/b`
      const safety = join(dir, 'fresh-safety.tar.gz')
      const result = expectExit(
        await dcos(['zk', 'restore', archive, '--zk', zkUri(hosts, target), '--safety-backup', safety]),
        0,
      )
      expect(result.stdout).to.match(
        new RegExp(
          `^Restored ${Object.keys(tree).length} znodes to ${target} from ${archive} \\(deleted 0, 1 ACLs set\\)`,
          'm',
        ),
      )
      await expectSameTree(tree, hosts, target)
      expect(existsSync(safety)).to.equal(false)
    })

    it('deletes the ephemerals under the target, saying so in the plan, and never recreates them', async () => {
      const {archive, root, tree} = await appTree('ephemerals')
      const owner = await connect(hosts)
      try {
        await owner.create(`${root}/leader/ephemeral`, Buffer.from('mine'), zkConstants.ZOO_EPHEMERAL)
        const dry = expectExit(await dcos(['zk', 'restore', archive, '--zk', zkUri(hosts, root), '--dry-run']), 0)
        expect(dry.stdout).to.match(/^ {2}ephemeral\s+1 {2}deleted with their parents, never recreated$/m)

        const safety = join(dir, 'ephemerals-safety.tar.gz')
        expectExit(
          await dcos(['zk', 'restore', archive, '--zk', zkUri(hosts, root), '--yes', '--safety-backup', safety]),
          0,
        )
        await expectSameTree(tree, hosts, root)
        const saved = await readArchiveFile(safety, {ephemerals: true})
        expect(saved.tree['/leader/ephemeral']).to.include({data: base64('mine'), type: 'ephemeral'})
      } finally {
        await owner.close()
      }
    })
  })

  for (const path of PATHS)
    describe(`round trips on one path, forced: --batch ${path.batch}`, () => {
      const excluded = (relative: string) => relative === '/apps/b/tmp' || relative.startsWith('/apps/b/tmp/')
      let root: string
      let archive: string
      let archived: OracleTree

      before(async () => {
        root = uniquePath(`paths-${path.batch}`)
        await seedTree(session, root, RICH_TREE)
        archive = join(dir, `paths-${path.batch}.tar.gz`)
        expectExit(await dcos(['zk', 'backup', archive, '--zk', zkUri(hosts, root), '--batch', path.batch]), 0)
        await expectArchiveHolds(archive, await liveTree(root))
        archived = await archiveAsOracleTree(archive)
        expect(count(archived)).to.equal(RICH_TREE.length)
        expect((await readArchiveFile(archive)).tree['/no-create'].acl).to.deep.equal(
          RICH_TREE.find((znode) => znode.path === '/no-create')!.acl,
        )
        expect(archived).to.include.keys('/no-create/first', '/no-create/second/deeper', '/queue/item-0000000001')
      })

      /** `dcos zk restore <args> --batch <batch> --json`: exit 0, verified, on the forced read and write paths. */
      async function restore(args: string[]) {
        const result = JSON.parse(
          expectExit(await dcos(['zk', 'restore', ...args, '--batch', path.batch, '--json']), 0).stdout,
        )
        expect(result).to.include({readPath: path.readPath, verified: true, writePath: path.writePath})
        expect(result).to.not.have.property('batchFallback')
        return result
      }

      it('restores over a different live tree exactly as archived, saving it first; the safety backup brings that tree back exactly', async () => {
        await session.setData(root, Buffer.from('root changed'))
        await session.setData(`${root}/big`, Buffer.from('no longer big'))
        await session.setAcl(`${root}/empty`, READ_ONLY)
        await session.delete(`${root}/no-create/second/deeper`)
        await session.delete(`${root}/no-create/first`)
        await session.setData(`${root}/no-create/second`, Buffer.from('second changed'))
        await session.delete(`${root}/queue/item-0000000001`)
        await session.setData(`${root}/ttl`, Buffer.from('ttl changed'))
        await session.delete(`${root}/apps/c`)
        await session.create(`${root}/apps/new`, Buffer.from('new'), 0)
        await session.create(`${root}/extra`, Buffer.from('extra'), 0)
        const changed = await liveTree(root)
        const differing = [...new Set([...Object.keys(changed), ...Object.keys(archived)])].filter(
          (key) => JSON.stringify(changed[key]) !== JSON.stringify(archived[key]),
        )
        expect(differing).to.have.length(11)

        const safety = join(dir, `paths-${path.batch}-safety.tar.gz`)
        const restored = await restore([archive, '--zk', zkUri(hosts, root), '--yes', '--safety-backup', safety])
        expect(restored).to.include({created: count(archived), deleted: count(changed)})
        expect(restored.safetyBackup).to.include({location: safety, znodes: count(changed)})
        await expectSameTree(archived, hosts, root)
        await expectArchiveHolds(safety, changed)

        const back = await restore([safety, '--zk', zkUri(hosts, root), '--yes', '--no-safety-backup'])
        expect(back).to.include({created: count(changed), deleted: count(archived)})
        await expectSameTree(changed, hosts, root)
      })

      it("--exclude leaves an excluded live znode in place, and gives its kept parent the archive's data and ACL back", async () => {
        const copy = uniquePath(`paths-exclude-${path.batch}`)
        await seedTree(session, copy, RICH_TREE)
        await session.setData(`${copy}/apps/b/tmp`, Buffer.from('tmp changed'))
        await session.create(`${copy}/apps/b/tmp/under`, Buffer.from('under an excluded znode'), 0)
        await session.setData(`${copy}/apps/b`, Buffer.from('b changed'))
        await session.setAcl(`${copy}/apps/b`, world(ZOO_PERM_READ | ZOO_PERM_WRITE | ZOO_PERM_ADMIN))
        await session.setData(`${copy}/apps/a`, Buffer.from('a changed'))
        await session.delete(`${copy}/no-create/first`)
        await session.create(`${copy}/extra`, Buffer.from('extra'), 0)
        const before = await liveTree(copy)

        const result = await restore([
          archive,
          '--zk',
          zkUri(hosts, copy),
          '--yes',
          '--no-safety-backup',
          '--exclude',
          `${root}/apps/b/tmp`,
        ])
        expect(result.plan).to.include({excludedLive: 2})
        const after = await liveTree(copy)
        expect(after).to.deep.equal(
          sorted({...withoutPaths(archived, excluded), ...withoutPaths(before, (relative) => !excluded(relative))}),
        )
        expect(after['/apps/b/tmp'].data).to.equal(base64('tmp changed'))
        expect(after['/apps/b/tmp/under'].data).to.equal(base64('under an excluded znode'))
        expect(after['/apps/b']).to.deep.equal(archived['/apps/b'])
        expect(after).to.not.have.property('/extra')
      })
    })

  describe('usage errors: exit 2, one line, nothing changed', () => {
    let root: string
    let archive: string
    let live: OracleTree

    before(async () => {
      ;({archive, root} = await appTree('usage'))
      await session.setData(`${root}/apps/a`, Buffer.from('a changed'))
      live = await liveTree(root)
    })

    const cases: Array<[string, () => string[], () => RegExp | string]> = [
      [
        'an unknown storage scheme',
        () => ['ftp://server/x.tar.gz', '--zk', zkUri(hosts, root)],
        () => 'Error: Unknown storage scheme "ftp"',
      ],
      [
        'a missing archive file',
        () => [join(dir, 'missing.tar.gz'), '--zk', zkUri(hosts, root)],
        () => `Error: No archive at ${join(dir, 'missing.tar.gz')}`,
      ],
      [
        'a directory as the archive',
        () => [dir, '--zk', zkUri(hosts, root)],
        () => `Error: Cannot read ${dir}: not a file`,
      ],
      [
        'an empty name in the --zk path',
        () => [archive, '--zk', zkUri(hosts, '/a//b')],
        () => 'Error: Invalid znode path "/a//b": it contains an empty name (//)',
      ],
      [
        '"." in the --zk path',
        () => [archive, '--zk', zkUri(hosts, '/a/.')],
        () => 'Error: Invalid znode path "/a/.": "." is not allowed as a znode name',
      ],
      ['a bad port', () => [archive, '--zk', 'zk://127.0.0.1:65536'], () => 'Error: Invalid port "65536"'],
      ['no hosts', () => [archive, '--zk', `zk://${root}`], () => `Error: No ZooKeeper hosts in "zk://${root}"`],
      [
        'a relative --exclude',
        () => [archive, '--zk', zkUri(hosts, root), '--exclude', 'apps/a'],
        () => 'Error: Invalid --exclude "apps/a"',
      ],
      [
        '--from outside the archive',
        () => [archive, '--zk', zkUri(hosts, root), '--from', '/elsewhere'],
        () => `Error: --from /elsewhere is outside the archive, whose root is ${root}`,
      ],
      [
        'an invalid --from',
        () => [archive, '--zk', zkUri(hosts, root), '--from', `${root}//apps`],
        () => /^Error: Invalid znode path ".+\/\/apps": it contains an empty name/,
      ],
      [
        'a --from path the archive does not hold',
        () => [archive, '--zk', zkUri(hosts, root), '--from', `${root}/nothing`],
        () => `holds no znode at ${root}/nothing`,
      ],
      [
        'the archive on stdin',
        () => ['-', '--zk', zkUri(hosts, root)],
        () => 'Error: restore reads the archive more than once',
      ],
      [
        'an unknown scheme for the safety backup',
        () => [archive, '--zk', zkUri(hosts, root), '--safety-backup', 'ftp://x/s.tar.gz'],
        () => 'Error: Unknown storage scheme "ftp"',
      ],
    ]
    for (const [name, args, message] of cases) {
      it(`refuses ${name}`, async () => {
        expectUsageError(await dcos(['zk', 'restore', ...args(), '--yes']), message())
        await expectSameTree(live, hosts, root)
      })
    }

    it('refuses a safety backup location that already exists, keeping that file', async () => {
      const safety = join(dir, 'existing-safety.tar.gz')
      await writeFile(safety, 'precious')
      const result = expectExit(
        await dcos(['zk', 'restore', archive, '--zk', zkUri(hosts, root), '--yes', '--safety-backup', safety]),
        2,
      )
      expect(errorLine(result)).to.equal(
        `Error: ${safety} already exists: choose another location or pass --force to replace it`,
      )
      expect(await readFile(safety, 'utf8')).to.equal('precious')
      await expectSameTree(live, hosts, root)
    })

    it('refuses --safety-backup with --no-safety-backup', async () => {
      const result = expectExit(
        await dcos([
          'zk',
          'restore',
          archive,
          '--zk',
          zkUri(hosts, root),
          '--yes',
          '--no-safety-backup',
          '--safety-backup',
          join(dir, 's.tar.gz'),
        ]),
        2,
      )
      expect(oclifMessage(result)).to.match(
        /--(no-)?safety-backup=\S+ cannot also be provided when using --(no-)?safety-backup/,
      )
      await expectSameTree(live, hosts, root)
    })
  })
})
