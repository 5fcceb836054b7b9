/**
 * Offline data-directory backups (dcos-zk's layout) against a real standalone ZooKeeper node with
 * separate data and log directories: CLI end to end, and the engine for injected failures.
 */
import {expect} from 'chai'
import {execFileSync} from 'node:child_process'
import {createHash} from 'node:crypto'
import {cp, lstat, mkdir, readdir, readFile, rm, writeFile} from 'node:fs/promises'
import {join} from 'node:path'
import {Readable} from 'node:stream'
import {gzipSync} from 'node:zlib'
import {Header} from 'tar'

import type {StorageProvider} from '../../../src/providers/types.js'

import {restoreDataDir, RUNNING_MESSAGE} from '../../../src/engine/datadir/index.js'
import {OperationError} from '../../../src/errors.js'
import {resolveLocation} from '../../../src/providers/index.js'
import {OPEN_ACL, zkConstants, ZkSession} from '../../../src/zk/session.js'
import {Ensemble} from '../../harness/ensemble.js'
import {dcos, expectExit, expectUsageError} from '../../helpers/cli.js'
import {removeDir, tempDir} from '../../helpers/fixtures.js'

type Tree = Record<string, string>

/** Every entry under `dir`: type, mode and (files) SHA-256. */
async function treeOf(dir: string): Promise<Tree> {
  const tree: Tree = {}
  const walk = async (path: string, rel: string) => {
    for (const name of (await readdir(path)).sort()) {
      const info = await lstat(join(path, name))
      const key = `${rel}${name}`
      if (info.isDirectory()) {
        tree[`${key}/`] = `dir ${(info.mode & 0o7777).toString(8)}`
        await walk(join(path, name), `${key}/`)
      } else {
        const sum = info.isFile()
          ? createHash('sha256')
              .update(await readFile(join(path, name)))
              .digest('hex')
          : 'other'
        tree[key] = `file ${(info.mode & 0o7777).toString(8)} ${sum}`
      }
    }
  }

  await walk(dir, '')
  return tree
}

interface CraftMember {
  body?: Buffer
  linkpath?: string
  path: string
  type?: 'CharacterDevice' | 'Directory' | 'File' | 'Link' | 'SymbolicLink'
}

/** A gzip tar from hand-made headers (what tar itself would refuse to write). */
function craft(members: CraftMember[]): Buffer {
  const blocks: Buffer[] = []
  for (const member of members) {
    const body = member.body ?? Buffer.alloc(0)
    const type = member.type ?? (member.path.endsWith('/') ? 'Directory' : 'File')
    const header = new Header({
      devmaj: 1,
      devmin: 3,
      gid: 0,
      linkpath: member.linkpath,
      mode: type === 'Directory' ? 0o755 : 0o644,
      mtime: new Date(),
      path: member.path,
      size: type === 'File' ? body.length : 0,
      type,
      uid: 0,
    })
    const block = Buffer.alloc(512)
    header.encode(block)
    blocks.push(block)
    if (type === 'File') blocks.push(body, Buffer.alloc((512 - (body.length % 512)) % 512))
  }

  blocks.push(Buffer.alloc(1024))
  return gzipSync(Buffer.concat(blocks))
}

const SNAP = (text: string) => Buffer.concat([Buffer.from('ZKSN'), Buffer.from(text)])
const LOG = (text: string) => Buffer.concat([Buffer.from('ZKLG'), Buffer.from(text)])
const BASE: CraftMember[] = [
  {path: './zookeeper/'},
  {path: './zookeeper/snapshot/'},
  {path: './zookeeper/snapshot/version-2/'},
]

describe('dcos zk backup|restore|inspect --data-dir (offline, dcos-zk layout)', function () {
  this.timeout(60_000)
  let ensemble: Ensemble
  let dir: string
  let dataDir: string
  let logDir: string
  let pidFile: string
  let configFile: string
  let archive: string
  const znodes: Record<string, string> = {'/dd': 'root', '/dd/a': 'alpha', '/dd/a/b': 'beta'}

  async function withSession<T>(fn: (session: ZkSession) => Promise<T>): Promise<T> {
    const session = await ZkSession.connect({hosts: [ensemble.nodeConnectString(1)]})
    try {
      return await fn(session)
    } finally {
      await session.close()
    }
  }

  async function readBack(): Promise<void> {
    await withSession(async (session) => {
      for (const [path, data] of Object.entries(znodes))
        expect((await session.getData(path)).data.toString()).to.equal(data)
    })
  }

  /** The node's directories and their parent, to prove a refused run changed nothing. */
  async function state(): Promise<{data: Tree; log: Tree; parent: string[]}> {
    return {data: await treeOf(dataDir), log: await treeOf(logDir), parent: (await readdir(join(dataDir, '..'))).sort()}
  }

  before(async () => {
    ensemble = await Ensemble.start({dataLogDirs: true, nodes: 1})
    const node = ensemble.nodes[0]
    dataDir = node.dataDir
    logDir = node.dataLogDir
    configFile = node.configFile
    dir = await tempDir('datadir')
    pidFile = join(dir, 'zk.pid')
    archive = join(dir, 'node.tar.gz')
    await writeFile(pidFile, `${node.pid}\n`)
    await withSession(async (session) => {
      for (const [path, data] of Object.entries(znodes))
        await session.create(path, Buffer.from(data), zkConstants.ZOO_PERSISTENT)
    })
    expect(OPEN_ACL).to.have.length(1)
  })

  after(async () => {
    await ensemble?.stop()
    await removeDir(dir)
  })

  it('restore refuses to run while ZooKeeper is running (pid file or client port): exit 1, nothing touched', async () => {
    const before = await state()
    for (const args of [
      ['restore', archive, '--data-dir', dataDir, '--log-dir', logDir, '--pid-file', pidFile],
      ['restore', archive, '--data-dir', dataDir, '--log-dir', logDir, '--zk-config', configFile],
    ]) {
      const result = expectExit(await dcos(['zk', ...args]), 1)
      expect(result.stderr.trim()).to.equal(`Error: ${RUNNING_MESSAGE}`)
    }

    expect(await state()).to.deep.equal(before)
    expect((await readdir(dir)).sort()).to.deep.equal(['zk.pid'])
  })

  it('exactly one mode: neither --zk nor --data-dir, or both, is a usage error (exit 2)', async () => {
    expectUsageError(await dcos(['zk', 'backup', archive]), /give --zk .* or --data-dir or --dcos/)
    expectUsageError(await dcos(['zk', 'restore', archive]), /give --zk .* or --data-dir or --dcos/)
    expectUsageError(
      await dcos(['zk', 'backup', archive, '--zk', 'localhost:1', '--data-dir', dataDir]),
      '--zk cannot be used with --data-dir or --dcos',
    )
    expectUsageError(
      await dcos(['zk', 'backup', archive, '--zk', 'localhost:1', '--log-dir', logDir]),
      '--log-dir needs --data-dir or --dcos',
    )
    expectUsageError(
      await dcos(['zk', 'backup', archive, '--data-dir', dataDir, '--exclude', '/x']),
      '--exclude is for online backups',
    )
  })

  it('backs up a stopped node in dcos-zk layout, every file with --all-files (-v lists members), the epoch files last; plain tar extracts it into that layout', async () => {
    await ensemble.stopNode(1)
    // A quorum peer's epoch files (a standalone node writes none): by name they come before every snapshot and log.
    for (const name of ['acceptedEpoch', 'currentEpoch']) await writeFile(join(dataDir, 'version-2', name), '1')
    const result = expectExit(
      await dcos([
        'zk',
        'backup',
        archive,
        '--data-dir',
        dataDir,
        '--log-dir',
        logDir,
        '--pid-file',
        pidFile,
        '-t',
        '/nonexistent',
        '-v',
        '--all-files',
      ]),
      0,
    )
    const listing = execFileSync('tar', ['-tzf', archive], {encoding: 'utf8'}).trim().split('\n')
    expect(listing.slice(0, 2)).to.deep.equal(['./zookeeper/', './zookeeper/snapshot/'])
    expect(listing.at(-1)).to.equal('./dcos-zk-backup.json')
    const state = listing.filter((name) => /\/version-2\/(?:snapshot|log)\.[0-9a-f]+$/.test(name))
    expect(listing.slice(-3)).to.deep.equal([
      './zookeeper/snapshot/version-2/acceptedEpoch',
      './zookeeper/snapshot/version-2/currentEpoch',
      './dcos-zk-backup.json',
    ])
    expect(state.length).to.be.greaterThan(1)
    expect(listing.filter((name) => /myid|zookeeper\.out/.test(name))).to.deep.equal([])
    expect(listing.some((name) => /^\.\/zookeeper\/snapshot\/version-2\/snapshot\.[0-9a-f]+$/.test(name))).to.equal(
      true,
    )
    expect(listing.some((name) => /^\.\/zookeeper\/transactions\/version-2\/log\.[0-9a-f]+$/.test(name))).to.equal(true)
    for (const name of listing) expect(result.stdout).to.include(`${name}\n`)
    expect(result.stdout).to.match(/^Backed up \d+ files .* to /m)

    // dcos-zk restores with `tar -xzf archive -C /var/lib/dcos/exhibitor`.
    const exhibitor = join(dir, 'exhibitor')
    await mkdir(exhibitor)
    execFileSync('tar', ['-xzf', archive, '-C', exhibitor])
    const {myid: _myid, ...dataWithoutMyid} = await treeOf(dataDir)
    const contents = (tree: Tree) =>
      Object.fromEntries(Object.entries(tree).map(([key, value]) => [key, value.split(' ').at(-1)]))
    expect(contents(await treeOf(join(exhibitor, 'zookeeper', 'snapshot')))).to.deep.equal(contents(dataWithoutMyid))
    expect(contents(await treeOf(join(exhibitor, 'zookeeper', 'transactions')))).to.deep.equal(
      contents(await treeOf(logDir)),
    )
    expect((await readdir(exhibitor)).sort()).to.deep.equal(['dcos-zk-backup.json', 'zookeeper'])
    await rm(exhibitor, {recursive: true})
  })

  it('inspect lists the snapshot and log files with their zxid ranges and verifies the checksums', async () => {
    const {stdout} = expectExit(await dcos(['zk', 'inspect', archive]), 0)
    expect(stdout).to.match(/^Format {6}ZooKeeper data directory \(dcos-zk layout\) v1, written by dcos-backup /m)
    expect(stdout).to.match(
      /^Snapshots {3}\.\/zookeeper\/snapshot\/version-2\/snapshot\.[0-9a-f]+ {2}zxid 0x[0-9a-f]+ /m,
    )
    expect(stdout).to.match(/^Logs {8}\.\/zookeeper\/transactions\/version-2\/log\.[0-9a-f]+ {2}zxids 0x[0-9a-f]+\.\./m)
    expect(stdout).to.match(/^Integrity {3}OK: every SHA-256 matches the manifest$/m)
    const json = JSON.parse(expectExit(await dcos(['zk', 'inspect', archive, '--json']), 0).stdout)
    expect(json).to.include({checksummed: true, kind: 'datadir', verified: true})
    expect(json.logs.length).to.be.greaterThan(0)
  })

  it('wipe, restore, start: the same data; the safety copies are kept and printed', async () => {
    const before = {data: await treeOf(dataDir), log: await treeOf(logDir)}
    await rm(join(dataDir, 'version-2'), {recursive: true})
    await rm(join(logDir, 'version-2'), {recursive: true})
    const {stdout} = expectExit(
      await dcos(['zk', 'restore', archive, '--data-dir', dataDir, '--log-dir', logDir, '--pid-file', pidFile]),
      0,
    )
    expect(stdout).to.include(`Safety copy of the previous directory: ${dataDir}.safety-`)
    expect(stdout).to.include(`Safety copy of the previous directory: ${logDir}.safety-`)
    expect(stdout).to.include('every SHA-256 verified; myid kept from the safety copy.')
    const contents = (tree: Tree) =>
      Object.fromEntries(Object.entries(tree).map(([key, value]) => [key, value.split(' ').at(-1)]))
    expect(contents(await treeOf(dataDir))).to.deep.equal(contents(before.data))
    expect(contents(await treeOf(logDir))).to.deep.equal(contents(before.log))
    const safety = (await readdir(join(dataDir, '..'))).filter((name) => name.includes('.safety-'))
    expect(safety).to.have.length(2)
    await ensemble.startNode(1)
    await readBack()
    await ensemble.stopNode(1)
  })

  it('an archive built exactly as dcos-zk builds it restores (myid from the safety copy)', async () => {
    const tmp = join(dir, 'dcos-zk-tmp')
    await mkdir(join(tmp, 'zookeeper'), {recursive: true})
    await cp(dataDir, join(tmp, 'zookeeper', 'snapshot'), {recursive: true})
    await cp(logDir, join(tmp, 'zookeeper', 'transactions'), {recursive: true})
    await writeFile(join(tmp, 'zookeeper', 'zookeeper.out'), 'log output\n')
    const dcosZkArchive = join(dir, 'dcos-zk.tar.gz')
    execFileSync('tar', [
      '-czf',
      dcosZkArchive,
      '-C',
      tmp,
      '--exclude=*myid*',
      '--exclude=*zookeeper.out*',
      './zookeeper',
    ])
    await rm(tmp, {recursive: true})
    const inspect = expectExit(await dcos(['zk', 'inspect', dcosZkArchive]), 0).stdout
    expect(inspect).to.include('no manifest (written by dcos-zk)')
    expect(inspect).to.match(/^Integrity {3}OK: structure and file magic/m)

    await rm(join(dataDir, 'version-2'), {recursive: true})
    await rm(join(logDir, 'version-2'), {recursive: true})
    const {stdout} = expectExit(
      await dcos(['zk', 'restore', dcosZkArchive, '--data-dir', dataDir, '--log-dir', logDir, '-v']),
      0,
    )
    expect(stdout).to.include('./zookeeper/transactions/version-2/')
    expect(stdout).to.include('no checksums in the archive (dcos-zk)')
    expect(await readFile(join(dataDir, 'myid'), 'utf8')).to.equal('1\n')
    await ensemble.startNode(1)
    await readBack()
    await ensemble.stopNode(1)
  })

  const bad: Array<[string, () => Promise<Buffer>, RegExp]> = [
    [
      'path traversal',
      async () => craft([...BASE, {body: Buffer.from('x'), path: './zookeeper/../../x'}]),
      /has a path with "\.\."/,
    ],
    [
      'an absolute path',
      async () => craft([...BASE, {body: Buffer.from('x'), path: '/tmp/dcos-zk-absolute'}]),
      /has an absolute path/,
    ],
    [
      'a symlink',
      async () =>
        craft([...BASE, {linkpath: '/etc/passwd', path: './zookeeper/snapshot/version-2/link', type: 'SymbolicLink'}]),
      /is a SymbolicLink: only regular files and directories/,
    ],
    [
      'a device file',
      async () => craft([...BASE, {path: './zookeeper/snapshot/null', type: 'CharacterDevice'}]),
      /is a CharacterDevice: only regular files and directories/,
    ],
    [
      'a member outside ./zookeeper/',
      async () => craft([...BASE, {body: Buffer.from('x'), path: './etc/cron.d/x'}]),
      /is not under \.\/zookeeper\//,
    ],
    [
      'a truncated gzip stream',
      async () => {
        const whole = await readFile(archive)
        return whole.subarray(0, Math.floor(whole.length / 2))
      },
      /truncated/,
    ],
    [
      'a snapshot with the wrong magic',
      async () =>
        craft([
          ...BASE,
          {body: Buffer.from('NOPE-not-a-snapshot'), path: './zookeeper/snapshot/version-2/snapshot.100'},
        ]),
      /snapshot\.100 does not start with ZooKeeper's ZKSN magic/,
    ],
    [
      'a log with the wrong magic',
      async () => craft([...BASE, {body: SNAP('x'), path: './zookeeper/snapshot/version-2/log.1'}]),
      /log\.1 does not start with ZooKeeper's ZKLG magic/,
    ],
  ]

  for (const [label, make, message] of bad) {
    it(`refuses ${label}, with the directories untouched`, async () => {
      const file = join(dir, 'bad.tar.gz')
      await writeFile(file, await make())
      const before = await state()
      const result = expectExit(await dcos(['zk', 'restore', file, '--data-dir', dataDir, '--log-dir', logDir]), 1)
      expect(result.stderr.trim().split('\n')).to.have.length(1)
      expect(result.stderr).to.match(message)
      expect(await state()).to.deep.equal(before)
      await rm('/tmp/dcos-zk-absolute', {force: true})
    })
  }

  it('a corrupted checksum in our archive is refused, untouched', async () => {
    const good = craft([
      ...BASE,
      {body: SNAP('one'), path: './zookeeper/snapshot/version-2/snapshot.1'},
      {
        body: Buffer.from(
          JSON.stringify({
            files: [{path: './zookeeper/snapshot/version-2/snapshot.1', sha256: '0'.repeat(64), size: 7}],
            format: 'dcos-zk-datadir',
            formatVersion: 1,
          }),
        ),
        path: './dcos-zk-backup.json',
      },
    ])
    const before = await state()
    const error = await restoreDataDir({dataDir, logDir, source: bufferSource(good, good)}).catch(
      (error_: unknown) => error_,
    )
    expect(error).to.be.instanceOf(OperationError)
    expect((error as Error).message).to.include('checksum mismatch for zookeeper/snapshot/version-2/snapshot.1')
    expect(await state()).to.deep.equal(before)
  })

  it('too little free space is refused before anything changes', async () => {
    const before = await state()
    const error = await restoreDataDir({dataDir, freeBytes: 1024, logDir, source: resolveLocation(archive)}).catch(
      (error_: unknown) => error_,
    )
    expect((error as Error).message).to.match(/^not enough free space on the file system of .*Nothing was changed\.$/)
    expect(await state()).to.deep.equal(before)
  })

  it('a failure in the middle of extraction puts the original directories back', async () => {
    // The archive changes between the validating read and the extracting one (an S3 object
    // replaced, a file overwritten): the second file member differs, seen only while extracting.
    const members = (second: Buffer) =>
      craft([
        ...BASE,
        {body: SNAP('first'), path: './zookeeper/snapshot/version-2/snapshot.1'},
        {path: './zookeeper/transactions/'},
        {path: './zookeeper/transactions/version-2/'},
        {body: second, path: './zookeeper/transactions/version-2/log.1'},
      ])
    const before = await state()
    const error = await restoreDataDir({
      dataDir,
      logDir,
      source: bufferSource(members(LOG('good')), members(LOG('evil'))),
    }).catch((error_: unknown) => error_)
    expect((error as Error).message).to.match(
      /^extraction failed: .*the archive changed since it was checked .*The original directories are back in place/,
    )
    expect(await state()).to.deep.equal(before)

    // And the same archive, unchanged, restores (mapping snapshot/ and transactions/).
    const result = await restoreDataDir({
      dataDir,
      logDir,
      source: bufferSource(members(LOG('good')), members(LOG('good'))),
    })
    expect(result.safetyCopies).to.have.length(2)
    expect(await readFile(join(logDir, 'version-2', 'log.1'), 'utf8')).to.equal('ZKLGgood')
    expect(await readFile(join(dataDir, 'myid'), 'utf8')).to.equal('1\n')
  })
})

/** A source whose first read gives `first` and later reads `later`. */
function bufferSource(first: Buffer, later: Buffer): StorageProvider {
  let reads = 0
  return {
    child() {
      throw new Error('no')
    },
    async delete() {},
    display: 'test-archive',
    list: async () => [],
    read: async () => Readable.from([reads++ === 0 ? first : later]),
    scheme: 'test',
    stat: async () => undefined,
    write: async () => 0,
  }
}
