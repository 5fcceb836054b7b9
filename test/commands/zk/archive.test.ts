/**
 * Continuous archiving against a running standalone 3.8 node whose logs roll often (small
 * snapCount): `zk archive --once`, the archiver SIGKILLed and restarted while writes go on, a gap
 * made by purging unshipped logs, and `zk timeline`. Segments are checked with ZooKeeper's own
 * TxnLogToolkit (a segment is a log file) and against the node's `srvr` zxid. The tests share one
 * repository and run in order: each continues what the previous one archived.
 */
import {expect} from 'chai'
import {copyFile, mkdir, readdir, readFile} from 'node:fs/promises'
import {join} from 'node:path'

import type {Ensemble} from '../../harness/ensemble.js'

import {zkConstants, ZkSession} from '../../../src/zk/session.js'
import {runZookeeperTool} from '../../harness/zookeeper-releases.js'
import {dcos, expectExit, spawnDcos} from '../../helpers/cli.js'
import {removeDir, tempDir} from '../../helpers/fixtures.js'
import {startRollingNode} from '../../helpers/rolling-node.js'
import {eventually} from '../../helpers/wait.js'

interface SegmentSidecar {
  after: string
  count: number
  fromZxid: string
  sha256: string
  toZxid: string
}

describe('dcos zk archive and dcos zk timeline', function () {
  this.timeout(180_000)
  let node: Ensemble
  let dir: string
  let repo: string
  let session: ZkSession
  let written = 0

  before(async () => {
    node = await startRollingNode()
    dir = await tempDir('archive')
    repo = join(dir, 'repo')
    session = await ZkSession.connect({hosts: [node.nodeConnectString(1)]})
    await session.create('/k', Buffer.alloc(0), zkConstants.ZOO_PERSISTENT)
  })

  after(async () => {
    session?.close()
    await node?.stop()
    await removeDir(dir)
  })

  const paths = () => {
    const [from] = node.nodes
    return ['--data-dir', from.dataDir, '--log-dir', from.dataLogDir, '--zk-config', from.configFile]
  }

  const nodeZxid = async () => BigInt(/^Zxid: (0x[0-9a-f]+)/m.exec(await node.srvr(1))![1])

  async function write(count: number): Promise<void> {
    for (const end = written + count; written < end; written++)
      await session.create(`/k/${written}`, Buffer.from(`v${written}`), zkConstants.ZOO_PERSISTENT)
  }

  async function sidecars(): Promise<SegmentSidecar[]> {
    const names = (await readdir(join(repo, 'segments')).catch(() => [] as string[])).filter((name) =>
      name.endsWith('.seg'),
    )
    return Promise.all(
      names.map(
        async (name) =>
          JSON.parse(await readFile(join(repo, 'segments', name.replace(/\.seg$/, '.json')), 'utf8')) as SegmentSidecar,
      ),
    )
  }

  /** Every txn of every segment ending after `after` as ZooKeeper's TxnLogToolkit reads it (each segment renamed log.<from>): zxid and line. */
  async function toolkitTxns(after = -1n): Promise<Array<{line: string; zxid: bigint}>> {
    const staging = join(dir, `toolkit-${Date.now()}`)
    await mkdir(staging)
    const txns: Array<{line: string; zxid: bigint}> = []
    for (const segment of (await sidecars()).filter((sidecar) => BigInt(sidecar.toZxid) > after)) {
      const from = BigInt(segment.fromZxid)
      const name = `${from.toString(16).padStart(16, '0')}-${BigInt(segment.toZxid).toString(16).padStart(16, '0')}.seg`
      const log = join(staging, `log.${from.toString(16)}`)
      await copyFile(join(repo, 'segments', name), log)
      const out = await runZookeeperTool('org.apache.zookeeper.server.persistence.TxnLogToolkit', [log])
      const lines = out.split('\n').filter((line) => / zxid 0x/.test(line))
      expect(lines.length, `${name}: txns the toolkit read`).to.equal(segment.count)
      for (const line of lines) txns.push({line, zxid: BigInt(/ zxid (0x[0-9a-f]+)/.exec(line)![1])})
    }

    return txns.sort((a, b) => (a.zxid < b.zxid ? -1 : a.zxid > b.zxid ? 1 : 0))
  }

  /** The zxids from..to in order, each once (one epoch: a standalone node that never restarts). */
  function expectContiguous(zxids: bigint[], from: bigint, to: bigint): void {
    const expected = Array.from({length: Number(to - from)}, (_, index) => from + 1n + BigInt(index))
    expect(zxids.map((zxid) => `0x${zxid.toString(16)}`)).to.deep.equal(
      expected.map((zxid) => `0x${zxid.toString(16)}`),
    )
  }

  /** zk timeline --json: exit 0, or 3 while the repository holds a gap. */
  async function readTimeline(exit = 0) {
    return JSON.parse(expectExit(await dcos(['zk', 'timeline', repo, '--json']), exit).stdout)
  }

  async function baseZxids(): Promise<bigint[]> {
    const names = (await readdir(join(repo, 'bases'))).filter((name) => name.endsWith('.json'))
    return names.map((name) => BigInt(`0x${name.replace(/\.json$/, '')}`))
  }

  it('--once takes a base first (no segment), then ships the writes since as segments contiguous up to the node zxid', async () => {
    await write(20)
    expectExit(await dcos(['zk', 'archive', repo, ...paths(), '--once']), 0)
    const [base] = await baseZxids()
    expect(base, 'the base is at the node zxid').to.equal(await nodeZxid())
    expect(await sidecars()).to.deep.equal([])

    const before = written
    await write(300)
    const result = expectExit(await dcos(['zk', 'archive', repo, ...paths(), '--once']), 0)
    const segments = await sidecars()
    expect(segments.length, 'several logs rolled, one segment each').to.be.greaterThan(1)
    const txns = await toolkitTxns()
    expectContiguous(
      txns.map((txn) => txn.zxid),
      base,
      await nodeZxid(),
    )
    const created = txns.flatMap((txn) => / create\b\W*\/k\/(\d+)/.exec(txn.line)?.[1] ?? [])
    expect(created.map(Number)).to.deep.equal(Array.from({length: written - before}, (_, index) => before + index))
    const events = result.stderr
      .split('\n')
      .filter(Boolean)
      .map((line) => JSON.parse(line))
    expect(events.at(-1)).to.include({event: 'sync', shippedTo: `0x${(await nodeZxid()).toString(16)}`})
  })

  it('SIGKILLed while writes go on and restarted: no gap and no duplicate, and SIGTERM ships the rest and exits 0', async () => {
    const args = ['zk', 'archive', repo, ...paths(), '--interval', '1s']
    const shippedBefore = (await sidecars()).length
    const first = spawnDcos(args)
    const writes = {going: true}
    const writer = (async () => {
      while (writes.going) await write(1)
    })()
    await eventually(
      'a segment from the first archiver',
      async () => ((await sidecars()).length > shippedBefore ? true : undefined),
      60_000,
    )
    first.child.kill('SIGKILL')
    expect((await first.exited).code).to.equal(null)
    const killedAt = (await sidecars()).length
    const second = spawnDcos(args)
    await eventually(
      'a segment from the restarted archiver',
      async () => ((await sidecars()).length > killedAt ? true : undefined),
      60_000,
    )
    writes.going = false
    await writer
    const last = await nodeZxid()
    await eventually(
      'every write shipped',
      async () => ((await sidecars()).some((segment) => BigInt(segment.toZxid) === last) ? true : undefined),
      60_000,
    )
    second.child.kill('SIGTERM')
    const exit = await second.exited
    expect(exit.code, exit.stderr).to.equal(0)
    const [base] = await baseZxids()
    expectContiguous(
      (await toolkitTxns()).map((txn) => txn.zxid),
      base,
      last,
    )
  })

  it('logs purged before they were shipped: a gap event, a new base, and the timeline shows two windows and the gap', async () => {
    const [from] = node.nodes
    const shippedTo = (await sidecars()).map((segment) => BigInt(segment.toZxid)).sort((a, b) => (a < b ? 1 : -1))[0]
    await write(600)
    await runZookeeperTool('org.apache.zookeeper.server.PurgeTxnLog', [from.dataLogDir, from.dataDir, '-n', '3'])
    const logStarts = (await readdir(join(from.dataLogDir, 'version-2')))
      .filter((name) => name.startsWith('log.'))
      .map((name) => BigInt(`0x${name.slice(4)}`))
    expect(
      logStarts.every((start) => start > shippedTo + 1n),
      'the purge removed unshipped txns',
    ).to.equal(true)

    // Done, but with a gap: exit 3, so that a timer's unit fails and is seen.
    const result = expectExit(await dcos(['zk', 'archive', repo, ...paths(), '--once']), 3)
    const gap = result.stderr
      .split('\n')
      .filter(Boolean)
      .map((line) => JSON.parse(line))
      .find((event) => event.event === 'gap')
    expect(gap).to.include({afterZxid: `0x${shippedTo.toString(16)}`})
    const bases = (await baseZxids()).sort((a, b) => (a < b ? -1 : 1))
    expect(bases.length).to.equal(2)
    expect(bases[1]).to.equal(await nodeZxid())

    const timeline = JSON.parse(expectExit(await dcos(['zk', 'timeline', repo, '--json']), 3).stdout)
    expect(
      timeline.windows.map((window: {fromZxid: string; toZxid: string}) => [window.fromZxid, window.toZxid]),
    ).to.deep.equal([
      [`0x${bases[0].toString(16)}`, `0x${shippedTo.toString(16)}`],
      [`0x${bases[1].toString(16)}`, `0x${bases[1].toString(16)}`],
    ])
    expect(timeline.gaps).to.have.length(1)
    expect(timeline.gaps[0]).to.include({
      afterZxid: `0x${shippedTo.toString(16)}`,
      beforeZxid: `0x${bases[1].toString(16)}`,
    })
    const table = expectExit(await dcos(['zk', 'timeline', repo]), 3).stdout
    expect(table).to.match(/^KIND\s+FROM ZXID/)
    expect(table.split('\n').filter((line) => line.startsWith('gap'))).to.have.length(1)
    expect(expectExit(await dcos(['zk', 'timeline', repo, '--allow-gaps']), 0).stdout).to.equal(table)
    // The running archiver goes on after a gap: the next step continues the new window, exit 0.
    await write(3)
    expectExit(await dcos(['zk', 'archive', repo, ...paths(), '--once']), 0)
  })

  it('--base-every while writes go on: a scheduled base, no new gap; the old window runs on and the new one starts at its base', async () => {
    const [, previousBase] = (await baseZxids()).sort((a, b) => (a < b ? -1 : 1))
    await write(10)
    const writes = {going: true}
    const writer = (async () => {
      while (writes.going) await write(1)
    })()
    expectExit(await dcos(['zk', 'archive', repo, ...paths(), '--once', '--base-every', '1']), 0)
    writes.going = false
    await writer
    expectExit(await dcos(['zk', 'archive', repo, ...paths(), '--once']), 0)
    const records = await Promise.all(
      (await baseZxids()).map(async (zxid) =>
        JSON.parse(await readFile(join(repo, 'bases', `${zxid.toString(16).padStart(16, '0')}.json`), 'utf8')),
      ),
    )
    const scheduled = records.filter((record) => record.reason === 'scheduled')
    expect(scheduled).to.have.length(1)
    expect(
      BigInt(scheduled[0].zxid) > BigInt(scheduled[0].continues),
      'writes went on between the last segment and the base',
    ).to.equal(true)
    const last = await nodeZxid()
    const timeline = JSON.parse(expectExit(await dcos(['zk', 'timeline', repo, '--json', '--allow-gaps']), 0).stdout)
    expect(timeline.gaps).to.have.length(1)
    expect(
      timeline.windows.map((window: {fromZxid: string; toZxid: string}) => [window.fromZxid, window.toZxid]).slice(1),
    ).to.deep.equal([
      [`0x${previousBase.toString(16)}`, `0x${last.toString(16)}`],
      [scheduled[0].zxid, `0x${last.toString(16)}`],
    ])
    const shipped = (await toolkitTxns(previousBase)).map((txn) => txn.zxid).filter((zxid) => zxid > previousBase)
    expectContiguous(shipped, previousBase, last)
  })

  it('--keep 1: the newest base and exactly the segments its window uses stay, the rest is deleted', async () => {
    const before = await readTimeline(3)
    const newest = before.windows.at(-1)
    await write(5)
    expectExit(await dcos(['zk', 'archive', repo, ...paths(), '--once', '--keep', '1']), 0)
    expect(await baseZxids()).to.deep.equal([BigInt(newest.fromZxid)])
    const archives = (await readdir(join(repo, 'bases'))).filter((name) => name.endsWith('.tar.gz'))
    expect(archives).to.have.length(1)
    const last = await nodeZxid()
    const after = await readTimeline()
    expect(after.gaps).to.deep.equal([])
    expect(
      after.windows.map((window: {fromZxid: string; toZxid: string}) => [window.fromZxid, window.toZxid]),
    ).to.deep.equal([[newest.fromZxid, `0x${last.toString(16)}`]])
    const segments = await sidecars()
    expect(segments.every((segment) => BigInt(segment.toZxid) > BigInt(newest.fromZxid))).to.equal(true)
    expectContiguous(
      (await toolkitTxns()).map((txn) => txn.zxid).filter((zxid) => zxid > BigInt(newest.fromZxid)),
      BigInt(newest.fromZxid),
      last,
    )
  })

  it('zk timeline of a location that holds no repository: one line naming it, exit 2', async () => {
    for (const location of [join(dir, 'missing'), join(dir, 'empty')]) {
      await mkdir(join(dir, 'empty'), {recursive: true})
      const result = expectExit(await dcos(['zk', 'timeline', location]), 2)
      expect(result.stderr.trim().split('\n')).to.have.length(1)
      expect(result.stderr).to.include(location).and.to.include('no archive base')
    }
  })
})
