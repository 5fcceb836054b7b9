/**
 * The offline point-in-time restore against real ZooKeeper: a repository archived from a running
 * standalone 3.8 node whose logs roll often (`zk archive --once` through the CLI), then data
 * directories made at chosen zxids, each started by a real ZooKeeper (3.8, and 3.9 once) and read
 * with the oracle (node-zookeeper-client): the tree recorded at that zxid, and `srvr`'s Zxid.
 */
import {expect} from 'chai'
import zookeeper from 'node-zookeeper-client'
import {createHash} from 'node:crypto'
import {mkdir, readdir, readFile, writeFile} from 'node:fs/promises'
import {join} from 'node:path'

import {restoreDataDirToPoint} from '../../src/engine/pitr/offline.js'
import {OperationError} from '../../src/errors.js'
import {resolveLocation} from '../../src/providers/index.js'
import {zkConstants, ZkSession} from '../../src/zk/session.js'
import {Ensemble} from '../harness/ensemble.js'
import {dcos, expectExit} from '../helpers/cli.js'
import {removeDir, tempDir} from '../helpers/fixtures.js'
import {call, expectSameTree, type OracleTree, readTreeIndependently, withOracleClient} from '../helpers/oracle.js'
import {startRollingNode} from '../helpers/rolling-node.js'

interface Segment {
  file: string
  from: bigint
  to: bigint
}

describe('restoreDataDirToPoint (offline point-in-time restore, real ZooKeeper)', function () {
  this.timeout(180_000)
  let source: Ensemble
  let target: Ensemble
  let target39: Ensemble
  let session: ZkSession
  let dir: string
  let repo: string
  let written = 0
  /** The zxids the tree was recorded at, and the tree the oracle read there. */
  const trees = new Map<bigint, OracleTree>()
  let baseZxid: bigint
  let midZxids: bigint[]
  let segments: Segment[]

  const hosts = () => source.nodeConnectString(1)
  const zxidOf = (srvr: string) => BigInt(/^Zxid: (0x[0-9a-f]+)/m.exec(srvr)![1])

  /** The zxid of the last change of `path`, as the oracle reads it. */
  const mzxidOf = (path: string) =>
    withOracleClient(hosts(), undefined, async (client) =>
      (await call<zookeeper.Stat>((done) => client.exists(path, done))).mzxid.readBigUInt64BE(0),
    )

  async function write(count: number): Promise<string> {
    let path = ''
    for (const end = written + count; written < end; written++) {
      path = `/t/${written}`
      await session.create(path, Buffer.from(`v${written}`), zkConstants.ZOO_PERSISTENT)
    }

    return path
  }

  async function archiveOnce(): Promise<void> {
    const [from] = source.nodes
    const paths = ['--data-dir', from.dataDir, '--log-dir', from.dataLogDir, '--zk-config', from.configFile]
    expectExit(await dcos(['zk', 'archive', repo, ...paths, '--once']), 0)
  }

  async function baseArchive(): Promise<string> {
    const name = (await readdir(join(repo, 'bases'))).find((file) => file.endsWith('.tar.gz'))
    return join(repo, 'bases', name!)
  }

  async function readSegments(): Promise<Segment[]> {
    const names = (await readdir(join(repo, 'segments'))).filter((name) => name.endsWith('.seg')).sort()
    return names.map((name) => {
      const [from, to] = name.replace(/\.seg$/, '').split('-')
      return {file: join(repo, 'segments', name), from: BigInt(`0x${from}`), to: BigInt(`0x${to}`)}
    })
  }

  /** Every file under `root` and its SHA-256: what a refused restore must leave as it was. */
  async function filesOf(root: string): Promise<Record<string, string>> {
    const files: Record<string, string> = {}
    for (const entry of await readdir(root, {recursive: true, withFileTypes: true})) {
      if (!entry.isFile()) continue
      const path = join(entry.parentPath, entry.name)
      files[path] = createHash('sha256')
        .update(await readFile(path))
        .digest('hex')
    }

    return files
  }

  function point(untilZxid: bigint, chosen: Segment[] = segments) {
    return {
      segments: chosen.map((segment) => resolveLocation(segment.file)),
      untilZxid,
    }
  }

  /** A data dir at `zxid` restored into the stopped node of `ensemble`, which then serves it: checked with srvr and the oracle. */
  async function restoreAndServe(ensemble: Ensemble, zxid: bigint) {
    const [to] = ensemble.nodes
    const result = await restoreDataDirToPoint(
      {base: resolveLocation(await baseArchive()), ...point(zxid)},
      {dataDir: to.dataDir, logDir: to.dataLogDir, tempDir: dir},
    )
    await ensemble.startNode(1)
    try {
      // srvr first: the oracle's own session is a transaction.
      expect(zxidOf(await ensemble.srvr(1)), 'the node serves at the chosen zxid').to.equal(zxid)
      await expectSameTree(trees.get(zxid)!, ensemble.nodeConnectString(1), '/')
    } finally {
      await ensemble.stopNode(1)
    }

    expect(await readdir(dir), 'the staging directory is removed').to.deep.equal([])
    return result
  }

  before(async () => {
    ;[source, target, target39] = await Promise.all([
      startRollingNode(),
      Ensemble.start({dataLogDirs: true, nodes: 1}),
      Ensemble.start({dataLogDirs: true, nodes: 1, version: '3.9'}),
    ])
    await Promise.all([target.stopNode(1), target39.stopNode(1)])
    const work = await tempDir('pitr-offline')
    repo = join(work, 'repo')
    dir = join(work, 'staging')
    await mkdir(dir)
    session = await ZkSession.connect({hosts: [hosts()]})
    await session.create('/t', Buffer.from('root'), zkConstants.ZOO_PERSISTENT)
    // More than snapCount: the base holds a snapshot after the first transactions, which a target can be before.
    await write(130)
    const atBase = await readTreeIndependently(hosts(), '/')
    await archiveOnce()
    const base = (await readdir(join(repo, 'bases'))).find((name) => name.endsWith('.json'))
    baseZxid = BigInt(`0x${base!.replace(/\.json$/, '')}`)
    trees.set(baseZxid, atBase)

    await write(70)
    for (let index = 0; index < 10; index++) await session.setData(`/t/${index}`, Buffer.from(`changed ${index}`))
    // Two writes in a row: at most one of them ends a segment (a log holds many transactions).
    midZxids = []
    for (let index = 0; index < 2; index++) {
      const zxid = await mzxidOf(await write(1))
      trees.set(zxid, await readTreeIndependently(hosts(), '/'))
      midZxids.push(zxid)
    }

    for (let index = 0; index < 20; index++) await session.delete(`/t/${index}`)
    await write(150)
    await archiveOnce()
    segments = await readSegments()
    trees.set(segments.at(-1)!.to, await readTreeIndependently(hosts(), '/'))
    expect(segments.length, 'the logs rolled: several segments').to.be.greaterThan(2)
  })

  after(async () => {
    await session?.close()
    await Promise.all([source?.stop(), target?.stop(), target39?.stop()])
    await removeDir(join(dir, '..'))
  })

  it('a target inside a segment: ZooKeeper 3.8 serves exactly that zxid and the tree recorded there', async () => {
    const zxid = midZxids.find((candidate) =>
      segments.some((segment) => segment.from < candidate && candidate < segment.to),
    )!
    expect(zxid, 'a recorded zxid strictly inside a segment').to.not.equal(undefined)
    const myid = join(target.nodes[0].dataDir, 'myid')
    await writeFile(myid, '7\n')
    const result = await restoreAndServe(target, zxid)
    expect(await readFile(myid, 'utf8'), 'the node keeps its myid').to.equal('7\n')
    expect(result.myidFromSafetyCopy).to.equal(true)
    expect(result).to.include({requested: `0x${zxid.toString(16)}`, zxid: `0x${zxid.toString(16)}`})
    expect(result.segmentsUsed).to.be.greaterThan(0)
    expect(result.digestsVerified).to.be.greaterThan(0)
  })

  it("the base's own zxid: no segment used, the base's state served", async () => {
    const result = await restoreAndServe(target, baseZxid)
    expect(result.segmentsUsed).to.equal(0)
    expect(result.txns.fromSegments).to.equal(0)
  })

  it('the end of the window on ZooKeeper 3.9', async () => {
    const result = await restoreAndServe(target39, segments.at(-1)!.to)
    expect(result.segmentsUsed).to.equal(segments.length)
  })

  it('a missing middle segment: refused in one line, the data dir untouched', async () => {
    const [to] = target.nodes
    const before = {data: await filesOf(to.dataDir), log: await filesOf(to.dataLogDir)}
    const holed = segments.filter((_, index) => index !== 1)
    let refusal: unknown
    try {
      await restoreDataDirToPoint(
        {base: resolveLocation(await baseArchive()), ...point(segments.at(-1)!.to, holed)},
        {dataDir: to.dataDir, logDir: to.dataLogDir, tempDir: dir},
      )
    } catch (error) {
      refusal = error
    }

    expect(refusal).to.be.instanceOf(OperationError)
    const {message} = refusal as Error
    const hex = (zxid: bigint) => `0x${zxid.toString(16)}`
    expect(message).to.match(
      new RegExp(
        `^the transactions after ${hex(segments[0].to)} up to ${hex(segments[2].from)} \\(in .*\\) are missing`,
      ),
    )
    expect(message).to.not.include('\n')
    expect({data: await filesOf(to.dataDir), log: await filesOf(to.dataLogDir)}).to.deep.equal(before)
    expect(await readdir(dir), 'the staging directory is removed').to.deep.equal([])
  })

  it('a target after the last archived transaction: refused, naming where the files end', async () => {
    const [to] = target.nodes
    const before = await filesOf(to.dataDir)
    const end = segments.at(-1)!.to
    let refusal: unknown
    try {
      await restoreDataDirToPoint(
        {base: resolveLocation(await baseArchive()), ...point(end + 10n)},
        {dataDir: to.dataDir, logDir: to.dataLogDir, tempDir: dir},
      )
    } catch (error) {
      refusal = error
    }

    expect(refusal).to.be.instanceOf(OperationError)
    expect((refusal as Error).message).to.match(
      new RegExp(`^the base and its segments end at 0x${end.toString(16)}, before 0x${(end + 10n).toString(16)}`),
    )
    expect(await filesOf(to.dataDir)).to.deep.equal(before)
  })

  it("a target before the base's snapshot: refused, naming the earliest point", async () => {
    const [to] = target.nodes
    const before = await filesOf(to.dataDir)
    let refusal: unknown
    try {
      await restoreDataDirToPoint(
        {base: resolveLocation(await baseArchive()), ...point(2n)},
        {dataDir: to.dataDir, logDir: to.dataLogDir, tempDir: dir},
      )
    } catch (error) {
      refusal = error
    }

    expect(refusal).to.be.instanceOf(OperationError)
    expect((refusal as Error).message).to.match(
      /^0x2 is before the earliest point .* can restore, 0x[0-9a-f]+ \(its snapshot snapshot\.[0-9a-f]+\)/,
    )
    expect(await filesOf(to.dataDir)).to.deep.equal(before)
  })
})
