/**
 * `npm run bench [-- --znodes 100000 --size 1024 --fanout 100 --runs 3 --memory 100000,400000 --out bench.json]`
 *
 * Starts its own 3-node ensemble, seeds a tree shaped like a scheduler's state (parents with many
 * children, mixed sizes) and measures in one run, as medians:
 *   1. raw read: the fastest pipelined walk the `zookeeper` library does (data and children of every
 *      znode, results thrown away): the ceiling for a backup;
 *   2. `dcos zk backup` of the tree to a file (the real CLI, a child process);
 *   3. `dcos zk inspect` verifying that archive;
 *   4. `dcos zk restore` of it into a fresh path;
 *   5. raw write: the fastest pipelined creation of the same znodes: the ceiling for a restore;
 *   6. raw multi-read: the same walk as 1 in multi-read batches over our own client (src/zk/wire),
 *      the batched ceiling for a backup;
 *   7. raw multi write: the same creates as 5 in multi transactions, the batched ceiling for a restore;
 *   8. raw multi-read + getACL: the walk of 6 plus the one getACL per znode that multi-read cannot
 *      batch, spread over a session on every node: the ceiling for a backup that keeps ACLs.
 * Ratios compare figures of the same run (these machines are noisy). Then the memory check: backup
 * and restore of trees of each --memory size, with their peak RSS. Nothing is asserted.
 */
import {execFile} from 'node:child_process'
import {existsSync} from 'node:fs'
import {mkdtemp, rm, stat, writeFile} from 'node:fs/promises'
import {cpus, tmpdir, totalmem} from 'node:os'
import {join} from 'node:path'
import {parseArgs, promisify} from 'node:util'

import {MultiWriter} from '../src/engine/multi-writer.js'
import {Pipeline} from '../src/engine/pipeline.js'
import {OPEN_ACL, ZkError, ZkSession} from '../src/zk/session.js'
import {joinZnodePath} from '../src/zk/uri.js'
import {Ensemble} from '../test/harness/ensemble.js'

const {values} = parseArgs({
  options: {
    fanout: {default: '100', type: 'string'},
    memory: {default: '100000,400000', type: 'string'},
    out: {type: 'string'},
    runs: {default: '3', type: 'string'},
    size: {default: '1024', type: 'string'},
    znodes: {default: '100000', type: 'string'},
  },
})
const size = Number(values.size)
const fanout = Number(values.fanout)
const runs = Number(values.runs)
const PIPELINE_DEPTH = 256
const MULTI_READ_PATHS = 100
const MULTI_READS_IN_FLIGHT = 4

interface Sample {
  seconds: number
  peakRssMiB?: number
}

interface Figure {
  name: string
  seconds: number
  znodesPerSecond: number
  mbPerSecond: number
  peakRssMiB?: number
}

const median = (numbers: number[]) => [...numbers].sort((a, b) => a - b)[Math.floor(numbers.length / 2)]
const elapsed = (started: number) => (performance.now() - started) / 1000

/** Paths and data sizes of a scheduler-shaped tree: parents of `fanout - 1` children, sizes around --size. */
function treeShape(root: string, count: number): Array<{path: string; bytes: number}> {
  const znodes = [{bytes: 0, path: root}]
  for (let parent = 0; znodes.length < count; parent++) {
    const parentPath = `${root}/app-${parent}`
    znodes.push({bytes: Math.round(size / 4), path: parentPath})
    for (let child = 0; child < fanout - 1 && znodes.length < count; child++) {
      znodes.push({bytes: Math.round(size * (0.5 + (child % 11) / 10)), path: `${parentPath}/v-${child}`})
    }
  }

  return znodes
}

/** Raw write: pipelined creates in parent-first order (the server applies a session's requests in order). */
async function rawWrite(session: ZkSession, root: string, count: number): Promise<{seconds: number; bytes: number}> {
  const started = performance.now()
  const pipeline = new Pipeline(PIPELINE_DEPTH)
  let bytes = 0
  for (const [index, {bytes: length, path}] of treeShape(root, count).entries()) {
    bytes += length
    // eslint-disable-next-line no-await-in-loop
    await pipeline.add(() => session.create(path, Buffer.alloc(length, index % 251), 0))
  }

  await pipeline.drain()
  return {bytes, seconds: elapsed(started)}
}

/** Raw read: data and children of every znode, discovered as the walk goes, results thrown away. */
async function rawRead(session: ZkSession, root: string): Promise<number> {
  const started = performance.now()
  const pipeline = new Pipeline(PIPELINE_DEPTH)
  const pending = [root]
  while (pending.length > 0) {
    const path = pending.pop()!
    // eslint-disable-next-line no-await-in-loop
    await pipeline.add(async () => {
      const [, children] = await Promise.all([session.getData(path), session.getChildren(path)])
      for (const child of children) pending.push(joinZnodePath(path, child))
    })
    // eslint-disable-next-line no-await-in-loop
    if (pending.length === 0) await pipeline.drain()
  }

  return elapsed(started)
}

/**
 * Raw multi-read: the walk of rawRead in multi-read batches (getData + getChildren of 100 paths), 4
 * in flight; with `aclSessions`, each path's ACL too, pipelined over those sessions in turn.
 */
async function rawMultiRead(wire: ZkSession, root: string, aclSessions: ZkSession[] = []): Promise<number> {
  const started = performance.now()
  const pipeline = new Pipeline(MULTI_READS_IN_FLIGHT)
  const pending = [root]
  let aclReads = 0
  while (pending.length > 0) {
    const paths = pending.splice(-MULTI_READ_PATHS)
    // eslint-disable-next-line no-await-in-loop
    await pipeline.add(async () => {
      const acls = aclSessions.length === 0 ? [] : paths.map((path) => aclSessions[aclReads++ % aclSessions.length].getAcl(path))
      const [results] = await Promise.all([
        wire.multiRead(paths.flatMap((path) => [{kind: 'getData' as const, path}, {kind: 'getChildren' as const, path}])),
        Promise.all(acls),
      ])
      for (const [index, result] of results.entries()) {
        if (result instanceof ZkError) throw result
        if (result.kind === 'getChildren') for (const child of result.children) pending.push(joinZnodePath(paths[index >> 1], child))
      }
    })
    // eslint-disable-next-line no-await-in-loop
    if (pending.length === 0) await pipeline.drain()
  }

  return elapsed(started)
}

/** Raw multi write: the creates of rawWrite in multi transactions under jute.maxbuffer, several in flight. */
async function rawMultiWrite(wire: ZkSession, root: string, count: number): Promise<number> {
  const started = performance.now()
  const writer = new MultiWriter(wire)
  for (const [index, {bytes: length, path}] of treeShape(root, count).entries()) {
    // eslint-disable-next-line no-await-in-loop
    await writer.add({acl: OPEN_ACL, data: Buffer.alloc(length, index % 251), kind: 'create', path}, () => {})
  }

  await writer.drain()
  return elapsed(started)
}

async function deleteTree(session: ZkSession, root: string, count: number): Promise<void> {
  const pipeline = new Pipeline(PIPELINE_DEPTH)
  for (const {path} of treeShape(root, count).reverse()) {
    // eslint-disable-next-line no-await-in-loop
    await pipeline.add(() => session.delete(path))
  }

  await pipeline.drain()
}

/**
 * The real CLI, asynchronously (a blocked event loop would stop this process's session from pinging
 * and the server would expire it). Peak RSS comes from GNU time where the machine has it.
 */
async function cli(args: string[]): Promise<Sample> {
  const timed = existsSync('/usr/bin/time')
  const [command, commandArgs] = timed ? ['/usr/bin/time', ['-f', 'peak-rss-kib=%M', process.execPath, 'bin/run.js', ...args]] : [process.execPath, ['bin/run.js', ...args]]
  const started = performance.now()
  const {stderr} = await promisify(execFile)(command, commandArgs, {encoding: 'utf8', maxBuffer: 64 * 1024 * 1024})
  const rss = /peak-rss-kib=(\d+)/.exec(stderr)?.[1]
  return {peakRssMiB: rss === undefined ? undefined : Math.round(Number(rss) / 1024), seconds: elapsed(started)}
}

function figure(name: string, samples: Sample[], znodes: number, bytes: number): Figure {
  const seconds = median(samples.map((sample) => sample.seconds))
  const rss = samples.flatMap((sample) => (sample.peakRssMiB === undefined ? [] : [sample.peakRssMiB]))
  return {
    mbPerSecond: Number((bytes / 1e6 / seconds).toFixed(2)),
    name,
    peakRssMiB: rss.length > 0 ? Math.max(...rss) : undefined,
    seconds: Number(seconds.toFixed(3)),
    znodesPerSecond: Math.round(znodes / seconds),
  }
}

async function speed(session: ZkSession, wire: ZkSession, aclSessions: ZkSession[], hosts: string, work: string, znodes: number) {
  const samples: Record<'backup' | 'inspect' | 'multiRead' | 'multiReadWithAcls' | 'multiWrite' | 'read' | 'restore' | 'write', Sample[]> = {
    backup: [],
    inspect: [],
    multiRead: [],
    multiReadWithAcls: [],
    multiWrite: [],
    read: [],
    restore: [],
    write: [],
  }
  let bytes = 0
  let archiveBytes = 0
  /* eslint-disable no-await-in-loop */
  for (let run = 0; run < runs; run++) {
    const written = await rawWrite(session, `/write-${run}`, znodes)
    samples.write.push({seconds: written.seconds})
    bytes = written.bytes
    if (run === 0) await rawWrite(session, '/bench', znodes)
    samples.read.push({seconds: await rawRead(session, '/bench')})
    samples.multiRead.push({seconds: await rawMultiRead(wire, '/bench')})
    samples.multiReadWithAcls.push({seconds: await rawMultiRead(wire, '/bench', aclSessions)})
    samples.multiWrite.push({seconds: await rawMultiWrite(wire, `/multi-write-${run}`, znodes)})
    const archive = join(work, `bench-${run}.tar.gz`)
    samples.backup.push(await cli(['zk', 'backup', archive, '--zk', `${hosts}/bench`]))
    archiveBytes = (await stat(archive)).size
    samples.inspect.push(await cli(['zk', 'inspect', archive]))
    samples.restore.push(await cli(['zk', 'restore', archive, '--zk', `${hosts}/restored-${run}`, '--yes', '--no-safety-backup']))
    await deleteTree(session, `/write-${run}`, znodes)
    await deleteTree(session, `/multi-write-${run}`, znodes)
    await deleteTree(session, `/restored-${run}`, znodes)
    await rm(archive)
  }
  /* eslint-enable no-await-in-loop */

  await deleteTree(session, '/bench', znodes)
  // In the order of the module comment: ceilings, backup, inspect, restore, ceilings.
  const figures = {
    read: figure('raw read (getData + getChildren, pipelined)', samples.read, znodes, bytes),
    multiRead: figure('raw multi-read (100 paths a batch)', samples.multiRead, znodes, bytes),
    multiReadWithAcls: figure('raw multi-read + getACL (a session per node)', samples.multiReadWithAcls, znodes, bytes),
    backup: figure('dcos zk backup', samples.backup, znodes, bytes),
    inspect: figure('dcos zk inspect', samples.inspect, znodes, bytes),
    restore: figure('dcos zk restore (fresh path)', samples.restore, znodes, bytes),
    write: figure('raw write (create, pipelined)', samples.write, znodes, bytes),
    multiWrite: figure('raw multi write (multi of creates)', samples.multiWrite, znodes, bytes),
  }
  const ratio = (a: Figure, b: Figure) => Number((a.znodesPerSecond / b.znodesPerSecond).toFixed(2))
  return {
    archiveBytes,
    backupToRawMultiRead: ratio(figures.backup, figures.multiRead),
    backupToRawMultiReadWithAcls: ratio(figures.backup, figures.multiReadWithAcls),
    backupToRawRead: ratio(figures.backup, figures.read),
    dataBytes: bytes,
    figures,
    restoreToRawMultiWrite: ratio(figures.restore, figures.multiWrite),
    restoreToRawWrite: ratio(figures.restore, figures.write),
  }
}

/** Backup and restore of trees of each size, once each: peak memory must not grow with the tree. */
async function memory(session: ZkSession, hosts: string, work: string, sizes: number[]) {
  const results = []
  for (const znodes of sizes) {
    /* eslint-disable no-await-in-loop */
    await rawWrite(session, '/memory', znodes)
    const archive = join(work, `memory-${znodes}.tar.gz`)
    const backup = await cli(['zk', 'backup', archive, '--zk', `${hosts}/memory`])
    const restore = await cli(['zk', 'restore', archive, '--zk', `${hosts}/memory-restored`, '--yes', '--no-safety-backup'])
    results.push({backupPeakRssMiB: backup.peakRssMiB, backupSeconds: Number(backup.seconds.toFixed(1)), restorePeakRssMiB: restore.peakRssMiB, restoreSeconds: Number(restore.seconds.toFixed(1)), znodes})
    await deleteTree(session, '/memory', znodes)
    await deleteTree(session, '/memory-restored', znodes)
    await rm(archive)
    /* eslint-enable no-await-in-loop */
  }

  return results
}

function print(report: Awaited<ReturnType<typeof speed>> & {znodes: number}, memoryResults: Awaited<ReturnType<typeof memory>>): void {
  console.log(`\n${report.znodes} znodes, ${(report.dataBytes / 1e6).toFixed(1)} MB of data, medians of ${runs} runs`)
  for (const {mbPerSecond, name, peakRssMiB, seconds, znodesPerSecond} of Object.values(report.figures)) {
    console.log(`${name.padEnd(46)} ${seconds.toFixed(2).padStart(8)} s ${String(znodesPerSecond).padStart(8)} znodes/s ${mbPerSecond.toFixed(2).padStart(7)} MB/s${peakRssMiB === undefined ? '' : `  peak RSS ${peakRssMiB} MiB`}`)
  }

  console.log(`backup / raw read ${report.backupToRawRead}, backup / raw multi-read ${report.backupToRawMultiRead}, backup / raw multi-read + getACL ${report.backupToRawMultiReadWithAcls}`)
  console.log(`restore / raw write ${report.restoreToRawWrite}, restore / raw multi write ${report.restoreToRawMultiWrite}, archive ${(report.archiveBytes / 1e6).toFixed(1)} MB`)
  for (const result of memoryResults) {
    console.log(`memory at ${result.znodes} znodes: backup ${result.backupPeakRssMiB ?? '?'} MiB (${result.backupSeconds} s), restore ${result.restorePeakRssMiB ?? '?'} MiB (${result.restoreSeconds} s)`)
  }
}

async function main(): Promise<void> {
  const znodes = Number(values.znodes)
  const memorySizes = values.memory === '' ? [] : values.memory.split(',').map(Number)
  // The harness's small test heap would stall the servers in garbage collection on trees of 100k+ znodes.
  const ensemble = await Ensemble.start({jvmFlags: ['-Xmx2g'], nodes: 3})
  const work = await mkdtemp(join(tmpdir(), 'dcos-bench-'))
  const session = await ZkSession.connect({hosts: ensemble.connectString.split(',')})
  const hosts = ensemble.connectString.split(',')
  const wire = await ZkSession.connect({hosts})
  const aclSessions = await Promise.all(hosts.map((host) => ZkSession.connect({hosts, preferredHost: host})))
  try {
    const report = {...(await speed(session, wire, aclSessions, ensemble.connectString, work, znodes)), znodes}
    const memoryResults = await memory(session, ensemble.connectString, work, memorySizes)
    print(report, memoryResults)
    const machine = {cpus: cpus().length, cpuModel: cpus()[0]?.model, memoryGiB: Math.round(totalmem() / 2 ** 30), node: process.version}
    const options = {fanout, memory: memorySizes, runs, size, znodes}
    if (values.out) await writeFile(values.out, `${JSON.stringify({machine, memory: memoryResults, options, ...report}, null, 2)}\n`)
  } finally {
    await Promise.all([wire, ...aclSessions].map((one) => one.close()))
    await session.close()
    await ensemble.stop()
    await rm(work, {force: true, recursive: true})
  }
}

await main()
