/**
 * Point-in-time restore from an archive repository, against a running standalone 3.8 node whose
 * logs roll often (small snapCount): a base, a tree written and archived, its zxid Z1 and the tree
 * as the independent oracle reads it, then a recursive delete and more writes, archived too.
 * Restoring to Z1 (or to a time between Z1's txn and the delete) must give back the recorded tree;
 * targets no window covers are refused with nothing touched. The tests share one repository.
 */
import {expect} from 'chai'
import {createHash} from 'node:crypto'
import {cp, readdir, readFile, rm, writeFile} from 'node:fs/promises'
import {join} from 'node:path'

import {zkConstants, ZkSession} from '../../../src/zk/session.js'
import {Ensemble} from '../../harness/ensemble.js'
import {dcos, expectExit, expectUsageError} from '../../helpers/cli.js'
import {removeDir, tempDir} from '../../helpers/fixtures.js'
import {oracleDiff, type OracleTree, readTreeIndependently} from '../../helpers/oracle.js'
import {startRollingNode} from '../../helpers/rolling-node.js'

interface SegmentName {
  file: string
  from: bigint
  to: bigint
}

describe('dcos zk restore and inspect to a point in time, from an archive repository', function () {
  this.timeout(180_000)
  let node: Ensemble
  let hosts: string
  let dir: string
  let repo: string
  let session: ZkSession
  let baseZxid: bigint
  let z1: bigint
  let betweenTime: string
  let lastZxid: bigint
  let atZ1: OracleTree
  let atEnd: OracleTree

  const archiveOnce = async (...extra: string[]) => {
    const [from] = node.nodes
    const args = ['--data-dir', from.dataDir, '--log-dir', from.dataLogDir, '--zk-config', from.configFile]
    expectExit(await dcos(['zk', 'archive', repo, ...args, '--once', ...extra]), 0)
  }

  const nodeZxid = async () => BigInt(/^Zxid: (0x[0-9a-f]+)/m.exec(await node.srvr(1))![1])
  const hex = (zxid: bigint) => `0x${zxid.toString(16)}`
  const create = (path: string, data: string) => session.create(path, Buffer.from(data), zkConstants.ZOO_PERSISTENT)

  async function deleteRecursively(path: string): Promise<void> {
    for (const child of await session.getChildren(path)) await deleteRecursively(`${path}/${child}`)
    await session.delete(path)
  }

  async function segmentFiles(root: string): Promise<SegmentName[]> {
    return (await readdir(join(root, 'segments')))
      .filter((name) => name.endsWith('.seg'))
      .map((file) => {
        const [from, to] = file.replace(/\.seg$/, '').split('-')
        return {file, from: BigInt(`0x${from}`), to: BigInt(`0x${to}`)}
      })
      .sort((a, b) => (a.from < b.from ? -1 : 1))
  }

  /** Makes the segment holding the txn after `zxid` start at or before it: joined with the one before when it starts right after. */
  async function straddle(root: string, zxid: bigint): Promise<void> {
    const segments = await segmentFiles(root)
    const next = segments.findIndex((segment) => segment.from <= zxid + 1n && zxid + 1n <= segment.to)
    if (segments[next].from <= zxid) return
    const [first, second] = [segments[next - 1], segments[next]]
    const path = (segment: SegmentName, ext: string) => join(root, 'segments', segment.file.replace(/\.seg$/, ext))
    const sidecars = await Promise.all(
      [first, second].map(async (segment) => JSON.parse(await readFile(path(segment, '.json'), 'utf8'))),
    )
    const body = Buffer.concat([
      await readFile(path(first, '.seg')),
      (await readFile(path(second, '.seg'))).subarray(16),
    ])
    const joined = {
      ...sidecars[0],
      bytes: body.length,
      count: sidecars[0].count + sidecars[1].count,
      sha256: createHash('sha256').update(body).digest('hex'),
      toTime: sidecars[1].toTime,
      toZxid: sidecars[1].toZxid,
    }
    const name = `${first.file.split('-')[0]}-${second.file.split('-')[1].replace(/\.seg$/, '')}`
    for (const segment of [first, second]) for (const ext of ['.seg', '.json']) await rm(path(segment, ext))
    await writeFile(join(root, 'segments', `${name}.json`), JSON.stringify(joined))
    await writeFile(join(root, 'segments', `${name}.seg`), body)
  }

  before(async () => {
    node = await startRollingNode()
    hosts = node.nodeConnectString(1)
    dir = await tempDir('pitr')
    repo = join(dir, 'repo')
    session = await ZkSession.connect({hosts: [hosts]})
    await create('/app', 'root')
    await archiveOnce()
    baseZxid = await nodeZxid()

    // Tree A: enough writes that several logs roll (a segment each), changes among them.
    for (let group = 0; group < 10; group++) {
      await create(`/app/g${group}`, `group ${group}`)
      for (let item = 0; item < 25; item++) await create(`/app/g${group}/i${item}`, `item ${group}.${item}`)
    }

    for (let group = 0; group < 10; group += 3) await session.setData(`/app/g${group}`, Buffer.from('changed'))
    await session.delete('/app/g9/i0')
    await create('/app/last', 'the last write before the mistake')
    z1 = await nodeZxid()
    atZ1 = await readTreeIndependently(hosts, '/app')
    betweenTime = new Date((await session.exists('/app/last'))!.mtime.getTime() + 1).toISOString()
    await new Promise((resolve) => {
      setTimeout(resolve, 50)
    })
    await archiveOnce()

    // The mistake, then writes after it.
    await deleteRecursively('/app/g2')
    await deleteRecursively('/app/g5')
    await session.setData('/app', Buffer.from('after the mistake'))
    for (let item = 0; item < 40; item++) await create(`/app/after-${item}`, 'after')
    await archiveOnce()
    // A scheduled base taken while writes go on: the segment after it starts before its last txn.
    const writes = {count: 0, going: true}
    const writer = (async () => {
      while (writes.going) await create(`/app/during-${writes.count++}`, 'during the base')
    })()
    await archiveOnce('--base-every', '1')
    writes.going = false
    await writer
    await archiveOnce()
    lastZxid = await nodeZxid()
    atEnd = await readTreeIndependently(hosts, '/app')
    expect((await segmentFiles(repo)).length, 'several segments').to.be.greaterThan(3)
  })

  after(async () => {
    await session?.close()
    await node?.stop()
    await removeDir(dir)
  })

  async function restoreInto(path: string, ...target: string[]) {
    const result = expectExit(
      await dcos([
        'zk',
        'restore',
        repo,
        ...target,
        '--zk',
        `zk://${hosts}${path}`,
        '--from',
        '/app',
        '--yes',
        '--safety-backup',
        join(dir, `safety-${path.slice(1)}.tar.gz`),
        '--json',
      ]),
      0,
    )
    return JSON.parse(result.stdout)
  }

  it('--to-zxid Z1 restores the tree as it stood after Z1 into another path (the oracle reads the recorded tree)', async () => {
    const result = await restoreInto('/restored-zxid', '--to-zxid', hex(z1))
    expect(result.point).to.include({inclusive: true, zxid: hex(z1)})
    expect(result.point.segments.length).to.be.greaterThan(0)
    expect(oracleDiff(atZ1, await readTreeIndependently(hosts, '/restored-zxid'))).to.deep.equal([])
    expect(Object.keys(atZ1)).to.include.members(['/g2', '/g5/i3', '/last'])
  })

  it('--to-time between Z1 and the delete restores the same tree; --exclusive of the txn after Z1 is the same point', async () => {
    const byTime = await restoreInto('/restored-time', '--to-time', betweenTime)
    expect(byTime.point.zxid, 'the last txn at or before the time').to.equal(hex(z1))
    expect(oracleDiff(atZ1, await readTreeIndependently(hosts, '/restored-time'))).to.deep.equal([])
    const exclusive = await restoreInto('/restored-time', '--to-zxid', hex(z1 + 1n), '--exclusive', '--dry-run')
    expect(exclusive.point).to.include({inclusive: false, zxid: hex(z1)})
    expect(exclusive.plan).to.include({change: 0, create: 0, delete: 0})
  })

  it('zk inspect <repo> --at Z1 --json --tree shows the recorded tree', async () => {
    const result = JSON.parse(
      expectExit(await dcos(['zk', 'inspect', repo, '--at', hex(z1), '--tree', '/app', '--json']), 0).stdout,
    )
    expect(result.state.zxid).to.equal(hex(z1))
    expect(result.point.zxid).to.equal(hex(z1))
    const decimal = JSON.parse(
      expectExit(await dcos(['zk', 'inspect', repo, '--at', z1.toString(), '--json']), 0).stdout,
    )
    expect(decimal.state.zxid, '--at in decimal').to.equal(hex(z1))
    const shown = Object.fromEntries(
      (result.tree as Array<{dataLength: number; path: string}>).map((entry) => [entry.path, entry.dataLength]),
    )
    const recorded = Object.fromEntries(
      Object.entries(atZ1).map(([path, znode]) => [
        path === '/' ? '/app' : `/app${path}`,
        Buffer.from(znode.data, 'base64').length,
      ]),
    )
    expect(shown).to.deep.equal(recorded)
  })

  it('the last shipped txn, through a scheduled base whose first segment starts before it, is the tree at the end', async () => {
    const records = await Promise.all(
      (await readdir(join(repo, 'bases')))
        .filter((name) => name.endsWith('.json'))
        .map(async (name) => JSON.parse(await readFile(join(repo, 'bases', name), 'utf8'))),
    )
    const scheduled = records.find((record) => record.reason === 'scheduled')
    expect(BigInt(scheduled.zxid) > BigInt(scheduled.continues), 'the base was taken while writes went on').to.equal(
      true,
    )
    // The window's first segment holds txns the base holds too whenever a log spans the base's zxid;
    // when the logs happened to roll right there, two segments are joined into one that does.
    const overlapping = join(dir, 'overlapping')
    await cp(repo, overlapping, {recursive: true})
    await straddle(overlapping, BigInt(scheduled.zxid))
    const result = JSON.parse(
      expectExit(await dcos(['zk', 'inspect', overlapping, '--at', hex(lastZxid), '--tree', '/app', '--json']), 0)
        .stdout,
    )
    expect(result.point).to.include({base: `bases/${scheduled.archive}`, zxid: hex(lastZxid)})
    const firstFrom = BigInt(`0x${/segments\/([0-9a-f]{16})-/.exec(result.point.segments[0])![1]}`)
    expect(firstFrom <= BigInt(scheduled.zxid), 'its first segment starts inside the base').to.equal(true)
    expect(result.state.notes).to.deep.equal([])
    const shown = (result.tree as Array<{path: string}>).map((entry) => entry.path).sort()
    const recorded = Object.keys(atEnd)
      .map((path) => (path === '/' ? '/app' : `/app${path}`))
      .sort()
    expect(shown).to.deep.equal(recorded)
  })

  describe('refusals: nothing touched, the restorable windows printed', () => {
    const refused = '/refused'
    const refuse = async (location: string, target: string[], message: RegExp) => {
      const line = expectUsageError(
        await dcos(['zk', 'restore', location, ...target, '--zk', `zk://${hosts}${refused}`, '--yes']),
        message,
      )
      expect(await session.exists(refused), 'nothing was written').to.equal(undefined)
      return line
    }

    it('a target before the oldest base, after the last shipped txn, or a bad --to-time', async () => {
      const windows = new RegExp(`restorable windows: ${hex(baseZxid)} \\(\\S+\\)\\.\\.${hex(lastZxid)} \\(\\S+\\), 0x`)
      expect(
        await refuse(repo, ['--to-zxid', hex(baseZxid - 1n)], /before the oldest base's consistent point/),
      ).to.match(windows)
      expect(await refuse(repo, ['--to-zxid', hex(lastZxid + 1n)], /after the last shipped transaction/)).to.match(
        windows,
      )
      await refuse(repo, ['--to-time', new Date(Date.now() + 3_600_000).toISOString()], /after the last shipped/)
      await refuse(repo, ['--to-time', 'yesterday'], /^Error: Invalid --to-time "yesterday": use an ISO 8601 time/)
      await refuse(repo, ['--to-time', '2026-12-01T14:02:59'], /Invalid --to-time/)
      await refuse(repo, [], /is an archive repository .*: give --to-zxid or --to-time/)
    })

    it('a segment that does not match its SHA-256: exit 1 before anything is touched', async () => {
      const damaged = join(dir, 'damaged')
      await cp(repo, damaged, {recursive: true})
      const holding = (await segmentFiles(damaged)).find((segment) => segment.from <= z1 && z1 <= segment.to)!
      const file = join(damaged, 'segments', holding.file)
      const bytes = await readFile(file)
      bytes[bytes.length - 2] ^= 0xff
      await writeFile(file, bytes)
      const result = expectExit(
        await dcos(['zk', 'restore', damaged, '--to-zxid', hex(z1), '--zk', `zk://${hosts}${refused}`, '--yes']),
        1,
      )
      expect(result.stderr).to.match(new RegExp(`^Error: \\S+${holding.file} does not match its sidecar \\(SHA-256 `))
      expect(await session.exists(refused), 'nothing was written').to.equal(undefined)
    })

    it('a target inside a gap (a middle segment removed by hand)', async () => {
      const holed = join(dir, 'holed')
      await cp(repo, holed, {recursive: true})
      const segments = await segmentFiles(holed)
      const middle = segments[Math.floor(segments.length / 2)]
      await rm(join(holed, 'segments', middle.file))
      await rm(join(holed, 'segments', middle.file.replace(/\.seg$/, '.json')))
      const line = await refuse(holed, ['--to-zxid', hex((middle.from + middle.to) / 2n)], /inside a gap/)
      expect(line).to.match(
        new RegExp(`restorable windows: ${hex(baseZxid)} \\(\\S+\\)\\.\\.${hex(middle.from - 1n)} `),
      )
    })
  })
})
