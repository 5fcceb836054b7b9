/**
 * `npx tsx scripts/bench-admin.ts [--znodes 100000 --size 330 --fanout 100 --runs 3 --nodes 3 --out bench-admin.json --baseline DIR]`
 *
 * Starts its own ZooKeeper 3.9 ensemble with the AdminServer on, seeds a scheduler-shaped tree and
 * reports min / median / max seconds of:
 *   1. the bare snapshot stream: GET /commands/snapshot?streaming=true, bytes counted and dropped;
 *   2. `dcos zk backup --admin-url …` of the whole tree (the real CLI, a child process);
 *   3. `dcos zk backup` of the same tree through the client API (multi-read batches);
 * and the ratio client / admin of the medians; with GNU time installed, the CPU seconds of each CLI
 * run too (the machine may be shared: CPU time is the steadier). With --baseline, a built checkout of
 * another commit (its bin/ and dist/) runs both backups too, in the same runs, against the same tree:
 * compare builds that way, not across runs. Nothing is asserted. Build first (`npm run build`).
 */
import {execFile} from 'node:child_process'
import {existsSync} from 'node:fs'
import {mkdtemp, rm, writeFile} from 'node:fs/promises'
import * as http from 'node:http'
import {cpus, tmpdir} from 'node:os'
import {join, resolve} from 'node:path'
import {parseArgs, promisify} from 'node:util'

import {Pipeline} from '../src/engine/pipeline.js'
import {ZkSession} from '../src/zk/session.js'
import {adminUrl, Ensemble} from '../test/harness/ensemble.js'
import {type Spread, spread} from './bench/figures.js'

const {values} = parseArgs({
  options: {
    baseline: {type: 'string'},
    fanout: {default: '100', type: 'string'},
    nodes: {default: '3', type: 'string'},
    out: {type: 'string'},
    runs: {default: '3', type: 'string'},
    size: {default: '330', type: 'string'},
    znodes: {default: '100000', type: 'string'},
  },
})
const znodes = Number(values.znodes)
const size = Number(values.size)
const fanout = Number(values.fanout)
const runs = Number(values.runs)
// Default / ACL (world ALL): any digest credentials pass the snapshot command's check.
const AUTH = 'bench:bench'
const ROOT = '/bench'
const PIPELINE_DEPTH = 256

const elapsed = (started: number) => (performance.now() - started) / 1000
const round = (seconds: number) => Number(seconds.toFixed(3))

function stats(samples: number[]): Spread {
  const {max, median, min} = spread(samples)
  return {max: round(max), median: round(median), min: round(min)}
}

async function seed(session: ZkSession): Promise<number> {
  const pipeline = new Pipeline(PIPELINE_DEPTH)
  await session.create(ROOT, Buffer.alloc(0), 0)
  let count = 1
  let bytes = 0
  for (let parent = 0; count < znodes; parent++) {
    const parentPath = `${ROOT}/app-${parent}`

    await pipeline.add(() => session.create(parentPath, Buffer.alloc(Math.round(size / 4), 1), 0))
    count++
    for (let child = 0; child < fanout - 1 && count < znodes; child++, count++) {
      const length = Math.round(size * (0.5 + (child % 11) / 10))
      bytes += length

      await pipeline.add(() => session.create(`${parentPath}/v-${child}`, Buffer.alloc(length, child % 251), 0))
    }
  }

  await pipeline.drain()
  return bytes
}

/** One GET of the snapshot, the body read and dropped; its size. */
function bareStream(url: string): Promise<{bytes: number; seconds: number}> {
  const started = performance.now()
  return new Promise((resolve, reject) => {
    http
      .get(`${url}/commands/snapshot?streaming=true`, {headers: {authorization: `digest ${AUTH}`}}, (response) => {
        if (response.statusCode !== 200) reject(new Error(`snapshot: HTTP ${response.statusCode}`))
        let bytes = 0
        response.on('data', (chunk: Buffer) => (bytes += chunk.length))
        response.on('end', () => resolve({bytes, seconds: elapsed(started)}))
        response.on('error', reject)
      })
      .on('error', reject)
  })
}

/** GNU time, when installed: the CLI's CPU seconds (user + system, its threads included), steadier than wall time on a shared machine. */
const GNU_TIME = '/usr/bin/time'
const CPU_LINE = /^cpu (\d+(?:\.\d+)?) (\d+(?:\.\d+)?)$/m

async function cli(
  args: string[],
  cwd = process.cwd(),
): Promise<{adminSnapshot?: {digest: string; reread: number}; cpuSeconds: number; readPath: string; seconds: number}> {
  const started = performance.now()
  const timed = existsSync(GNU_TIME)
  const command = [process.execPath, 'bin/run.js', ...args, '--json']
  const [file, ...rest] = timed ? [GNU_TIME, '-f', 'cpu %U %S', ...command] : command
  const {stderr, stdout} = await promisify(execFile)(file, rest, {
    cwd,
    encoding: 'utf8',
    env: {...process.env, DCOS_ZK_AUTH: AUTH},
    maxBuffer: 64 * 1024 * 1024,
  })
  const seconds = elapsed(started)
  const cpu = CPU_LINE.exec(stderr)
  const {adminSnapshot, readPath} = JSON.parse(stdout) as {
    adminSnapshot?: {digest: string; reread: number}
    readPath: string
  }
  return {adminSnapshot, cpuSeconds: cpu ? Number(cpu[1]) + Number(cpu[2]) : Number.NaN, readPath, seconds}
}

async function main(): Promise<void> {
  const ensemble = await Ensemble.start({
    adminServer: true,
    jvmFlags: ['-Xmx1g'],
    nodes: Number(values.nodes),
    version: '3.9',
  })
  const work = await mkdtemp(join(tmpdir(), 'dcos-bench-admin-'))
  const session = await ZkSession.connect({hosts: ensemble.connectString.split(',')})
  try {
    const dataBytes = await seed(session)
    const url = adminUrl(ensemble.nodes[0])
    const zk = `zk://${ensemble.connectString}/`
    const builds = [
      {dir: process.cwd(), name: 'this build'},
      ...(values.baseline ? [{dir: resolve(values.baseline), name: 'baseline'}] : []),
    ]
    const samples = builds.map(() => ({
      admin: [] as number[],
      adminCpu: [] as number[],
      client: [] as number[],
      clientCpu: [] as number[],
    }))
    const streams: number[] = []
    let snapshotBytes = 0
    for (let run = 0; run < runs; run++) {
      const stream = await bareStream(url)
      streams.push(stream.seconds)
      snapshotBytes = stream.bytes
      // Each run starts with another build: the first one's snapshot follows the bare stream's at once.
      for (const index of builds.map((_, at) => (at + run) % builds.length)) {
        const build = builds[index]
        const tag = `${index}-${run}`

        const admin = await cli(
          ['zk', 'backup', join(work, `admin-${tag}.tar.gz`), '--zk', zk, '--admin-url', url, '--read-path', 'admin'],
          build.dir,
        )
        if (admin.readPath !== 'admin-snapshot')
          throw new Error(`the admin run of ${build.name} read through ${admin.readPath}`)

        const client = await cli(
          ['zk', 'backup', join(work, `client-${tag}.tar.gz`), '--zk', zk, '--read-path', 'client'],
          build.dir,
        )
        samples[index].admin.push(admin.seconds)
        samples[index].adminCpu.push(admin.cpuSeconds)
        samples[index].client.push(client.seconds)
        samples[index].clientCpu.push(client.cpuSeconds)
        console.error(
          `run ${run + 1}, ${build.name}: stream ${round(stream.seconds)}s, admin ${round(admin.seconds)}s ${round(admin.cpuSeconds)} CPU-s (digest ${admin.adminSnapshot?.digest}, ${admin.adminSnapshot?.reread} re-read), client ${round(client.seconds)}s ${round(client.cpuSeconds)} CPU-s`,
        )
      }
    }

    const figures = samples.map((taken) => {
      const [admin, adminCpu, client, clientCpu] = [
        stats(taken.admin),
        stats(taken.adminCpu),
        stats(taken.client),
        stats(taken.clientCpu),
      ]
      const ratio = (a: Spread, b: Spread) => Number((a.median / b.median).toFixed(2))
      return {
        admin,
        adminCpu,
        client,
        clientCpu,
        clientOverAdmin: ratio(client, admin),
        clientOverAdminCpu: ratio(clientCpu, adminCpu),
      }
    })
    const report = {
      ...figures[0],
      ...(figures[1] ? {baseline: {dir: builds[1].dir, ...figures[1]}} : {}),
      machine: {cpus: cpus().length, node: process.version},
      options: {fanout, nodes: Number(values.nodes), runs, size, znodes},
      snapshotBytes,
      stream: stats(streams),
      treeDataBytes: dataBytes,
    }
    const line = (name: string, figure: Spread, unit = 's') =>
      `${name.padEnd(34)} min ${figure.min}${unit}  median ${figure.median}${unit}  max ${figure.max}${unit}`
    console.log(`${znodes} znodes, ${(snapshotBytes / 1e6).toFixed(1)} MB snapshot, ${runs} runs`)
    console.log(line('bare snapshot stream', report.stream))
    for (const [index, figure] of figures.entries()) {
      if (builds.length > 1) console.log(`${builds[index].name} (${builds[index].dir}):`)
      console.log(line('dcos zk backup --admin-url', figure.admin))
      console.log(line('dcos zk backup (client API)', figure.client))
      console.log(line('  CPU of --admin-url (GNU time)', figure.adminCpu, ' CPU-s'))
      console.log(line('  CPU of the client API backup', figure.clientCpu, ' CPU-s'))
      console.log(
        `client / admin (medians): ${figure.clientOverAdmin}x wall, ${figure.clientOverAdminCpu}x CPU (target >= 5x)`,
      )
    }

    if (values.out) await writeFile(values.out, `${JSON.stringify(report, null, 2)}\n`)
  } finally {
    await session.close()
    await ensemble.stop()
    await rm(work, {force: true, recursive: true})
  }
}

await main()
