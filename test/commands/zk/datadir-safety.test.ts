/**
 * Offline backups and restores that must not lose a node's state: symlinked layouts, directories
 * without state, an archive's myid, a --data-dir typo, nested or linked directories. Against a
 * real standalone node (stopped), its state read back with the independent oracle.
 */
import {expect} from 'chai'
import {execFileSync} from 'node:child_process'
import {existsSync} from 'node:fs'
import {cp, lstat, mkdir, readdir, readFile, readlink, rename, rm, symlink, writeFile} from 'node:fs/promises'
import {hostname} from 'node:os'
import {dirname, join} from 'node:path'

import {restoreDataDir} from '../../../src/engine/datadir/index.js'
import {resolveLocation} from '../../../src/providers/index.js'
import {zkConstants, ZkSession} from '../../../src/zk/session.js'
import {Ensemble} from '../../harness/ensemble.js'
import {dcos, expectExit, expectUsageError} from '../../helpers/cli.js'
import {removeDir, tempDir} from '../../helpers/fixtures.js'
import {oracleDiff, type OracleTree, readTreeIndependently} from '../../helpers/oracle.js'

/** Every name under `dir` (recursively, links not followed), with file contents: what must not change. */
async function listing(dir: string): Promise<Record<string, string>> {
  const entries: Record<string, string> = {}
  const walk = async (path: string, rel: string) => {
    for (const name of (await readdir(path)).sort()) {
      const info = await lstat(join(path, name))
      if (info.isDirectory()) {
        entries[`${rel}${name}/`] = 'dir'
        await walk(join(path, name), `${rel}${name}/`)
      } else if (info.isSymbolicLink()) {
        entries[`${rel}${name}`] = `link ${await readlink(join(path, name))}`
      } else {
        entries[`${rel}${name}`] = (await readFile(join(path, name))).toString('base64')
      }
    }
  }

  await walk(dir, '')
  return entries
}

describe("offline backup and restore keep the node's state (symlinks, myid, typos, nesting)", function () {
  this.timeout(120_000)
  let ensemble: Ensemble
  let dir: string
  let dataDir: string
  let logDir: string
  /** The stopped node's directories as first backed up, to reset between tests. */
  let pristine: {data: string; log: string}
  let expected: OracleTree
  const root = '/safety'

  async function liveTree(): Promise<OracleTree> {
    await ensemble.startNode(1)
    try {
      return await readTreeIndependently(ensemble.nodeConnectString(1), root)
    } finally {
      await ensemble.stopNode(1)
    }
  }

  async function reset(): Promise<void> {
    for (const [target, copy] of [
      [dataDir, pristine.data],
      [logDir, pristine.log],
    ]) {
      await rm(target, {force: true, recursive: true})
      await cp(copy, target, {recursive: true})
    }

    for (const name of await readdir(dirname(dataDir))) {
      if (name.includes('.safety-')) await rm(join(dirname(dataDir), name), {force: true, recursive: true})
    }
  }

  before(async () => {
    ensemble = await Ensemble.start({dataLogDirs: true, nodes: 1})
    dataDir = ensemble.nodes[0].dataDir
    logDir = ensemble.nodes[0].dataLogDir
    dir = await tempDir('datadir-safety')
    const session = await ZkSession.connect({hosts: [ensemble.nodeConnectString(1)]})
    try {
      await session.create(root, Buffer.from('root'), zkConstants.ZOO_PERSISTENT)
      for (let i = 0; i < 20; i++)
        await session.create(`${root}/n${i}`, Buffer.from(`value ${i}`), zkConstants.ZOO_PERSISTENT)
    } finally {
      await session.close()
    }

    expected = await readTreeIndependently(ensemble.nodeConnectString(1), root)
    expect(Object.keys(expected)).to.have.length(21)
    await ensemble.stopNode(1)
    pristine = {data: join(dir, 'pristine-data'), log: join(dir, 'pristine-log')}
    await cp(dataDir, pristine.data, {recursive: true})
    await cp(logDir, pristine.log, {recursive: true})
  })

  beforeEach(reset)

  after(async () => {
    await ensemble?.stop()
    await removeDir(dir)
  })

  it('backs up through a symlinked version-2 (state on another disk): the archive restores the whole tree', async () => {
    const elsewhere = join(dir, 'elsewhere')
    await mkdir(elsewhere)
    for (const [from, name] of [
      [dataDir, 'data-v2'],
      [logDir, 'log-v2'],
    ]) {
      await rename(join(from, 'version-2'), join(elsewhere, name))
      await symlink(join(elsewhere, name), join(from, 'version-2'))
    }

    const archive = join(dir, 'linked.tar.gz')
    const {stdout} = expectExit(await dcos(['zk', 'backup', archive, '--data-dir', dataDir, '--log-dir', logDir]), 0)
    expect(stdout).to.not.match(/Backed up 0 files/)
    const members = execFileSync('tar', ['-tzf', archive], {encoding: 'utf8'}).split('\n')
    expect(members.some((name) => /^\.\/zookeeper\/snapshot\/version-2\/snapshot\./.test(name))).to.equal(true)
    expect(members.some((name) => /^\.\/zookeeper\/transactions\/version-2\/log\./.test(name))).to.equal(true)

    // Restore into plain directories and start the node on them: the same tree.
    await rm(dataDir, {recursive: true})
    await rm(logDir, {recursive: true})
    await rm(elsewhere, {recursive: true})
    await mkdir(dataDir)
    await writeFile(join(dataDir, 'myid'), '1\n')
    expectExit(await dcos(['zk', 'restore', archive, '--data-dir', dataDir, '--log-dir', logDir]), 0)
    expect(oracleDiff(expected, await liveTree())).to.deep.equal([])
  })

  it('refuses to back up directories without a snapshot or log (exit 2, one line, no archive)', async () => {
    const empty = join(dir, 'empty-data')
    await mkdir(join(empty, 'version-2'), {recursive: true})
    await writeFile(join(empty, 'myid'), '1\n')
    const archive = join(dir, 'nothing.tar.gz')
    expectUsageError(
      await dcos(['zk', 'backup', archive, '--data-dir', empty]),
      `no ZooKeeper state in the data directory ${empty}: no snapshot.* or log.* in ${empty}/version-2 (it holds 2 entries: "myid", "version-2"); check --data-dir`,
    )
    // A typo of the data or log dir (its parent, holding the real one) would be archived whole.
    const typo = dirname(dataDir)
    expectUsageError(
      await dcos(['zk', 'backup', archive, '--data-dir', typo]),
      `no ZooKeeper state in the data directory ${typo}: no snapshot.* or log.* in ${typo}/version-2`,
    )
    expectUsageError(
      await dcos(['zk', 'backup', archive, '--data-dir', dataDir, '--log-dir', typo]),
      `no ZooKeeper state in the log directory ${typo}: no snapshot.* or log.* in ${typo}/version-2 (it holds`,
    )
    expect((await readdir(dir)).filter((name) => name.startsWith('nothing'))).to.deep.equal([])
  })

  it('refuses to back up a state file that is not a regular file (a symbolic link, dangling or not), and follows no other link', async () => {
    const archive = join(dir, 'dangling.tar.gz')
    await symlink(join(dir, 'gone'), join(logDir, 'version-2', 'log.ffffff'))
    expectUsageError(
      await dcos(['zk', 'backup', archive, '--data-dir', dataDir, '--log-dir', logDir]),
      `${logDir}/version-2/log.ffffff is not a regular file`,
    )
    await rm(join(logDir, 'version-2', 'log.ffffff'))
    await writeFile(join(dir, 'log.elsewhere'), 'ZKLG')
    await symlink(join(dir, 'log.elsewhere'), join(logDir, 'version-2', 'log.ffffff'))
    expectUsageError(
      await dcos(['zk', 'backup', archive, '--data-dir', dataDir, '--log-dir', logDir]),
      `${logDir}/version-2/log.ffffff is not a regular file`,
    )
    expect((await readdir(dir)).filter((name) => name.startsWith('dangling'))).to.deep.equal([])
    await rm(join(logDir, 'version-2', 'log.ffffff'))

    // A link elsewhere (not a state file) is left out with a warning: what it points to is not archived.
    await writeFile(join(dir, 'secret.txt'), 'not for the archive\n')
    await symlink(join(dir, 'secret.txt'), join(dataDir, 'notes'))
    const {stderr} = expectExit(await dcos(['zk', 'backup', archive, '--data-dir', dataDir, '--log-dir', logDir]), 0)
    expect(stderr.replaceAll(/\s*\n ›\s+/g, ' ')).to.include(
      `left out ${dataDir}/notes: not a regular file or directory`,
    )
    expect(execFileSync('tar', ['-tzf', archive], {encoding: 'utf8'})).to.not.include('notes')
  })

  it('refuses to restore an archive without a snapshot or log, with the directories untouched', async () => {
    const tmp = join(dir, 'stateless')
    await mkdir(join(tmp, 'zookeeper', 'snapshot', 'version-2'), {recursive: true})
    await writeFile(join(tmp, 'zookeeper', 'snapshot', 'version-2', 'currentEpoch'), '1')
    const archive = join(dir, 'stateless.tar.gz')
    execFileSync('tar', ['-czf', archive, '-C', tmp, './zookeeper'])
    const before = {data: await listing(dataDir), log: await listing(logDir), parent: await readdir(dirname(dataDir))}
    const result = expectExit(await dcos(['zk', 'restore', archive, '--data-dir', dataDir, '--log-dir', logDir]), 1)
    expect(result.stderr.trim().split('\n')).to.have.length(1)
    expect(result.stderr).to.include(
      'holds no ZooKeeper state: no snapshot.* or log.* under zookeeper/snapshot/version-2/ or zookeeper/transactions/version-2/',
    )
    expect({
      data: await listing(dataDir),
      log: await listing(logDir),
      parent: await readdir(dirname(dataDir)),
    }).to.deep.equal(before)
  })

  it('never takes myid from an archive: the node keeps its own, and -v says the member was skipped', async () => {
    // An archive as dcos-zk would make it, but with another node's myid in it.
    const tmp = join(dir, 'with-myid')
    await mkdir(join(tmp, 'zookeeper'), {recursive: true})
    await cp(dataDir, join(tmp, 'zookeeper', 'snapshot'), {recursive: true})
    await cp(logDir, join(tmp, 'zookeeper', 'transactions'), {recursive: true})
    await writeFile(join(tmp, 'zookeeper', 'snapshot', 'myid'), '7\n')
    const archive = join(dir, 'with-myid.tar.gz')
    execFileSync('tar', ['-czf', archive, '-C', tmp, './zookeeper'])
    expect(execFileSync('tar', ['-tzf', archive], {encoding: 'utf8'})).to.include('./zookeeper/snapshot/myid')

    const {stdout} = expectExit(
      await dcos(['zk', 'restore', archive, '--data-dir', dataDir, '--log-dir', logDir, '-v']),
      0,
    )
    expect(stdout).to.include(
      "skipped ./zookeeper/snapshot/myid: the node keeps its own myid, an archive's is never extracted",
    )
    expect(await readFile(join(dataDir, 'myid'), 'utf8')).to.equal('1\n')
    expect(oracleDiff(expected, await liveTree())).to.deep.equal([])
  })

  it('-v shows member names with control characters escaped', async () => {
    const tmp = join(dir, 'escapes')
    await mkdir(join(tmp, 'zookeeper'), {recursive: true})
    await cp(dataDir, join(tmp, 'zookeeper', 'snapshot'), {recursive: true})
    await writeFile(join(tmp, 'zookeeper', 'snapshot', '\u001B[2Jcleared'), 'x')
    const archive = join(dir, 'escapes.tar.gz')
    execFileSync('tar', ['-czf', archive, '-C', tmp, './zookeeper'])
    const {stdout} = expectExit(
      await dcos(['zk', 'restore', archive, '--data-dir', dataDir, '--log-dir', logDir, '-v', '--force']),
      0,
    )
    expect(stdout).to.include(String.raw`./zookeeper/snapshot/\u001b[2Jcleared`)
    expect(stdout).to.not.include('\u001B')
  })

  it('refuses a --data-dir or --log-dir that holds other files (a typo: its parent) unless --force: exit 2, nothing moved', async () => {
    const archive = join(dir, 'good.tar.gz')
    expectExit(await dcos(['zk', 'backup', archive, '--data-dir', dataDir, '--log-dir', logDir]), 0)
    const parent = dirname(dataDir)
    const before = await listing(parent)
    const names = (await readdir(parent)).sort()
    expectUsageError(
      await dcos(['zk', 'restore', archive, '--data-dir', parent]),
      `--data-dir ${parent} does not look like a ZooKeeper data directory (it holds ${names.length} other entries such as ${names
        .slice(0, 3)
        .map((name) => JSON.stringify(name))
        .join(', ')}); check the path, or pass --force`,
    )
    await writeFile(join(logDir, 'notes.txt'), 'mine\n')
    expectUsageError(
      await dcos(['zk', 'restore', archive, '--data-dir', dataDir, '--log-dir', logDir]),
      `--log-dir ${logDir} does not look like a ZooKeeper log directory (it holds 1 other entry such as "notes.txt"); check the path, or pass --force`,
    )
    expect(await listing(parent)).to.deep.equal({
      ...before,
      'datalog/notes.txt': Buffer.from('mine\n').toString('base64'),
    })

    // --force goes ahead; the other file is kept in the safety copy.
    const {stdout} = expectExit(
      await dcos(['zk', 'restore', archive, '--data-dir', dataDir, '--log-dir', logDir, '--force']),
      0,
    )
    const safety = /Safety copy of the previous directory: (\S+datalog\.safety-\S+)/.exec(stdout)?.[1]
    expect(await readFile(join(safety!, 'notes.txt'), 'utf8')).to.equal('mine\n')
    expect(oracleDiff(expected, await liveTree())).to.deep.equal([])
    expectUsageError(
      await dcos(['zk', 'restore', archive, '--zk', 'localhost:1', '--force']),
      '--force is for offline restores',
    )
  })

  it('restores a symlinked data dir where it points: the link stays, the safety copy is beside the real directory', async () => {
    const archive = join(dir, 'for-link.tar.gz')
    expectExit(await dcos(['zk', 'backup', archive, '--data-dir', dataDir, '--log-dir', logDir]), 0)
    const realData = join(dir, 'real-data')
    await rm(realData, {force: true, recursive: true})
    await rename(dataDir, realData)
    await symlink(realData, dataDir)
    try {
      const {stdout} = expectExit(await dcos(['zk', 'restore', archive, '--data-dir', dataDir, '--log-dir', logDir]), 0)
      expect(stdout).to.include(`Safety copy of the previous directory: ${realData}.safety-`)
      expect((await lstat(dataDir)).isSymbolicLink()).to.equal(true)
      expect(await readlink(dataDir)).to.equal(realData)
      expect(await readFile(join(realData, 'myid'), 'utf8')).to.equal('1\n')
      expect(oracleDiff(expected, await liveTree())).to.deep.equal([])
    } finally {
      await rm(dataDir, {force: true})
      await rm(realData, {force: true, recursive: true})
      for (const name of await readdir(dir))
        if (name.startsWith('real-data.safety-')) await rm(join(dir, name), {recursive: true})
    }
  })

  it('refuses a log dir that is inside the data dir through a symlink (exit 2, nothing moved)', async () => {
    const archive = join(dir, 'nested.tar.gz')
    expectExit(await dcos(['zk', 'backup', archive, '--data-dir', dataDir, '--log-dir', logDir]), 0)
    const linked = join(dir, 'log-link')
    await mkdir(join(dataDir, 'txlog'))
    await symlink(join(dataDir, 'txlog'), linked)
    const before = await listing(dirname(dataDir))
    expectUsageError(
      await dcos(['zk', 'restore', archive, '--data-dir', dataDir, '--log-dir', linked, '--force']),
      'the data directory and the log directory must not be inside one another',
    )
    // Also when the log dir does not exist yet, below a link into the data dir.
    expectUsageError(
      await dcos(['zk', 'restore', archive, '--data-dir', dataDir, '--log-dir', join(linked, 'new'), '--force']),
      'must not be inside one another',
    )
    expect(await listing(dirname(dataDir))).to.deep.equal(before)
    await rm(linked)
  })

  it('refuses a data dir that is a mount point before reading the archive (it cannot be renamed aside): exit 2, nothing changed', async function () {
    const archive = join(dir, 'mounted.tar.gz')
    expectExit(await dcos(['zk', 'backup', archive, '--data-dir', dataDir, '--log-dir', logDir]), 0)
    const mounted = join(dir, 'mounted')
    await mkdir(mounted)
    try {
      execFileSync('mount', ['-t', 'tmpfs', 'none', mounted], {stdio: 'ignore'})
    } catch {
      this.skip() // mounting needs root and CAP_SYS_ADMIN
    }

    try {
      await cp(dataDir, mounted, {recursive: true})
      const before = {mounted: await listing(mounted), parent: await readdir(dir)}
      expectUsageError(
        await dcos(['zk', 'restore', archive, '--data-dir', mounted, '--log-dir', logDir]),
        `${mounted} is a mount point: a restore moves the directory aside by renaming it, which a mount point does not allow`,
      )
      expect({mounted: await listing(mounted), parent: await readdir(dir)}).to.deep.equal(before)
    } finally {
      execFileSync('umount', [mounted])
    }
  })

  it('checks free space on each file system: a log dir on a small one is refused, nothing changed', async function () {
    const archive = join(dir, 'space.tar.gz')
    expectExit(await dcos(['zk', 'backup', archive, '--data-dir', dataDir, '--log-dir', logDir]), 0)
    const small = join(dir, 'small')
    await mkdir(small)
    try {
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=80m', 'none', small], {stdio: 'ignore'})
    } catch {
      this.skip() // mounting needs root and CAP_SYS_ADMIN
    }

    try {
      const smallLog = join(small, 'log')
      await cp(logDir, smallLog, {recursive: true})
      const before = {data: await listing(dataDir), small: await listing(small)}
      const result = expectExit(await dcos(['zk', 'restore', archive, '--data-dir', dataDir, '--log-dir', smallLog]), 1)
      expect(result.stderr.trim()).to.match(
        new RegExp(`^Error: not enough free space on the file system of ${small}: .*Nothing was changed\\.$`),
      )
      expect({data: await listing(dataDir), small: await listing(small)}).to.deep.equal(before)
    } finally {
      execFileSync('umount', [small])
    }
  })

  it('two restores in the same second keep both safety copies', async () => {
    const archive = join(dir, 'twice.tar.gz')
    expectExit(await dcos(['zk', 'backup', archive, '--data-dir', dataDir, '--log-dir', logDir]), 0)
    const now = () => new Date('2026-01-02T03:04:05.000Z')
    const first = await restoreDataDir({dataDir, logDir, now, source: resolveLocation(archive)})
    await writeFile(join(dataDir, 'version-2', 'marker'), 'second\n')
    const second = await restoreDataDir({dataDir, logDir, now, source: resolveLocation(archive)})
    expect(new Set([...first.safetyCopies, ...second.safetyCopies]).size).to.equal(4)
    expect(await readFile(join(second.safetyCopies[0], 'version-2', 'marker'), 'utf8')).to.equal('second\n')
    for (const copy of first.safetyCopies) expect((await readdir(copy)).length).to.be.greaterThan(0)
    expect(oracleDiff(expected, await liveTree())).to.deep.equal([])
  })

  it("one offline restore at a time: a second one beside a running one changes nothing, a dead holder's lock is taken over", async () => {
    const archive = join(dir, 'locked.tar.gz')
    expectExit(await dcos(['zk', 'backup', archive, '--data-dir', dataDir, '--log-dir', logDir]), 0)
    await writeFile(join(dataDir, 'version-2', 'marker'), 'before\n')
    const before = {data: await listing(dataDir), log: await listing(logDir)}
    const lockFile = `${dataDir}.dcos-restore.lock`
    // A restore running in this very process holds the lock.
    await writeFile(
      lockFile,
      `${JSON.stringify({instance: `${hostname()}:${process.pid}`, startedAt: new Date().toISOString()})}\n`,
    )
    const refused = expectExit(await dcos(['zk', 'restore', archive, '--data-dir', dataDir, '--log-dir', logDir]), 1)
    expect(refused.stderr).to.match(/another restore of .* is running/)
    expect({data: await listing(dataDir), log: await listing(logDir)}).to.deep.equal(before)
    expect((await readdir(dirname(dataDir))).filter((name) => name.includes('.safety-'))).to.deep.equal([])

    // Its holder died: the next restore goes on, and leaves no lock behind.
    const dead = execFileSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], {encoding: 'utf8'})
    await writeFile(
      lockFile,
      `${JSON.stringify({instance: `${hostname()}:${dead}`, startedAt: new Date().toISOString()})}\n`,
    )
    expectExit(await dcos(['zk', 'restore', archive, '--data-dir', dataDir, '--log-dir', logDir]), 0)
    expect(existsSync(lockFile)).to.equal(false)
    expect(existsSync(join(dataDir, 'version-2', 'marker'))).to.equal(false)
    expect(oracleDiff(expected, await liveTree())).to.deep.equal([])
  })

  it('two offline restores started together: one restores, the other is refused and changes nothing', async () => {
    const archive = join(dir, 'together.tar.gz')
    expectExit(await dcos(['zk', 'backup', archive, '--data-dir', dataDir, '--log-dir', logDir]), 0)
    const results = await Promise.allSettled(
      [1, 2].map(() => restoreDataDir({dataDir, logDir, source: resolveLocation(archive)})),
    )
    const refused = results.filter((result) => result.status === 'rejected')
    expect(refused).to.have.length(1)
    expect(String((refused[0] as PromiseRejectedResult).reason)).to.match(/another restore of .* is running/)
    // One restore's safety copies: the data dir's and the log dir's.
    expect((await readdir(dirname(dataDir))).filter((name) => name.includes('.safety-'))).to.have.length(2)
    expect(oracleDiff(expected, await liveTree())).to.deep.equal([])
  })
})
