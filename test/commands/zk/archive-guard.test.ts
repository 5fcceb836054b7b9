/**
 * What guards an archive repository (issue 16 part 2): the lease against two archivers, the node
 * identity check (another node's logs never extend a chain), the cleanup of a killed step's
 * leftovers, and the archiver against a real S3 (s3rver). One standalone 3.8 node; each test has
 * its own repository.
 */
import {GetObjectCommand, ListObjectsV2Command} from '@aws-sdk/client-s3'
import {expect} from 'chai'
import {spawnSync} from 'node:child_process'
import {readdir, readFile, stat, utimes, writeFile} from 'node:fs/promises'
import {hostname} from 'node:os'
import {join} from 'node:path'

import {type LogMark, readNodeLog} from '../../../src/engine/archive/node-logs.js'
import {zkConstants, ZkSession} from '../../../src/zk/session.js'
import {Ensemble} from '../../harness/ensemble.js'
import {type S3Server, startS3} from '../../harness/s3.js'
import {dcos, expectExit, spawnDcos} from '../../helpers/cli.js'
import {removeDir, tempDir} from '../../helpers/fixtures.js'
import {startRollingNode} from '../../helpers/rolling-node.js'
import {eventually} from '../../helpers/wait.js'

interface Lease {
  expiresAt: string
  holder: {host: string; id: string; pid: number}
}

/** The logs in the dataDir: the guards are run with --data-dir alone. */
const rollingNode = () => startRollingNode({dataLogDirs: false})

describe('dcos zk archive: the guards of a repository', function () {
  this.timeout(180_000)
  let node: Ensemble
  let dir: string
  let session: ZkSession
  let written = 0

  before(async () => {
    node = await rollingNode()
    dir = await tempDir('archive-guard')
    session = await ZkSession.connect({hosts: [node.nodeConnectString(1)]})
    await session.create('/k', Buffer.alloc(0), zkConstants.ZOO_PERSISTENT)
  })

  after(async () => {
    session?.close()
    await node?.stop()
    await removeDir(dir)
  })

  const paths = (ensemble = node) => [
    '--data-dir',
    ensemble.nodes[0].dataDir,
    '--zk-config',
    ensemble.nodes[0].configFile,
  ]

  async function write(count: number, on = session): Promise<void> {
    for (const end = written + count; written < end; written++)
      await on.create(`/k/${written}`, Buffer.from(`v${written}`), zkConstants.ZOO_PERSISTENT)
  }

  /** A base, then a segment of a few writes. */
  async function baseAndSegment(repo: string): Promise<void> {
    for (let step = 0; step < 2; step++) {
      await write(4)
      expectExit(await dcos(['zk', 'archive', repo, ...paths(), '--once']), 0)
    }
  }

  const events = (stderr: string) =>
    stderr
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as Record<string, unknown>)

  describe('the lease (lock.json)', () => {
    it('a running archiver holds it; a second refuses with one line naming the holder, exit 2; SIGTERM releases it', async () => {
      const repo = join(dir, 'lease')
      const lock = join(repo, 'lock.json')
      const running = spawnDcos(['zk', 'archive', repo, ...paths(), '--interval', '1s'])
      const lease = await eventually('the running archiver to hold the lease', async () =>
        (await exists(lock)) ? readLease(lock) : undefined,
      )
      expect(lease.holder).to.include({host: hostname(), pid: running.child.pid})

      const second = expectExit(await dcos(['zk', 'archive', repo, ...paths(), '--once']), 2)
      expect(second.stderr.trim().split('\n')).to.have.length(1)
      expect(second.stderr)
        .to.include('another archiver holds')
        .and.include(`pid ${running.child.pid}`)
        .and.include(`lease ${lease.holder.id}`)
      expect(second.stderr).to.match(/until \d{4}-\d\d-\d\dT/)

      running.child.kill('SIGTERM')
      const exit = await running.exited
      expect(exit.code, exit.stderr).to.equal(0)
      expect(await exists(lock), 'released on SIGTERM').to.equal(false)
      expectExit(await dcos(['zk', 'archive', repo, ...paths(), '--once']), 0)
      expect(await exists(lock), 'released after --once').to.equal(false)
    })

    it("another host's lease: refused while it runs, taken over (and logged) once it has expired", async () => {
      const repo = join(dir, 'lease')
      const lock = join(repo, 'lock.json')
      const other = (expiresAt: Date) => ({
        acquiredAt: new Date(Date.now() - 3_600_000).toISOString(),
        expiresAt: expiresAt.toISOString(),
        format: 'dcos-zk-archive',
        holder: {host: 'archiver-b.example', id: 'feedc0de', pid: 1},
        renewedAt: new Date(Date.now() - 60_000).toISOString(),
      })
      await writeFile(lock, JSON.stringify(other(new Date(Date.now() + 3_600_000))))
      const refused = expectExit(await dcos(['zk', 'archive', repo, ...paths(), '--once']), 2)
      expect(refused.stderr).to.include('host archiver-b.example, pid 1 (lease feedc0de)')
      expect(await readLease(lock)).to.deep.include({holder: other(new Date()).holder})

      await writeFile(lock, JSON.stringify(other(new Date(Date.now() - 1000))))
      await write(3)
      const taken = expectExit(await dcos(['zk', 'archive', repo, ...paths(), '--once']), 0)
      const takeover = events(taken.stderr).find((event) => event.event === 'lease-takeover')
      expect(takeover?.holder).to.deep.equal(other(new Date()).holder)
      expect(events(taken.stderr).filter((event) => event.event === 'segment')).to.have.length.greaterThan(0)
      expect(await exists(lock)).to.equal(false)
    })
  })

  describe('the node identity', () => {
    it("node B's logs, which hold the zxid node A's chain ends at with B's own txn, are a gap and a new base, never appended", async () => {
      const repo = join(dir, 'identity')
      await baseAndSegment(repo)
      const chainEnd = await zxidOf(node)
      expect((await sidecars(repo)).map((segment) => segment.toZxid)).to.include(hex(chainEnd))

      const other = await rollingNode()
      try {
        const onB = await ZkSession.connect({hosts: [other.nodeConnectString(1)]})
        await onB.create('/b', Buffer.alloc(0), zkConstants.ZOO_PERSISTENT)
        // Past A's counter, so that B's log holds a txn at the very zxid A's chain ends at.
        for (let index = 0; (await zxidOf(other)) <= chainEnd + 5n; index++)
          await onB.create(`/b/${index}`, Buffer.from('b'), zkConstants.ZOO_PERSISTENT)
        onB.close()

        const result = expectExit(await dcos(['zk', 'archive', repo, ...paths(other), '--once']), 3)
        const gap = events(result.stderr).find((event) => event.event === 'gap')
        expect(gap).to.include({afterZxid: hex(chainEnd)})
        expect(gap?.reason).to.include('another txn')
        const segments = await sidecars(repo)
        expect(
          segments.filter((segment) => segment.after === hex(chainEnd)),
          "no segment of B's continues A's chain",
        ).to.deep.equal([])
        const timeline = JSON.parse(expectExit(await dcos(['zk', 'timeline', repo, '--json']), 3).stdout)
        expect(timeline.windows).to.have.length(2)
        expect(timeline.windows[0].toZxid).to.equal(hex(chainEnd))
        expect(timeline.windows[1].fromZxid).to.equal(hex(await zxidOf(other)))
        expect(timeline.gaps).to.have.length(1)
      } finally {
        await other.stop()
      }
    })
  })

  describe("a killed step's leftovers", () => {
    it("a sidecar without its .seg, a base archive without its record and dead writers' temp files: removed at the next step, never counted", async () => {
      const repo = join(dir, 'leftovers')
      await baseAndSegment(repo)
      const end = await zxidOf(node)
      const archive = (await readdir(join(repo, 'bases'))).find((name) => name.endsWith('.tar.gz'))!
      const dead = spawnSync('true').pid
      const range = `${name16(end + 1n)}-${name16(end + 50n)}`
      const leftovers = {
        [`bases/.base-20260101T000000000Z-0a0b0c.tar.gz.tmp-${dead}-00112233aabb`]: 'half a base',
        'bases/base-20260101T000000000Z-0a0b0c.tar.gz': await readFile(join(repo, 'bases', archive)),
        [`segments/.${range}.seg.tmp-${dead}-00112233aabb`]: 'half a segment',
        [`segments/${range}.json`]: JSON.stringify({
          after: hex(end),
          count: 50,
          fromZxid: hex(end + 1n),
          toZxid: hex(end + 50n),
        }),
      }
      const killedAt = new Date(Date.now() - 120_000)
      for (const [name, body] of Object.entries(leftovers)) {
        await writeFile(join(repo, name), body)
        await utimes(join(repo, name), killedAt, killedAt)
      }

      // A live writer's temp file, and a sidecar too young to tell from another archiver's commit in progress.
      const live = `segments/.${range}.seg.tmp-${process.pid}-00112233aabb`
      const young = `segments/${name16(end + 60n)}-${name16(end + 61n)}.json`
      await writeFile(join(repo, live), 'a live writer')
      await writeFile(join(repo, young), JSON.stringify({after: hex(end + 59n)}))

      await write(3)
      const result = expectExit(await dcos(['zk', 'archive', repo, ...paths(), '--once']), 0)
      const removed = events(result.stderr).find((event) => event.event === 'leftovers-removed')
      expect(removed?.names).to.have.members(Object.keys(leftovers))
      for (const name of Object.keys(leftovers)) expect(await exists(join(repo, name)), name).to.equal(false)
      expect(await exists(join(repo, live)), "a live process's temp file stays").to.equal(true)
      expect(await exists(join(repo, young)), 'a sidecar under a minute old stays').to.equal(true)
      const timeline = JSON.parse(expectExit(await dcos(['zk', 'timeline', repo, '--json']), 0).stdout)
      expect(timeline.windows.map((window: {toZxid: string}) => window.toZxid)).to.deep.equal([hex(await zxidOf(node))])
      const chain = (await sidecars(repo)).sort((a, b) => (BigInt(a.fromZxid) < BigInt(b.fromZxid) ? -1 : 1))
      for (const [index, segment] of chain.entries())
        if (index > 0) expect(segment.after, 'contiguous').to.equal(chain[index - 1].toZxid)
    })
  })

  describe('the log marks of the running archiver', () => {
    it('an idle step reads on from the last whole entry read, not the whole log again; what it ships stays contiguous', async () => {
      const repo = join(dir, 'marks')
      const logs = join(node.nodes[0].dataDir, 'version-2')
      const newestLog = async () =>
        (await readdir(logs))
          .filter((name) => name.startsWith('log.'))
          .sort()
          .at(-1)
      // Over 3 x 64 KiB of entries in the log being appended: without a mark an idle step reads them all.
      for (let inLog = 0, log = await newestLog(); inLog < 24;) {
        await session.create(`/k/big-${written++}`, Buffer.alloc(8192, 1), zkConstants.ZOO_PERSISTENT)
        const now = await newestLog()
        inLog = now === log ? inLog + 1 : 0
        log = now
      }

      const running = spawnDcos(['zk', 'archive', repo, ...paths(), '--interval', '1s'])
      let stderr = ''
      running.child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()))
      const syncs = () => events(stderr).filter((event) => event.event === 'sync')
      await eventually('a first step', async () => (syncs().length > 0 ? true : undefined), 60_000)
      await write(3)
      const last = await zxidOf(node)
      await eventually(
        'the writes shipped, then an idle step',
        async () => {
          const all = syncs()
          const shipped = all.findIndex((event) => event.shippedTo === hex(last))
          return shipped !== -1 && all.length > shipped + 1 ? true : undefined
        },
        60_000,
      )
      running.child.kill('SIGTERM')
      expect((await running.exited).code).to.equal(0)
      const idle = syncs().filter((event) => event.segments === 0 && !event.newBase)
      expect(idle.length).to.be.greaterThan(0)
      for (const event of idle) expect(event.logBytesRead as number).to.be.at.most(64 * 1024 + 16)

      const chain = (await sidecars(repo)).sort((a, b) => (BigInt(a.fromZxid) < BigInt(b.fromZxid) ? -1 : 1))
      const base = (await readdir(join(repo, 'bases'))).find((name) => name.endsWith('.json'))!
      expect(chain.map((segment) => segment.after)).to.deep.equal([
        hex(BigInt(`0x${base.replace(/\.json$/, '')}`)),
        ...chain.slice(0, -1).map((segment) => segment.toZxid),
      ])
      expect(chain.at(-1)!.toZxid).to.equal(hex(last))
    })

    it('a log rewritten in place (same inode) under its mark: the mark is dropped and the log read whole again', async () => {
      const logs = join(node.nodes[0].dataDir, 'version-2')
      const logNames = async () => (await readdir(logs)).filter((name) => name.startsWith('log.')).sort()
      while ((await logNames()).length < 3) await write(10)
      const names = await logNames()
      const [older, newer] = await Promise.all(names.slice(-3, -1).map((name) => readFile(join(logs, name))))
      const copy = join(dir, 'log.rewritten')
      await writeFile(copy, older)
      const marks = new Map<string, LogMark>()
      const first = await readNodeLog(copy, 1n, {marks})
      expect(first!.entries.length).to.be.greaterThan(1)
      expect(marks.get(copy)?.lastZxid).to.equal(first!.entries.at(-1)!.zxid)
      await writeFile(copy, newer)
      const again = await readNodeLog(copy, 1n, {marks})
      const whole = await readNodeLog(copy, 1n)
      expect(again!.entries.map((entry) => entry.zxid)).to.deep.equal(whole!.entries.map((entry) => entry.zxid))
      expect(again!.entries.length).to.be.greaterThan(1)
    })
  })

  describe('on S3 (s3rver)', () => {
    let s3: S3Server

    before(async () => {
      s3 = await startS3()
    })

    after(async () => {
      await s3?.stop()
    })

    it('--once, writes, --once and zk timeline --json: one window, its segments contiguous up to the node zxid, no lease left', async () => {
      const repo = s3.uri('zk/archive')
      await write(5)
      expectExit(await dcos(['zk', 'archive', repo, ...paths(), '--once']), 0)
      const base = await zxidOf(node)
      await write(250)
      expectExit(await dcos(['zk', 'archive', repo, ...paths(), '--once']), 0)
      await write(5)
      expectExit(await dcos(['zk', 'archive', repo, ...paths(), '--once']), 0)
      const last = await zxidOf(node)

      const timeline = JSON.parse(expectExit(await dcos(['zk', 'timeline', repo, '--json']), 0).stdout)
      expect(timeline.gaps).to.deep.equal([])
      expect(
        timeline.windows.map((window: {fromZxid: string; toZxid: string}) => [window.fromZxid, window.toZxid]),
      ).to.deep.equal([[hex(base), hex(last)]])
      const keys = await listKeys(s3, 'zk/archive/')
      expect(keys).to.not.include('zk/archive/lock.json')
      const chain = await Promise.all(
        keys
          .filter((key) => key.endsWith('.seg'))
          .map(async (key) => JSON.parse(await getText(s3, key.replace(/\.seg$/, '.json'))) as SegmentSidecar),
      )
      chain.sort((a, b) => (BigInt(a.fromZxid) < BigInt(b.fromZxid) ? -1 : 1))
      expect(chain.length, 'the logs rolled: several segments').to.be.greaterThan(1)
      expect(chain.map((segment) => segment.after)).to.deep.equal([
        hex(base),
        ...chain.slice(0, -1).map((segment) => segment.toZxid),
      ])
      for (const segment of chain) expect(BigInt(segment.fromZxid)).to.equal(BigInt(segment.after) + 1n)
      expect(chain.at(-1)!.toZxid).to.equal(hex(last))
    })

    it('the lease on S3: held while an archiver runs, a second refused (exit 2), released on SIGTERM', async () => {
      const repo = s3.uri('zk/archive')
      const running = spawnDcos(['zk', 'archive', repo, ...paths(), '--interval', '1s'])
      const lease = await eventually('the lease on S3', async () =>
        (await listKeys(s3, 'zk/archive/lock.json')).length > 0
          ? (JSON.parse(await getText(s3, 'zk/archive/lock.json')) as Lease)
          : undefined,
      )
      expect(lease.holder.pid).to.equal(running.child.pid)
      const second = expectExit(await dcos(['zk', 'archive', repo, ...paths(), '--once']), 2)
      expect(second.stderr).to.include(`lease ${lease.holder.id}`)
      running.child.kill('SIGTERM')
      expect((await running.exited).code).to.equal(0)
      expect(await listKeys(s3, 'zk/archive/lock.json')).to.deep.equal([])
    })
  })
})

async function listKeys(s3: S3Server, prefix: string): Promise<string[]> {
  const {Contents = []} = await s3.client.send(new ListObjectsV2Command({Bucket: s3.bucket, Prefix: prefix}))
  return Contents.map((object) => object.Key!)
}

async function getText(s3: S3Server, key: string): Promise<string> {
  const {Body} = await s3.client.send(new GetObjectCommand({Bucket: s3.bucket, Key: key}))
  return Body!.transformToString()
}

const name16 = (zxid: bigint) => zxid.toString(16).padStart(16, '0')

const hex = (zxid: bigint) => `0x${zxid.toString(16)}`

const zxidOf = async (ensemble: Ensemble) => BigInt(/^Zxid: (0x[0-9a-f]+)/m.exec(await ensemble.srvr(1))![1])

interface SegmentSidecar {
  after: string
  fromZxid: string
  toZxid: string
}

/** The sidecars of the committed segments (those with their .seg). */
async function sidecars(repo: string): Promise<SegmentSidecar[]> {
  const names = await readdir(join(repo, 'segments')).catch(() => [] as string[])
  return Promise.all(
    names
      .filter((name) => name.endsWith('.seg'))
      .map(
        async (name) =>
          JSON.parse(await readFile(join(repo, 'segments', name.replace(/\.seg$/, '.json')), 'utf8')) as SegmentSidecar,
      ),
  )
}

async function readLease(path: string): Promise<Lease> {
  return JSON.parse(await readFile(path, 'utf8')) as Lease
}

const exists = (path: string) =>
  stat(path).then(
    () => true,
    () => false,
  )
