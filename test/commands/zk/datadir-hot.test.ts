/**
 * Hot data-directory backups: a running standalone node's own files copied while a writer creates
 * /k/0, /k/1, ... (small snapCount, so logs roll and snapshots pile up), restored offline into
 * another node's directories, and loaded there by ZooKeeper itself. What it serves is read with
 * the oracle (node-zookeeper-client); the archives' members with tar.
 */
import {expect} from 'chai'
import {execFileSync} from 'node:child_process'
import {createReadStream} from 'node:fs'
import {cp, readdir, readFile, rm, stat, writeFile} from 'node:fs/promises'
import {join} from 'node:path'
import {pipeline} from 'node:stream/promises'
import {createGunzip} from 'node:zlib'
import {Parser} from 'tar'

import {backupDataDir} from '../../../src/engine/datadir/index.js'
import {resolveLocation} from '../../../src/providers/index.js'
import {zkConstants, ZkSession} from '../../../src/zk/session.js'
import {adler32, OpCode, parseLogName, parseSnapshotName, readTxnLog} from '../../../src/zkdisk/index.js'
import {Ensemble} from '../../harness/ensemble.js'
import {zookeeperClasspath} from '../../harness/zookeeper-releases.js'
import {dcos, expectExit, zkUri} from '../../helpers/cli.js'
import {removeDir, tempDir} from '../../helpers/fixtures.js'
import {oracleDiff, readTreeIndependently} from '../../helpers/oracle.js'
import {startRollingNode} from '../../helpers/rolling-node.js'
import {eventually} from '../../helpers/wait.js'

/** Creates /k/0, /k/1, ... one after the other until stopped. */
class Writer {
  written = 0
  private done?: Promise<void>
  private stopping = false

  constructor(private readonly session: ZkSession) {}

  async reach(count: number): Promise<void> {
    await eventually(`${count} writes`, async () => (this.written >= count ? true : undefined), 60_000, 20)
  }

  start(): void {
    this.stopping = false
    this.done = (async () => {
      while (!this.stopping) {
        await this.session.create(`/k/${this.written}`, Buffer.from(`v${this.written}`), zkConstants.ZOO_PERSISTENT)
        this.written++
      }
    })()
  }

  async stop(): Promise<void> {
    this.stopping = true
    await this.done
  }
}

interface Member {
  body: Buffer
  path: string
  size: number
}

/** Every member of a gzip tar, read with the tar package (not our reader). */
async function members(file: string): Promise<Member[]> {
  const found: Member[] = []
  const parser = new Parser({
    onReadEntry(entry) {
      const chunks: Buffer[] = []
      entry.on('data', (chunk: Buffer) => chunks.push(chunk))
      entry.on('end', () => found.push({body: Buffer.concat(chunks), path: entry.path, size: entry.size}))
    },
  })
  await pipeline(createReadStream(file), createGunzip(), parser)
  return found
}

const manifestOf = (all: Member[]) =>
  JSON.parse(all.find((member) => member.path === './dcos-zk-backup.json')!.body.toString('utf8'))
const zxidOf = (srvr: string) => BigInt(/^Zxid: (0x[0-9a-f]+)/m.exec(srvr)![1])

/** How many of the writes /k/0, /k/1, ... a node serves, checked to be a prefix with none missing. */
async function servedPrefix(hosts: string): Promise<number> {
  const names = Object.keys(await readTreeIndependently(hosts, '/k')).filter((path) => path !== '/')
  const indexes = names.map((path) => Number(path.slice(1))).sort((a, b) => a - b)
  expect(indexes).to.deep.equal([...indexes.keys()])
  return indexes.length
}

describe('dcos zk backup --data-dir of a running node (hot copy)', function () {
  this.timeout(180_000)
  let source: Ensemble
  let target: Ensemble
  let dir: string
  let session: ZkSession
  let writer: Writer

  before(async () => {
    // The rolling node's small preallocation keeps the logs quick to scan; the zero tail is still there to leave out.
    ;[source, target] = await Promise.all([
      startRollingNode({config: {'autopurge.snapRetainCount': '3'}}),
      Ensemble.start({dataLogDirs: true, nodes: 1}),
    ])
    await target.stopNode(1)
    dir = await tempDir('datadir-hot')
    session = await ZkSession.connect({hosts: [source.nodeConnectString(1)]})
    await session.create('/k', Buffer.alloc(0), zkConstants.ZOO_PERSISTENT)
    writer = new Writer(session)
  })

  after(async () => {
    await writer?.stop().catch(() => {})
    session?.close()
    await Promise.all([source?.stop(), target?.stop()])
    await removeDir(dir)
  })

  /** The archive restored offline into the target node's directories, which then starts on them: its zxid right after start. */
  async function restoreIntoTarget(archive: string): Promise<bigint> {
    await target.stopNode(1)
    const [to] = target.nodes
    expectExit(await dcos(['zk', 'restore', archive, '--data-dir', to.dataDir, '--log-dir', to.dataLogDir]), 0)
    await target.startNode(1)
    return zxidOf(await target.srvr(1))
  }

  function backupArgs(archive: string, ...more: string[]): string[] {
    const [from] = source.nodes
    return [
      'zk',
      'backup',
      archive,
      '--data-dir',
      from.dataDir,
      '--log-dir',
      from.dataLogDir,
      '--zk-config',
      from.configFile,
      '--force',
      ...more,
    ]
  }

  it('copies while a writer goes on: ZooKeeper loads the restored copy and serves a gap-free prefix of the writes ending at the recorded zxid', async () => {
    writer.start()
    await writer.reach(400)
    const archive = join(dir, 'hot.tar.gz')
    const result = expectExit(await dcos(backupArgs(archive, '--json')), 0)
    const json = JSON.parse(result.stdout)
    await writer.reach(writer.written + 100)
    await writer.stop()
    expect(json).to.include({allFiles: false, hot: true, zookeeperVersion: '3.8.0'})
    const manifest = manifestOf(await members(archive))
    expect(manifest).to.include({allFiles: false, hot: true, zookeeperVersion: '3.8.0'})
    expect(manifest.consistentAt.zxid).to.equal(json.consistentAt.zxid)
    expect(manifest.consistentAt.digestsVerified).to.be.greaterThan(0)
    const inspect = expectExit(await dcos(['zk', 'inspect', archive]), 0).stdout
    expect(inspect).to.match(
      new RegExp(
        `^Copy {8}hot \\(ZooKeeper 3\\.8\\.0 running\\), the files a recovery needs; consistent at zxid ${json.consistentAt.zxid} \\(.*\\); \\d+ transactions replayed, [1-9]\\d* digests matched$`,
        'm',
      ),
    )

    const restoredZxid = await restoreIntoTarget(archive)
    expect(restoredZxid).to.equal(BigInt(json.consistentAt.zxid))
    const served = await servedPrefix(target.nodeConnectString(1))
    expect(served).to.be.greaterThan(400)
    expect(served).to.be.lessThan(writer.written)
  })

  it('quiesced, the copy equals the live tree', async () => {
    const archive = join(dir, 'quiet.tar.gz')
    const {stderr} = expectExit(await dcos(backupArgs(archive)), 0)
    expect(stderr).to.match(
      /^Hot copy: ZooKeeper 3\.8\.0 was running on .*; the archive holds its state consistent at zxid 0x[0-9a-f]+ \(20\d\d-/m,
    )
    await restoreIntoTarget(archive)
    const live = await readTreeIndependently(source.nodeConnectString(1), '/')
    expect(Object.keys(live)).to.have.length.greaterThan(writer.written)
    expect(oracleDiff(live, await readTreeIndependently(target.nodeConnectString(1), '/'))).to.deep.equal([])

    // Online too: its /k restored through the client API under another path.
    expectExit(
      await dcos([
        'zk',
        'restore',
        archive,
        '--from',
        '/k',
        '--zk',
        zkUri(target.nodeConnectString(1), '/k-online'),
        '--yes',
        '--no-safety-backup',
      ]),
      0,
    )
    const liveK = await readTreeIndependently(source.nodeConnectString(1), '/k')
    expect(oracleDiff(liveK, await readTreeIndependently(target.nodeConnectString(1), '/k-online'))).to.deep.equal([])
  })

  it('autopurge during the copy (PurgeTxnLog deleting the very snapshot being copied): the backup completes and restores', async () => {
    const [from] = source.nodes
    const classpath = await zookeeperClasspath()
    const archive = join(dir, 'purged.tar.gz')
    const snapshots = async () =>
      (await readdir(join(from.dataDir, 'version-2'))).filter((name) => parseSnapshotName(name))
    let copied: string[] = []
    // Once the snapshot is pinned and before its bytes are read, the writer makes newer snapshots
    // and PurgeTxnLog (keeping 3) deletes every file the copy started with.
    const purgeMidCopy = async ({path}: {path: string}) => {
      if (!parseSnapshotName(path.split('/').at(-1)!) || copied.length > 0) return
      copied = await snapshots()
      writer.start()
      await eventually(
        'newer snapshots',
        async () => ((await snapshots()).filter((name) => !copied.includes(name)).length >= 4 ? true : undefined),
        60_000,
      )
      await writer.stop()
      execFileSync(
        'java',
        ['-cp', classpath, 'org.apache.zookeeper.server.PurgeTxnLog', from.dataLogDir, from.dataDir, '-n', '3'],
        {stdio: 'ignore'},
      )
    }

    const result = await backupDataDir({
      dataDir: from.dataDir,
      destination: resolveLocation(archive),
      logDir: from.dataLogDir,
      onMember: purgeMidCopy,
      overwrite: true,
      zkConfig: from.configFile,
    })
    expect(result.hot).to.equal(true)
    const manifest = manifestOf(await members(archive))
    const remaining = await snapshots()
    expect(copied).to.include(manifest.consistentAt.snapshot)
    expect(remaining, 'the purge deleted the snapshot being copied').to.not.include(manifest.consistentAt.snapshot)
    expect(await restoreIntoTarget(archive)).to.equal(BigInt(result.consistentAt.zxid))
    expect(await servedPrefix(target.nodeConnectString(1))).to.be.greaterThan(0)
  })

  it('the default leaves out myid, obsolete snapshots and logs and the zero tails; --all-files copies everything', async () => {
    await source.stopNode(1)
    const [from] = source.nodes
    const onDisk = async (directory: string) =>
      Object.fromEntries(
        await Promise.all(
          (await readdir(join(directory, 'version-2'))).map(async (name) => [
            name,
            (await stat(join(directory, 'version-2', name))).size,
          ]),
        ),
      )
    expect((await readdir(from.dataDir)).sort()).to.deep.equal(['myid', 'version-2'])
    const data = await onDisk(from.dataDir)
    const logs = await onDisk(from.dataLogDir)
    const files = (all: Member[]) =>
      all.filter((member) => !member.path.endsWith('/') && member.path !== './dcos-zk-backup.json')

    const everything = join(dir, 'all.tar.gz')
    expectExit(await dcos(backupArgs(everything, '--all-files')), 0)
    const all = files(await members(everything))
    const expected = [
      ...Object.keys(data).map((name) => `./zookeeper/snapshot/version-2/${name}`),
      ...Object.keys(logs).map((name) => `./zookeeper/transactions/version-2/${name}`),
    ]
    expect(all.map((member) => member.path).sort()).to.deep.equal(expected.sort())
    for (const member of all) expect(member.size).to.equal({...data, ...logs}[member.path.split('/').at(-1)!])

    const needed = join(dir, 'needed.tar.gz')
    expectExit(await dcos(backupArgs(needed)), 0)
    const chosen = files(await members(needed))
    const newest = Object.keys(data)
      .filter((name) => parseSnapshotName(name))
      .sort((a, b) => Number(parseSnapshotName(b)!.zxid - parseSnapshotName(a)!.zxid))[0]
    const snapshotZxid = parseSnapshotName(newest)!.zxid
    const logNames = Object.keys(logs).sort((a, b) => Number(parseLogName(a)! - parseLogName(b)!))
    const firstLog = logNames.findLastIndex((name) => parseLogName(name)! <= snapshotZxid)
    expect(Object.keys(data).filter((name) => parseSnapshotName(name)).length).to.be.greaterThan(1)
    expect(chosen.map((member) => member.path)).to.deep.equal([
      `./zookeeper/snapshot/version-2/${newest}`,
      ...logNames.slice(firstLog).map((name) => `./zookeeper/transactions/version-2/${name}`),
    ])
    for (const member of chosen.filter((file) => file.path.includes('/log.'))) {
      expect(member.size).to.be.lessThan(logs[member.path.split('/').at(-1)!])
      expect(member.body.at(-1), `${member.path} ends with an entry's end byte`).to.equal(0x42)
    }

    await source.startNode(1)
  })

  it('a copy that disagrees with the digests ZooKeeper wrote is refused, no archive', async () => {
    // A log whose last create (after the newest snapshot) carries other data, with its Adler-32
    // redone: whole, but not what the node applied.
    const fresh = await ZkSession.connect({hosts: [source.nodeConnectString(1)]})
    for (let index = 0; index < 5; index++)
      await fresh.create(`/t${index}`, Buffer.from('value'), zkConstants.ZOO_PERSISTENT)
    fresh.close()
    await source.stopNode(1)
    const [from] = source.nodes
    const copy = join(dir, 'tampered')
    await cp(from.dataDir, join(copy, 'data'), {recursive: true})
    await cp(from.dataLogDir, join(copy, 'log'), {recursive: true})
    await source.startNode(1)
    const logDir = join(copy, 'log', 'version-2')
    const newest = (await readdir(logDir)).sort((a, b) => Number(parseLogName(b)! - parseLogName(a)!))[0]
    const bytes = await readFile(join(logDir, newest))
    const last = readTxnLog({bytes, name: newest}).txns.findLast((entry) => entry.header.type === OpCode.create)!
    const length = bytes.readInt32BE(last.offset + 8)
    const body = bytes.subarray(last.offset + 12, last.offset + 12 + length)
    const data = body.indexOf('v')
    expect(data).to.be.greaterThan(0)
    body[data] = 'x'.charCodeAt(0)
    bytes.writeBigUInt64BE(BigInt(adler32(body)), last.offset)
    await writeFile(join(logDir, newest), bytes)

    const archive = join(dir, 'tampered.tar.gz')
    const error = await backupDataDir({
      dataDir: join(copy, 'data'),
      destination: resolveLocation(archive),
      logDir: join(copy, 'log'),
    }).catch((error_: unknown) => error_)
    expect((error as Error).message).to.match(
      /^the copy does not hold the node's state: the tree digest after zxid 0x[0-9a-f]+ differs from ZooKeeper's$/,
    )
    expect(await stat(archive).catch(() => undefined)).to.equal(undefined)
  })

  it('restore still refuses a running node', async () => {
    const [from] = source.nodes
    const result = expectExit(
      await dcos([
        'zk',
        'restore',
        join(dir, 'needed.tar.gz'),
        '--data-dir',
        from.dataDir,
        '--log-dir',
        from.dataLogDir,
        '--zk-config',
        from.configFile,
      ]),
      1,
    )
    expect(result.stderr.trim()).to.equal('Error: ZooKeeper must not be running. Aborting.')
    await rm(join(dir, 'needed.tar.gz'))
    expect(await readFile(join(from.dataDir, 'myid'), 'utf8')).to.equal('1\n')
  })
})

for (const version of ['3.9', '3.4'] as const) {
  describe(`dcos zk backup --data-dir of a running ZooKeeper ${version} node (hot copy)`, function () {
    this.timeout(180_000)
    let ensemble: Ensemble
    let dir: string
    let session: ZkSession

    before(async () => {
      ensemble = await startRollingNode({version})
      dir = await tempDir(`datadir-hot-${version}`)
      session = await ZkSession.connect({hosts: [ensemble.nodeConnectString(1)]})
      await session.create('/k', Buffer.alloc(0), zkConstants.ZOO_PERSISTENT)
    })

    after(async () => {
      session?.close()
      await ensemble?.stop()
      await removeDir(dir)
    })

    it('copies while a writer goes on; ZooKeeper loads it from fresh directories and serves a gap-free prefix ending at the recorded zxid', async () => {
      const writer = new Writer(session)
      writer.start()
      await writer.reach(300)
      const [node] = ensemble.nodes
      const archive = join(dir, 'hot.tar.gz')
      const args = [
        'zk',
        'backup',
        archive,
        '--data-dir',
        node.dataDir,
        '--log-dir',
        node.dataLogDir,
        '--zk-config',
        node.configFile,
        '--json',
      ]
      const json = JSON.parse(expectExit(await dcos(args), 0).stdout)
      await writer.reach(writer.written + 50)
      await writer.stop()
      expect(json.hot).to.equal(true)
      expect(json.zookeeperVersion).to.match(new RegExp(`^${version.replace('.', String.raw`\.`)}\\.`))

      // Fresh directories (myid kept): the node's own files gone, the archive's restored in their place.
      await ensemble.stopNode(1)
      await rm(join(node.dataDir, 'version-2'), {recursive: true})
      await rm(node.dataLogDir, {recursive: true})
      expectExit(await dcos(['zk', 'restore', archive, '--data-dir', node.dataDir, '--log-dir', node.dataLogDir]), 0)
      await ensemble.startNode(1)
      expect(zxidOf(await ensemble.srvr(1))).to.equal(BigInt(json.consistentAt.zxid))
      const served = await servedPrefix(ensemble.nodeConnectString(1))
      expect(served).to.be.greaterThan(300)
      expect(served).to.be.lessThan(writer.written)
    })
  })
}
