import assert from 'node:assert/strict'
import {spawn} from 'node:child_process'
import * as fs from 'node:fs'
import * as os from 'node:os'
import {join} from 'node:path'

import {zkConstants, ZkSession} from '../../src/zk/session.js'
import {Ensemble} from './ensemble.js'
import {sharedEnsemble} from './hooks.js'

type Client = ZkSession

function connect(connectString: string): Promise<Client> {
  return ZkSession.connect({connectTimeoutMs: 15_000, hosts: connectString.split(','), sessionTimeoutMs: 5000})
}

function create(client: Client, path: string, data: Buffer): Promise<string> {
  return client.create(path, data)
}

function createTtl(client: Client, path: string, data: Buffer, ttlMs: number): Promise<string> {
  return client.create(path, data, zkConstants.ZOO_PERSISTENT_WITH_TTL, ttlMs)
}

function get(client: Client, path: string): Promise<{data: Buffer}> {
  return client.getData(path)
}

/** Wait until the client's server has applied everything committed so far. */
function sync(client: Client, path: string): Promise<void> {
  return client.sync(path)
}

const modeOf = (srvr: string): string | undefined => /^Mode: (\S+)/m.exec(srvr)?.[1]

describe('test harness: ZooKeeper ensemble', function () {
  this.timeout(60_000)

  const clients: Client[] = []
  const open = async (connectString: string): Promise<Client> => {
    const client = await connect(connectString)
    clients.push(client)
    return client
  }

  afterEach(() => {
    for (const client of clients.splice(0)) client.close()
  })

  describe('shared ensemble', () => {
    it('is started once and reused', async () => {
      const [a, b] = await Promise.all([sharedEnsemble(), sharedEnsemble()])
      assert.equal(a, b)
      assert.equal(await sharedEnsemble(), a)
      assert.equal(a.nodes.length, 3)
      assert.match(a.connectString, /^127\.0\.0\.1:\d+,127\.0\.0\.1:\d+,127\.0\.0\.1:\d+$/)
      const modes = await Promise.all(a.nodes.map(async (n) => modeOf(await a.srvr(n.id))))
      assert.deepEqual([...modes].sort(), ['follower', 'follower', 'leader'])
    })

    it('replicates a znode written through node 1 to node 3', async () => {
      const ensemble = await sharedEnsemble()
      const [n1, , n3] = ensemble.nodes
      const writer = await open(`127.0.0.1:${n1.clientPort}`)
      const reader = await open(`127.0.0.1:${n3.clientPort}`)
      const path = `/harness-replication-${process.pid}-${Date.now()}`
      await create(writer, path, Buffer.from('hello from node 1'))
      await sync(reader, path)
      const {data} = await get(reader, path)
      assert.equal(data.toString(), 'hello from node 1')
    })

    it('has TTL nodes enabled (zookeeper.extendedTypesEnabled)', async () => {
      const ensemble = await sharedEnsemble()
      const client = await open(ensemble.connectString)
      const path = `/harness-ttl-${process.pid}-${Date.now()}`
      assert.equal(await createTtl(client, path, Buffer.from('ttl'), 60_000), path)
      const {data} = await get(client, path)
      assert.equal(data.toString(), 'ttl')
    })

    it('writes each node log to <node dir>/zookeeper.log', async () => {
      const ensemble = await sharedEnsemble()
      for (const node of ensemble.nodes) {
        const log = fs.readFileSync(ensemble.logFile(node.id), 'utf8')
        assert.match(log, /QuorumPeer|ZooKeeperServer/)
        assert.equal(fs.readFileSync(`${node.dataDir}/myid`, 'utf8').trim(), String(node.id))
      }
    })
  })

  describe('own ensemble: failures and restarts', () => {
    let ensemble: Ensemble | undefined

    before(async () => {
      ensemble = await Ensemble.start({nodes: 3, dataLogDirs: true})
    })

    after(async () => {
      const dir = ensemble?.dir
      await ensemble?.stop()
      if (dir) assert.equal(fs.existsSync(dir), false)
    })

    it('uses separate dataLogDirs when asked', () => {
      for (const node of ensemble!.nodes) {
        assert.notEqual(node.dataLogDir, node.dataDir)
        assert.ok(fs.readFileSync(node.configFile, 'utf8').includes(`dataLogDir=${node.dataLogDir}\n`))
      }
    })

    it('keeps serving with one node down, stops serving without quorum, recovers on restart', async () => {
      const e = ensemble!
      const path = `/harness-failover-${Date.now()}`
      const first = await open(e.nodeConnectString(1))
      await create(first, path, Buffer.from('before'))
      first.close()
      clients.splice(clients.indexOf(first), 1)

      // One node down: the other two still form a quorum.
      await e.stopNode(1)
      assert.equal(e.nodes[0].running, false)
      assert.equal(e.nodes[0].pid, undefined)
      await e.waitServing([2, 3], 30_000)
      for (const id of [2, 3]) assert.match(modeOf(await e.srvr(id)) ?? '', /^(leader|follower)$/)

      // Two nodes down: the survivor must stop serving.
      await e.stopNode(2)
      let answer = ''
      const deadline = Date.now() + 20_000
      while (Date.now() < deadline) {
        answer = await e.srvr(3).catch((error: Error) => error.message)
        if (answer.includes('This ZooKeeper instance is not currently serving requests')) break
        await new Promise((r) => setTimeout(r, 200))
      }

      assert.match(answer, /This ZooKeeper instance is not currently serving requests/)

      // Restart both: quorum again, data still there.
      await e.startNode(1)
      await e.startNode(2)
      await e.waitServing(undefined, 30_000)
      const modes = await Promise.all([1, 2, 3].map(async (id) => modeOf(await e.srvr(id))))
      assert.deepEqual([...modes].sort(), ['follower', 'follower', 'leader'])

      const reader = await open(e.nodeConnectString(2))
      await sync(reader, path)
      assert.equal((await get(reader, path)).data.toString(), 'before')
    })

    it('killNode kills a node hard, startNode brings it back', async () => {
      const e = ensemble!
      const {pid} = e.nodes[2]
      assert.equal(typeof pid, 'number')
      await e.killNode(3)
      assert.equal(e.nodes[2].running, false)
      assert.throws(() => process.kill(pid!, 0))
      await e.startNode(3)
      assert.equal(e.nodes[2].running, true)
      assert.notEqual(e.nodes[2].pid, pid)
      assert.match(modeOf(await e.srvr(3)) ?? '', /^(leader|follower)$/)
    })
  })

  describe('process cleanup', () => {
    for (const how of ['exit', 'SIGTERM'] as const) {
      it(`kills the JVMs when the Node process ends (${how})`, async () => {
        const ensembleUrl = new URL('ensemble.ts', import.meta.url).href
        const code = `
          const { Ensemble } = await import(${JSON.stringify(ensembleUrl)});
          const e = await Ensemble.start({ nodes: 1 });
          console.log(JSON.stringify({ pid: e.nodes[0].pid, dir: e.dir }));
          ${how === 'exit' ? 'process.exit(0);' : 'setInterval(() => {}, 1000);'}
        `
        const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], {
          stdio: ['ignore', 'pipe', 'pipe'],
        })
        let stdout = ''
        let stderr = ''
        child.stdout.on('data', (d: Buffer) => (stdout += d.toString()))
        child.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
        const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
        const deadline = Date.now() + 30_000
        while (!stdout.includes('\n') && child.exitCode === null && Date.now() < deadline) {
          await new Promise((r) => setTimeout(r, 100))
        }

        if (how === 'SIGTERM') child.kill('SIGTERM')
        await exited
        const line = stdout.split('\n')[0]
        assert.ok(line, `child printed nothing; stderr:\n${stderr}`)
        const {pid, dir} = JSON.parse(line) as {dir: string; pid: number}
        fs.rmSync(dir, {recursive: true, force: true})
        // SIGKILL is asynchronous: give the kernel a moment. A zombie (reparented to an init
        // that does not reap, as in some containers) counts as dead.
        const isAlive = (): boolean => {
          try {
            process.kill(pid, 0)
          } catch {
            return false
          }

          try {
            return !/^\d+ \(.*\) Z/.test(fs.readFileSync(`/proc/${pid}/stat`, 'utf8'))
          } catch {
            return false
          }
        }

        let alive = isAlive()
        for (let i = 0; i < 50 && alive; i++) {
          await new Promise((r) => setTimeout(r, 100))
          alive = isAlive()
        }

        assert.equal(alive, false, `JVM ${pid} outlived its Node process`)
      })
    }
  })

  describe('standalone', () => {
    it('starts a single node as standalone and removes its temp dir on stop', async () => {
      const e = await Ensemble.start({nodes: 1, config: {maxClientCnxns: '10'}})
      try {
        assert.equal(modeOf(await e.srvr(1)), 'standalone')
        const cfg = fs.readFileSync(e.nodes[0].configFile, 'utf8')
        assert.match(cfg, /^maxClientCnxns=10$/m)
        assert.doesNotMatch(cfg, /^maxClientCnxns=0$/m)
        assert.doesNotMatch(cfg, /^server\./m)
      } finally {
        await e.stop()
      }

      assert.equal(fs.existsSync(e.dir), false)
      assert.equal(e.nodes[0].running, false)
    })
  })

  describe('other ZooKeeper lines (fetched from Debian on first use)', () => {
    for (const [version, release] of [
      ['3.4', '3.4.13'],
      ['3.9', '3.9.3'],
    ] as const) {
      it(`runs ${release} standalone and as a quorum when asked for ${version}`, async () => {
        for (const nodes of [1, 3]) {
          const e = await Ensemble.start({version, nodes})
          try {
            assert.equal(e.version, version)
            const answers = await Promise.all(e.nodes.map((n) => e.srvr(n.id)))
            for (const answer of answers)
              assert.match(answer, new RegExp(`^Zookeeper version: ${release.replaceAll('.', String.raw`\.`)}-`, 'm'))
            const modes = answers.map((answer) => modeOf(answer)).sort()
            assert.deepEqual(modes, nodes === 1 ? ['standalone'] : ['follower', 'follower', 'leader'])
            // A write through one node is read through another: the client protocol works.
            const writer = await open(e.nodeConnectString(1))
            const reader = await open(e.nodeConnectString(nodes))
            const znode = `/harness-${version}`
            await create(writer, znode, Buffer.from(`hello ${release}`))
            await sync(reader, znode)
            assert.equal((await get(reader, znode)).data.toString(), `hello ${release}`)
          } finally {
            for (const client of clients.splice(0)) client.close()
            await e.stop()
          }
        }
      })
    }

    it('fails with the command to run when a release is neither cached nor fetchable', async () => {
      const cache = fs.mkdtempSync(join(os.tmpdir(), 'zk-cache-'))
      const saved = {
        cache: process.env.DCOS_BACKUP_ZOOKEEPER_CACHE,
        mirror: process.env.DCOS_BACKUP_DEBIAN_MIRROR,
        retries: process.env.DCOS_BACKUP_APT_RETRIES,
      }
      process.env.DCOS_BACKUP_ZOOKEEPER_CACHE = cache
      process.env.DCOS_BACKUP_DEBIAN_MIRROR = 'http://127.0.0.1:9/debian'
      // Nothing listens there: apt's retries would only add their backoff (7 s) to the same failure.
      process.env.DCOS_BACKUP_APT_RETRIES = '0'
      try {
        await assert.rejects(Ensemble.start({version: '3.9', nodes: 1}), (err: Error) => {
          assert.match(
            err.message,
            /^ZooKeeper 3\.9\.3 is not in .* and fetching it failed \(E: Failed to fetch .+\): run "scripts\/fetch-zookeeper\.sh 3\.9"/,
          )
          assert.doesNotMatch(err.message, /\n/)
          return true
        })
        assert.deepEqual(
          fs.readdirSync(cache).filter((name) => name !== '.lock'),
          [],
          'a failed fetch leaves nothing behind',
        )
      } finally {
        for (const [name, value] of [
          ['DCOS_BACKUP_ZOOKEEPER_CACHE', saved.cache],
          ['DCOS_BACKUP_DEBIAN_MIRROR', saved.mirror],
          ['DCOS_BACKUP_APT_RETRIES', saved.retries],
        ] as const) {
          if (value === undefined) delete process.env[name]
          else process.env[name] = value
        }

        fs.rmSync(cache, {recursive: true, force: true})
      }
    })
  })
})
