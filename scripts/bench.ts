/**
 * `npm run bench [-- --znodes 10000 --size 1024 --fanout 100 --runs 3 --out bench.json]`
 *
 * Starts its own ensemble, seeds a scheduler-shaped tree (parents with many children), and measures
 * in one run, as medians: the raw pipelined read that is the ceiling for a backup (data and ACL of
 * every znode, results thrown away), then the real CLI as child processes: `zk backup`, `zk inspect`
 * and `zk restore` into a fresh path. Rates are compared with the baseline of the same run, since
 * these machines are noisy. Figures are printed and written as JSON; nothing is asserted.
 */
import {execFile} from 'node:child_process'
import {existsSync} from 'node:fs'
import {mkdtemp, rm, stat, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {parseArgs, promisify} from 'node:util'

import {Pipeline} from '../src/engine/pipeline.js'
import {ZkSession} from '../src/zk/session.js'
import {Ensemble} from '../test/harness/ensemble.js'

const {values} = parseArgs({
  options: {
    fanout: {default: '100', type: 'string'},
    out: {type: 'string'},
    runs: {default: '3', type: 'string'},
    size: {default: '1024', type: 'string'},
    znodes: {default: '10000', type: 'string'},
  },
})
const znodes = Number(values.znodes)
const size = Number(values.size)
const fanout = Number(values.fanout)
const runs = Number(values.runs)

interface Figure {
  name: string
  seconds: number
  znodesPerSecond: number
  peakRssMiB?: number
}

const median = (numbers: number[]) => [...numbers].sort((a, b) => a - b)[Math.floor(numbers.length / 2)]

function treePaths(): string[] {
  const paths = ['/bench']
  for (let parent = 0; paths.length < znodes; parent++) {
    paths.push(`/bench/p-${parent}`)
    for (let child = 0; child < fanout - 1 && paths.length < znodes; child++) paths.push(`/bench/p-${parent}/c-${child}`)
  }

  return paths
}

async function seed(session: ZkSession, paths: string[]): Promise<void> {
  const pipeline = new Pipeline(256)
  for (const [index, path] of paths.entries()) {
    // Mixed sizes around --size: parents small, children from half to one and a half times it.
    const bytes = path.split('/').length === 4 ? Math.round(size * (0.5 + (index % 11) / 10)) : Math.round(size / 4)
    // eslint-disable-next-line no-await-in-loop
    await pipeline.add(() => session.create(path, Buffer.alloc(bytes, index % 251), 0))
  }

  await pipeline.drain()
}

async function rawRead(session: ZkSession, paths: string[]): Promise<number> {
  const started = performance.now()
  const pipeline = new Pipeline(256)
  for (const path of paths) {
    // eslint-disable-next-line no-await-in-loop
    await pipeline.add(() => Promise.all([session.getData(path), session.getAcl(path)]))
  }

  await pipeline.drain()
  return (performance.now() - started) / 1000
}

/**
 * Runs the real CLI; peak resident memory comes from GNU time when the machine has it. Asynchronously:
 * a blocked event loop would stop the bench's own session from pinging, and the server would expire it.
 */
async function cli(args: string[]): Promise<{seconds: number; peakRssMiB?: number}> {
  const timeBinary = existsSync('/usr/bin/time')
  const [command, commandArgs] = timeBinary ? ['/usr/bin/time', ['-f', 'peak-rss-kib=%M', process.execPath, 'bin/run.js', ...args]] : [process.execPath, ['bin/run.js', ...args]]
  const started = performance.now()
  const {stderr} = await promisify(execFile)(command, commandArgs, {encoding: 'utf8'})
  const seconds = (performance.now() - started) / 1000
  const rss = /peak-rss-kib=(\d+)/.exec(stderr)?.[1]
  return {peakRssMiB: rss === undefined ? undefined : Math.round(Number(rss) / 1024), seconds}
}

function figure(name: string, samples: Array<{seconds: number; peakRssMiB?: number}>): Figure {
  const seconds = median(samples.map((sample) => sample.seconds))
  const rss = samples.flatMap((sample) => (sample.peakRssMiB === undefined ? [] : [sample.peakRssMiB]))
  return {name, peakRssMiB: rss.length > 0 ? Math.max(...rss) : undefined, seconds: Number(seconds.toFixed(3)), znodesPerSecond: Math.round(znodes / seconds)}
}

async function main(): Promise<void> {
  const ensemble = await Ensemble.start({nodes: 3})
  const work = await mkdtemp(join(tmpdir(), 'dcos-bench-'))
  try {
    const hosts = ensemble.connectString
    const session = await ZkSession.connect({hosts: hosts.split(',')})
    const paths = treePaths()
    await seed(session, paths)
    const raw: number[] = []
    const samples: Record<string, Array<{seconds: number; peakRssMiB?: number}>> = {backup: [], inspect: [], restore: []}
    for (let run = 0; run < runs; run++) {
      // eslint-disable-next-line no-await-in-loop
      raw.push(await rawRead(session, paths))
      const archive = join(work, `bench-${run}.tar.gz`)
      /* eslint-disable no-await-in-loop */
      samples.backup.push(await cli(['zk', 'backup', archive, '--zk', `${hosts}/bench`]))
      samples.inspect.push(await cli(['zk', 'inspect', archive]))
      samples.restore.push(await cli(['zk', 'restore', archive, '--zk', `${hosts}/restored-${run}`, '--yes', '--no-safety-backup']))
      /* eslint-enable no-await-in-loop */
    }

    session.close()
    const baseline = figure('raw pipelined read (getData + getACL)', raw.map((seconds) => ({seconds})))
    const figures = [baseline, figure('dcos zk backup', samples.backup), figure('dcos zk inspect', samples.inspect), figure('dcos zk restore', samples.restore)]
    const archiveBytes = (await stat(join(work, 'bench-0.tar.gz'))).size
    const report = {
      archiveBytes,
      backupToBaseline: Number((figures[1].znodesPerSecond / baseline.znodesPerSecond).toFixed(2)),
      figures,
      machine: {cpus: (await import('node:os')).cpus().length, node: process.version},
      options: {fanout, runs, size, znodes},
    }
    for (const {name, peakRssMiB, seconds, znodesPerSecond} of figures) {
      console.log(`${name.padEnd(40)} ${seconds.toFixed(2).padStart(7)} s  ${String(znodesPerSecond).padStart(7)} znodes/s${peakRssMiB === undefined ? '' : `  peak RSS ${peakRssMiB} MiB`}`)
    }

    console.log(`backup / raw read: ${report.backupToBaseline}; archive ${(archiveBytes / 1024).toFixed(0)} KiB for ${znodes} znodes`)
    if (values.out) await writeFile(values.out, `${JSON.stringify(report, null, 2)}\n`)
  } finally {
    await ensemble.stop()
    await rm(work, {force: true, recursive: true})
  }
}

await main()
