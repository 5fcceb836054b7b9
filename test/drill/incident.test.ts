/**
 * The incident drill (issue 17): a running 3.8 node archived continuously while a tree is written
 * and changed; its state recorded with another client (node-zookeeper-client); a recursive delete
 * and more writes; the archiver SIGKILLed and restarted in between. Then the state before the
 * delete is put back from the repository, by zxid and by time, online into another path and
 * offline into a data directory that a real ZooKeeper then serves, each read back with that other
 * client; `zk history` names the delete, and `--before-change` finds the same point by itself. The
 * refusals come last: a target in a gap, before the oldest base, after the end.
 */
import {expect} from 'chai'
import {createHash} from 'node:crypto'
import {cp, readdir, rm} from 'node:fs/promises'
import {join} from 'node:path'
import {setTimeout as sleep} from 'node:timers/promises'

import {zkConstants, ZkSession} from '../../src/zk/session.js'
import {Ensemble} from '../harness/ensemble.js'
import {dcos, expectExit, spawnDcos, type SpawnedCli, zkUri} from '../helpers/cli.js'
import {removeDir, tempDir} from '../helpers/fixtures.js'
import {type OracleTree, readTreeIndependently} from '../helpers/oracle.js'
import {startRollingNode} from '../helpers/rolling-node.js'
import {eventually} from '../helpers/wait.js'

interface HistoryJson {
  events: Array<{op: string; path: string; zxid: string}>
}

interface TimelineJson {
  gaps: unknown[]
  windows: Array<{fromZxid: string; toZxid: string}>
}

const digestOf = (tree: OracleTree): string => createHash('sha256').update(JSON.stringify(tree)).digest('hex')

describe('the incident drill: undo a deleteall from the archived transaction log', function () {
  this.timeout(300_000)
  let node: Ensemble
  let spare: Ensemble
  let dir: string
  let repo: string
  let session: ZkSession
  /** The state of /app just before the deleteall, read with the other client, and its digest. */
  let recorded: OracleTree
  let recordedDigest: string
  /** The node's last zxid before the deleteall (its first delete is the next), and a time between the two. */
  let beforeDelete: bigint
  let betweenTime: string
  let startTime: string
  /** After /app/state was written, before the changes elsewhere under /app that precede the delete. */
  let stateWritten: string

  const hostsOf = (ensemble: Ensemble) => ensemble.nodeConnectString(1)
  const nodeZxid = async () => BigInt(/^Zxid: (0x[0-9a-f]+)/m.exec(await node.srvr(1))![1])
  /** The node's zxid once it has not moved for 300 ms. */
  async function settledZxid(): Promise<bigint> {
    for (let last = await nodeZxid(); ;) {
      await sleep(300)
      const now = await nodeZxid()
      if (now === last) return now
      last = now
    }
  }

  const paths = () => {
    const [from] = node.nodes
    return ['--data-dir', from.dataDir, '--log-dir', from.dataLogDir, '--zk-config', from.configFile]
  }

  const archiver = (): SpawnedCli => spawnDcos(['zk', 'archive', repo, ...paths(), '--interval', '1s'])

  /** The last txn the repository's newest window holds (0 before its first base). */
  async function shippedTo(repository = repo): Promise<bigint> {
    const result = await dcos(['zk', 'timeline', repository, '--json'])
    if (result.code !== 0) return 0n
    const timeline = JSON.parse(result.stdout) as TimelineJson
    return BigInt(timeline.windows.at(-1)!.toZxid)
  }

  async function writeTree(root: string, count: number, label: string): Promise<void> {
    await session.create(root, Buffer.from(label), zkConstants.ZOO_PERSISTENT).catch(() => {})
    for (let index = 0; index < count; index++) {
      const parent = `${root}/p${index % 5}`
      if (index < 5) await session.create(parent, Buffer.from(`parent ${index}`), zkConstants.ZOO_PERSISTENT)
      await session.create(`${parent}/c${index}`, Buffer.from(`${label} ${index}`), zkConstants.ZOO_PERSISTENT)
    }
  }

  async function deleteAll(path: string): Promise<void> {
    for (const child of await session.getChildren(path)) await deleteAll(`${path}/${child}`)
    await session.delete(path)
  }

  before(async () => {
    ;[node, spare] = await Promise.all([startRollingNode(), Ensemble.start({dataLogDirs: true, nodes: 1})])
    dir = await tempDir('incident')
    repo = join(dir, 'repo')
    session = await ZkSession.connect({hosts: [hostsOf(node)]})
    startTime = new Date().toISOString()

    // 1. Archive the running node; 2. write and change a tree, the archiver killed and restarted half way.
    let running = archiver()
    await writeTree('/app', 150, 'first')
    await eventually(
      'a base and the writes after it shipped',
      async () => ((await shippedTo()) >= (await nodeZxid()) ? true : undefined),
      60_000,
    )
    await writeTree('/app/state', 150, 'state')
    await sleep(50)
    stateWritten = new Date().toISOString()
    running.child.kill('SIGKILL')
    await running.exited
    for (let index = 0; index < 40; index++)
      await session.setData(`/app/p${index % 5}`, Buffer.from(`changed ${index}`))
    running = archiver()

    recorded = await readTreeIndependently(hostsOf(node), '/app')
    recordedDigest = digestOf(recorded)
    // The other client's closeSession is a txn too, logged a moment after its close returns.
    beforeDelete = await settledZxid()
    await sleep(50)
    betweenTime = new Date().toISOString()
    await sleep(50)

    // 3. The mistake, then life goes on.
    await deleteAll('/app/state')
    await writeTree('/after', 100, 'after')
    const end = await nodeZxid()
    await eventually('everything shipped', async () => ((await shippedTo()) >= end ? true : undefined), 60_000)
    running.child.kill('SIGTERM')
    expect((await running.exited).code).to.equal(0)
  })

  after(async () => {
    session?.close()
    await Promise.all([node?.stop(), spare?.stop()])
    await removeDir(dir)
  })

  it('history names the deleteall: each delete under /app/state, the first one right after the recorded zxid', async () => {
    const history = JSON.parse(
      expectExit(await dcos(['zk', 'history', repo, '/app/state', '--since', startTime, '--json']), 0).stdout,
    ) as HistoryJson
    const deletes = history.events.filter((event) => event.op === 'delete')
    expect(deletes.length, 'every znode of /app/state deleted').to.equal(
      Object.keys(recorded).filter((path) => path === '/state' || path.startsWith('/state/')).length,
    )
    expect(BigInt(deletes[0].zxid)).to.equal(beforeDelete + 1n)
    expect(deletes.map((event) => event.path)).to.include('/app/state')
  })

  /** `zk restore <repo> <point…>` of /app online into `into`: the point it reached (--json) and the digest of what the other client reads there. */
  async function restoreOnline(point: string[], into: string): Promise<{digest: string; zxid: bigint}> {
    const {stdout} = expectExit(
      await dcos([
        'zk',
        'restore',
        repo,
        ...point,
        '--zk',
        zkUri(hostsOf(node), into),
        '--from',
        '/app',
        '--yes',
        '--json',
      ]),
      0,
    )
    const reached = JSON.parse(stdout) as {point: {zxid: string}}
    return {digest: digestOf(await readTreeIndependently(hostsOf(node), into)), zxid: BigInt(reached.point.zxid)}
  }

  it('restores the state before the delete by zxid, online into another path: the digest recorded before it', async () => {
    const restored = await restoreOnline(['--to-zxid', `0x${beforeDelete.toString(16)}`], '/restored-by-zxid')
    expect(restored).to.deep.equal({digest: recordedDigest, zxid: beforeDelete})
  })

  it('restores the state at a time between the last write and the delete, online: the same digest', async () => {
    const restored = await restoreOnline(['--to-time', betweenTime], '/restored-by-time')
    expect(restored).to.deep.equal({digest: recordedDigest, zxid: beforeDelete})
  })

  it('--before-change /app/state --since a time before the changes beside it finds the same point by itself', async () => {
    const restored = await restoreOnline(
      ['--before-change', '/app/state', '--since', stateWritten],
      '/restored-before-change',
    )
    expect(restored).to.deep.equal({digest: recordedDigest, zxid: beforeDelete})
  })

  it('restores it offline into a stopped node, which ZooKeeper itself then serves with the recorded digest', async () => {
    const [target] = spare.nodes
    await spare.stopNode(1)
    expectExit(
      await dcos([
        'zk',
        'restore',
        repo,
        '--to-zxid',
        `0x${beforeDelete.toString(16)}`,
        '--data-dir',
        target.dataDir,
        '--log-dir',
        target.dataLogDir,
        '--zk-config',
        target.configFile,
      ]),
      0,
    )
    await spare.startNode(1)
    await spare.waitServing()
    expect(digestOf(await readTreeIndependently(hostsOf(spare), '/app'))).to.equal(recordedDigest)
  })

  it('refuses a target before the oldest base, after the end, or inside a gap, naming the windows, with nothing touched', async () => {
    const gapped = join(dir, 'gapped')
    await cp(repo, gapped, {recursive: true})
    const segments = (await readdir(join(gapped, 'segments'))).filter((name) => name.endsWith('.seg')).sort()
    expect(segments.length, 'segments to make a gap of').to.be.greaterThan(2)
    const middle = segments[Math.floor(segments.length / 2)]
    await rm(join(gapped, 'segments', middle))
    await rm(join(gapped, 'segments', middle.replace(/\.seg$/, '.json')))
    const inGap = BigInt(`0x${middle.split('-')[1].replace(/\.seg$/, '')}`)
    const end = await shippedTo()
    const before = await readTreeIndependently(hostsOf(node), '/')

    for (const [repository, zxid] of [
      [repo, 1n],
      [repo, end + 1000n],
      [gapped, inGap],
    ] as const) {
      const result = await dcos([
        'zk',
        'restore',
        repository,
        '--to-zxid',
        `0x${zxid.toString(16)}`,
        '--zk',
        zkUri(hostsOf(node), '/refused'),
        '--yes',
      ])
      expectExit(result, 2)
      expect(result.stderr.trim().split('\n'), result.stderr).to.have.length(1)
      expect(result.stderr).to.match(/0x[0-9a-f]+/)
    }

    expect(await readTreeIndependently(hostsOf(node), '/')).to.deep.equal(before)
  })
})
