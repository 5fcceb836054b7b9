/**
 * `npx tsx scripts/bench-archive.ts [--znodes 300000 --size 200 --runs 3 --rate 500 --cpu-rate 1000
 *   --seconds 90 --interval 10s --snap-count 10000 --force-sync yes --out bench.json]`
 *
 * The hot and continuous paths (issue 16) on a running standalone 3.8 node (snapCount --snap-count,
 * so its recovery set is a snapshot and logs), under a steady write load (pipelined creates through
 * the project's wire client) running through every measurement:
 *   1. hot backup (scripts/bench/hot-copy.ts): `zk backup --data-dir` against `tar czf` of the same
 *      files, --runs times, at a third of --znodes and at --znodes (peak RSS at both: the copy's
 *      memory against the tree's size);
 *   2. RPO (scripts/bench/archiver.ts): `zk archive --interval` for --seconds at --rate writes/s,
 *      the time from each write's answer to its segment in storage, p50 and p99;
 *   3. the archiver's CPU (% of one core) and memory over the same kind of run at --cpu-rate.
 * Wall and CPU seconds (GNU time, /proc). Nothing is asserted.
 */
import {mkdtemp, rm, writeFile} from 'node:fs/promises'
import {loadavg, tmpdir} from 'node:os'
import {join} from 'node:path'
import {parseArgs} from 'node:util'

import {parseDuration} from '../src/cli/duration.js'
import {OPEN_ACL} from '../src/zk/session.js'
import {WireSession} from '../src/zk/wire/session.js'
import {Ensemble} from '../test/harness/ensemble.js'
import {type ArchiverFigures, measureArchiver} from './bench/archiver.js'
import {hotCopies, type HotCopyFigures, type HotNode} from './bench/hot-copy.js'
import {snapshotAfter} from './bench/snapshots.js'
import {SteadyWriter} from './bench/steady-writer.js'
import {dataFill, seedTree, type TreeSpec} from './bench/tree.js'

const {values} = parseArgs({
  options: {
    'cpu-rate': {default: '1000', type: 'string'},
    'force-sync': {default: 'yes', type: 'string'},
    interval: {default: '10s', type: 'string'},
    out: {type: 'string'},
    rate: {default: '500', type: 'string'},
    runs: {default: '3', type: 'string'},
    seconds: {default: '90', type: 'string'},
    size: {default: '200', type: 'string'},
    'snap-count': {default: '10000', type: 'string'},
    znodes: {default: '300000', type: 'string'},
  },
})
const MiB = 2 ** 20
const mib = (bytes: number) => (bytes / MiB).toFixed(1)

function treeSpec(count: number, size: number): TreeSpec {
  return {count, data: dataFill('text', Math.round(size * 1.5)), fanout: 100, size}
}

async function seed(wire: WireSession, root: string, spec: TreeSpec, dataDir: string): Promise<void> {
  const started = performance.now()
  await seedTree(wire, root, spec)
  console.error(`seeded ${spec.count} znodes under ${root} in ${((performance.now() - started) / 1000).toFixed(1)} s`)
  await snapshotAfter(dataDir, wire.lastZxidSeen)
}

function hotLines(figures: HotCopyFigures[]): string[] {
  const seconds = ({max, median, min}: {max: number; median: number; min: number}) =>
    `${min.toFixed(2)} | ${median.toFixed(2)} | ${max.toFixed(2)}`
  const rows = figures.flatMap(({ours, tar, znodes}) => [
    `| ${znodes.toLocaleString('en-US')} | dcos zk backup --data-dir (hot) | ${ours.runs} | ${seconds(ours.seconds)} | ${ours.cpuSeconds.median.toFixed(2)} | ${ours.peakRssMiB ?? ''} MiB | ${ours.archiveMiB} |`,
    `| ${znodes.toLocaleString('en-US')} | tar czf of the same files | ${tar.runs} | ${seconds(tar.seconds)} | ${tar.cpuSeconds.median.toFixed(2)} | ${tar.peakRssMiB ?? ''} MiB | ${tar.archiveMiB} |`,
  ])
  return [
    '| znodes | step | runs | min s | median s | max s | CPU s (median) | peak RSS | archive MiB |',
    '|---|---|---|---|---|---|---|---|---|',
    ...rows,
    '',
    ...figures.map(
      ({ours, ratio, tar, znodes}) =>
        `at ${znodes.toLocaleString('en-US')} znodes: tar / ours ${ratio.wall} (wall, medians), ${ratio.cpu} (CPU); ` +
        `ours copied a ${mib(ours.recoverySet.snapshotBytes)} MiB snapshot and ${ours.recoverySet.logs} log(s) cut to ${mib(ours.recoverySet.logBytes)} MiB ` +
        `and replayed ${ours.recoverySet.txnsReplayed} txns; tar read ${mib(tar.inputBytes)} MiB (the logs whole, their preallocated zero tail included)`,
    ),
  ]
}

function archiverLines(figures: ArchiverFigures[]): string[] {
  const rows = figures.map(
    (one) =>
      `| ${one.targetPerSecond} | ${one.reachedPerSecond}${one.reachedPerSecond < one.targetPerSecond * 0.95 ? ' (not reached)' : ''} | ${one.intervalSeconds} s | ${one.windowSeconds} | ${one.rpo.p50} | ${one.rpo.p99} | ${one.rpo.max} | ${one.stepSeconds} | ${one.cpuPercent} % | ${one.memory.peakRssMiB} MiB | ${one.memory.rssMiB} MiB |`,
  )
  return [
    '| writes/s asked | reached | --interval | window s | RPO p50 s | RPO p99 s | RPO max s | step s (median) | archiver CPU (% of a core) | peak RSS (VmHWM) | RSS at the end |',
    '|---|---|---|---|---|---|---|---|---|---|---|',
    ...rows,
    '',
    ...figures.map(
      (one) =>
        `at ${one.targetPerSecond} writes/s: the base took ${one.base.seconds} s (the start, the base and the first step ${one.base.cpuSeconds} s CPU, before the window; the peak RSS is the base's replay), ${one.rpo.writes} writes in the window, ${one.failedWrites} failed`,
    ),
  ]
}

async function main(): Promise<void> {
  const znodes = Number(values.znodes)
  const size = Number(values.size)
  const runs = Number(values.runs)
  const loadAtStart = loadavg()
  const ensemble = await Ensemble.start({
    config: {forceSync: values['force-sync'], snapCount: values['snap-count']},
    jvmFlags: ['-Xmx2g'],
    nodes: 1,
    version: '3.8',
  })
  const work = await mkdtemp(join(tmpdir(), 'dcos-bench-archive-'))
  const hosts = ensemble.connectString.split(',')
  const [seeding, loading] = await Promise.all([WireSession.connect({hosts}), WireSession.connect({hosts})])
  try {
    const [{configFile, dataDir}] = ensemble.nodes
    const node: HotNode = {configFile, dataDir}
    const third = Math.max(2, Math.round(znodes / 3))
    await seeding.create('/bench-archive', Buffer.alloc(0), OPEN_ACL)
    const load = new SteadyWriter(loading, '/bench-archive/hot-load', Number(values.rate), Buffer.alloc(128, 'w'))
    await load.start()
    await seed(seeding, '/bench-archive/tree-0', treeSpec(third, size), dataDir)
    const hot = [await hotCopies(node, third, runs, work)]
    await seed(seeding, '/bench-archive/tree-1', treeSpec(znodes - third, size), dataDir)
    hot.push(await hotCopies(node, znodes, runs, work))
    await load.stop()

    const archiver: ArchiverFigures[] = []
    for (const perSecond of [Number(values.rate), Number(values['cpu-rate'])]) {
      const figures = await measureArchiver({
        intervalMs: parseDuration(values.interval, 'interval'),
        node,
        perSecond,
        repository: join(work, `repository-${perSecond}`),
        root: `/bench-archive/load-${perSecond}`,
        seconds: Number(values.seconds),
        wire: loading,
      })
      console.error(`archiver at ${perSecond} writes/s: ${JSON.stringify(figures)}`)
      archiver.push(figures)
    }

    const loadAtEnd = loadavg()
    const report = {
      archiver,
      hot,
      loadAverage: {atEnd: loadAtEnd, atStart: loadAtStart},
      parameters: {...values, znodes},
    }
    const lines = [
      `a standalone ZooKeeper 3.8 node (snapCount ${values['snap-count']}, forceSync=${values['force-sync']}, -Xmx2g), a tree of ${third.toLocaleString('en-US')} then ${znodes.toLocaleString('en-US')} znodes of ~${size} B of text, ` +
        `${values.rate} creates/s of 128 B running through the hot copies; load average ${loadAtStart.map((one) => one.toFixed(2)).join(' ')} at the start, ${loadAtEnd.map((one) => one.toFixed(2)).join(' ')} at the end`,
      '',
      ...hotLines(hot),
      '',
      ...archiverLines(archiver),
    ]
    console.log(lines.join('\n'))
    if (values.out) await writeFile(values.out, `${JSON.stringify(report, null, 2)}\n`)
  } finally {
    await Promise.all([seeding.close(), loading.close()])
    await ensemble.stop()
    await rm(work, {force: true, recursive: true})
  }
}

await main()
