/**
 * `npx tsx scripts/bench-pitr.ts [--znodes 300000 --txns 100000 --online-znodes 300000 --size 200
 *   --runs 1 --snap-count 10000 --force-sync yes --out bench.json --keep DIR]`
 *
 * The point-in-time restore (issue 17) on a standalone 3.8 node (snapCount --snap-count):
 *   1. seeds --znodes znodes (--online-znodes of them under /pitr/a, the rest under /pitr/b);
 *      `zk archive --once` (the real CLI): the base; then --txns more transactions (creates and
 *      setData under /pitr/a, pipelined); `zk archive --once` again: the segments. Z is the last one's zxid;
 *   2. replay: `zk inspect <repository> --at Z` (the base and the segments replayed in memory, read
 *      only) against ZooKeeper's own load of the state at Z (a 3.8 node started on the offline
 *      restore's data directory: its `Snapshot loaded in … ms` line, snapshot and txn log replay;
 *      the time from its JVM's start to that line, which is how ours is timed; and to serving). Ours
 *      and ZooKeeper's alternate run by run, each step after the machine went quiet (≥ 90 % idle
 *      over a second), so both are measured under the same conditions;
 *   3. end to end: `zk restore --to-zxid Z` offline into a stopped node's fresh data and log
 *      directories, and online into /restored of the running node (--from / when --online-znodes is
 *      --znodes, else --from /pitr/a);
 * each with wall and CPU seconds and peak RSS (GNU time), the RSS against the size of the snapshot
 * ZooKeeper writes of the state at Z. Nothing is asserted.
 */
import {cp, readdir, readFile, rm, writeFile} from 'node:fs/promises'
import {loadavg} from 'node:os'
import {join} from 'node:path'
import {parseArgs} from 'node:util'

import {OPEN_ACL} from '../src/zk/session.js'
import {WireSession} from '../src/zk/wire/session.js'
import {compareZxid, hexZxid} from '../src/zk/zxid.js'
import {Ensemble} from '../test/harness/ensemble.js'
import {type TimedRun, timedRun} from './bench/cli.js'
import {waitForQuiet} from './bench/environment.js'
import {spread} from './bench/figures.js'
import {newestSnapshot, snapshotAfter} from './bench/snapshots.js'
import {dataFill, seedTree, treeShape, type TreeSpec} from './bench/tree.js'

const {values} = parseArgs({
  options: {
    'force-sync': {default: 'yes', type: 'string'},
    /** Copies the repository there before the ensembles go (to profile a step on it again). */
    keep: {type: 'string'},
    'online-znodes': {type: 'string'},
    out: {type: 'string'},
    runs: {default: '1', type: 'string'},
    size: {default: '200', type: 'string'},
    'snap-count': {default: '10000', type: 'string'},
    txns: {default: '100000', type: 'string'},
    znodes: {default: '300000', type: 'string'},
  },
})
const MiB = 2 ** 20
/** Writes in flight at once while the transactions after the base are made. */
const PIPELINE = 500
const mib = (bytes: number) => (bytes / MiB).toFixed(1)
const round = (value: number, digits = 2) => Number(value.toFixed(digits))

function treeSpec(count: number, size: number): TreeSpec {
  return {count, data: dataFill('text', Math.round(size * 1.5)), fanout: 100, size}
}

/** Runs `write(index)` for every index below `count`, `PIPELINE` at a time. */
async function pipelined(count: number, write: (index: number) => Promise<void>): Promise<void> {
  let next = 0
  const worker = async () => {
    while (next < count) await write(next++)
  }

  await Promise.all(Array.from({length: Math.min(PIPELINE, count)}, worker))
}

/** `txns` transactions under `root` (a tree of `spec`'s shape): every other one a create of a new znode, the others setData of the tree's znodes. */
async function transactions(wire: WireSession, root: string, spec: TreeSpec, txns: number): Promise<void> {
  const existing = [...treeShape(root, spec)].filter(({length}) => length > 0).map(({path}) => path)
  await wire.create(`${root}/new`, Buffer.alloc(0), OPEN_ACL)
  const data = (index: number) => spec.data(spec.count + index, spec.size)
  await pipelined(txns - 1, async (index) => {
    await (index % 2 === 0
      ? wire.create(`${root}/new/n-${index}`, data(index), OPEN_ACL).then(() => {})
      : wire.setData(existing[index % existing.length], data(index)))
  })
}

/**
 * The seeding's multis are few transactions (a snapCount's worth is needed before the node writes a
 * snapshot): setData of /pitr until it has written one of the whole tree, so the base is a real
 * snapshot and a short log, as in production.
 */
async function snapshotTheTree(wire: WireSession, dataDir: string, snapCount: number): Promise<void> {
  const seeded = wire.lastZxidSeen
  await pipelined(snapCount, () => wire.setData('/pitr', Buffer.alloc(0)))
  await snapshotAfter(dataDir, seeded)
}

function archiveOnce(repository: string, node: {configFile: string; dataDir: string}): Promise<TimedRun> {
  const args = ['bin/run.js', 'zk', 'archive', repository, '--data-dir', node.dataDir, '--zk-config', node.configFile]
  return timedRun(process.execPath, [...args, '--once'])
}

/** The highest zxid the repository's segments reach (their names are `<from>-<to>.seg`, hex). */
async function shippedTo(repository: string): Promise<bigint> {
  const ends = (await readdir(join(repository, 'segments')))
    .filter((name) => name.endsWith('.seg'))
    .map((name) => BigInt(`0x${name.replace(/\.seg$/, '').split('-')[1]}`))
  return ends.sort(compareZxid).at(-1) ?? 0n
}

interface ZookeeperLoad {
  /** ZooKeeper's own figure: `Snapshot loaded in N ms` (ZKDatabase.loadDataBase: the snapshot read and the logs replayed). */
  loadedMs?: number
  /**
   * From spawning the JVM to its `Snapshot loaded` line (that line's own time stamp): what ours is
   * timed as, a process started and the state in memory, without the snapshot it writes before serving.
   */
  startToLoadedSeconds?: number
  /** From spawning the JVM to answering srvr as serving. */
  toServingSeconds: number
  /** `N txns loaded in M ms` (FileTxnSnapLog: the log replay alone), when it printed one. */
  txnsLoaded?: {count: number; ms: number}
}

/** Starts the stopped node 1 of `ensemble` on its data directory, and what it says of the load. */
async function zookeeperLoad(ensemble: Ensemble): Promise<ZookeeperLoad> {
  const logFile = ensemble.logFile(1)
  const before = (await readFile(logFile, 'utf8').catch(() => '')).length
  const started = performance.now()
  const startedAt = Date.now()
  await ensemble.startNode(1)
  await ensemble.waitServing([1])
  const toServingSeconds = (performance.now() - started) / 1000
  const log = (await readFile(logFile, 'utf8')).slice(before)
  const loaded = /^(\d{4})-(\d\d)-(\d\d) (\d\d):(\d\d):(\d\d),(\d{3}) .*Snapshot loaded in (\d+) ms/m.exec(log)
  const txns = /(\d+) txns loaded in (\d+) ms/.exec(log)
  for (const line of log.split('\n').filter((one) => /loaded in|Replayed|Reading snapshot|Snapshot taken/.test(one)))
    console.error(`zookeeper: ${line}`)
  return {
    loadedMs: loaded ? Number(loaded[8]) : undefined,
    startToLoadedSeconds: loaded ? round((loggedAt(loaded.slice(1, 8)) - startedAt) / 1000) : undefined,
    toServingSeconds: round(toServingSeconds),
    txnsLoaded: txns ? {count: Number(txns[1]), ms: Number(txns[2])} : undefined,
  }
}

/** A log4j time stamp's fields (year to millisecond, the JVM's local time, which is ours) as epoch ms. */
function loggedAt(fields: string[]): number {
  const [year, month, day, hour, minute, second, ms] = fields.map(Number)
  return new Date(year, month - 1, day, hour, minute, second, ms).getTime()
}

/** What a restore's --json answer says it did, in one line. */
function brief(run: TimedRun): string {
  const answer = JSON.parse(run.stdout) as Record<string, unknown>
  const point = answer.point as Record<string, unknown> | undefined
  const picked = ['created', 'durationMs', 'txns', 'segmentsUsed', 'digestsVerified', 'zxid']
  return JSON.stringify({
    ...Object.fromEntries(picked.flatMap((key) => (key in answer ? [[key, answer[key]]] : []))),
    segments: (point?.segments as undefined | unknown[])?.length,
  })
}

interface Timed {
  cpuSeconds: number[]
  peakRssMiB: number[]
  seconds: number[]
}

function summary(runs: TimedRun[]): Timed {
  return {
    cpuSeconds: runs.map(({cpuSeconds}) => round(cpuSeconds ?? Number.NaN)),
    peakRssMiB: runs.map(({peakRssMiB}) => peakRssMiB ?? Number.NaN),
    seconds: runs.map(({seconds}) => round(seconds)),
  }
}

const median = (numbers: number[]) => spread(numbers).median

async function times(runs: number, once: (run: number) => Promise<TimedRun>): Promise<Timed> {
  const all: TimedRun[] = []
  for (let run = 0; run < runs; run++) all.push(await once(run))
  return summary(all)
}

/** The CLI's own peak RSS doing nothing (`--version`): "the process" the memory target adds to the snapshot. */
async function processRssMiB(): Promise<number> {
  const {peakRssMiB} = await timedRun(process.execPath, ['bin/run.js', '--version'])
  return peakRssMiB ?? Number.NaN
}

function row(step: string, timed: Timed, snapshotBytes: number, baseMiB: number): string {
  const {max, min} = spread(timed.seconds)
  const rss = Math.max(...timed.peakRssMiB)
  return `| ${step} | ${timed.seconds.length} | ${min.toFixed(2)} | ${median(timed.seconds).toFixed(2)} | ${max.toFixed(2)} | ${median(timed.cpuSeconds).toFixed(2)} | ${rss} MiB | ${((rss - baseMiB) / (snapshotBytes / MiB)).toFixed(2)} |`
}

async function main(): Promise<void> {
  const znodes = Number(values.znodes)
  const txns = Number(values.txns)
  const onlineZnodes = Math.max(2, Math.min(znodes, Number(values['online-znodes'] ?? values.znodes)))
  const size = Number(values.size)
  const runs = Number(values.runs)
  const loadAtStart = loadavg()
  const config = {forceSync: values['force-sync'], snapCount: values['snap-count']}
  const [source, target] = await Promise.all([
    Ensemble.start({config, jvmFlags: ['-Xmx2g'], nodes: 1, version: '3.8'}),
    Ensemble.start({config, dataLogDirs: true, jvmFlags: ['-Xmx2g'], nodes: 1, version: '3.8'}),
  ])
  await target.stopNode(1)
  const repository = join(source.dir, 'repository')
  const hosts = source.connectString.split(',')
  const wire = await WireSession.connect({hosts})
  try {
    const [node] = source.nodes
    const online = treeSpec(onlineZnodes, size)
    const started = performance.now()
    await wire.create('/pitr', Buffer.alloc(0), OPEN_ACL)
    await seedTree(wire, '/pitr/a', online)
    if (znodes > onlineZnodes) await seedTree(wire, '/pitr/b', treeSpec(znodes - onlineZnodes, size))
    console.error(`seeded ${znodes} znodes in ${((performance.now() - started) / 1000).toFixed(1)} s`)
    await snapshotTheTree(wire, node.dataDir, Number(values['snap-count']))
    const base = await archiveOnce(repository, node)
    const txnsStarted = performance.now()
    await transactions(wire, '/pitr/a', online, txns)
    const txnSeconds = (performance.now() - txnsStarted) / 1000
    const zxid = wire.lastZxidSeen
    console.error(`${txns} txns in ${txnSeconds.toFixed(1)} s, the last ${hexZxid(zxid)}`)
    const segments = await archiveOnce(repository, node)
    const shipped = await shippedTo(repository)
    if (shipped < zxid) throw new Error(`the segments reach ${hexZxid(shipped)}, not the last txn ${hexZxid(zxid)}`)
    const Z = hexZxid(zxid)
    if (values.keep) {
      await cp(repository, values.keep, {recursive: true})
      console.error(`repository kept at ${values.keep} (Z = ${Z})`)
    }

    const [to] = target.nodes
    const inspectRuns: TimedRun[] = []
    const offlineRuns: TimedRun[] = []
    const zookeeper: ZookeeperLoad[] = []
    const waits: Array<{quiet: boolean; waitedMs: number}> = []
    let snapshotAtZ = {bytes: Number.NaN, zxid: 0n}
    // Ours and ZooKeeper's load alternate, each after the machine went quiet: the two are compared
    // under the same conditions, whatever the machine does between runs.
    for (let run = 0; run < runs; run++) {
      waits.push(await waitForQuiet())
      inspectRuns.push(
        await timedRun(process.execPath, ['bin/run.js', 'zk', 'inspect', repository, '--at', Z, '--json']),
      )
      await target.stopNode(1)
      await Promise.all(
        [to.dataDir, to.dataLogDir].map((dir) => rm(join(dir, 'version-2'), {force: true, recursive: true})),
      )
      waits.push(await waitForQuiet())
      const offlineRun = await timedRun(process.execPath, [
        'bin/run.js',
        'zk',
        'restore',
        repository,
        '--to-zxid',
        Z,
        '--data-dir',
        to.dataDir,
        '--log-dir',
        to.dataLogDir,
        '--zk-config',
        to.configFile,
        '--json',
      ])
      offlineRuns.push(offlineRun)
      console.error(`offline restore: ${brief(offlineRun)}`)
      const restored = await newestSnapshot(to.dataDir)
      console.error(`restored data dir: newest snapshot ${hexZxid(restored.zxid)}, ${mib(restored.bytes)} MiB`)
      waits.push(await waitForQuiet())
      zookeeper.push(await zookeeperLoad(target))
      // ZooKeeper snapshots what it loaded before it serves: the uncompressed state at Z.
      snapshotAtZ = await newestSnapshot(to.dataDir)
    }

    const inspect = summary(inspectRuns)
    const offline = summary(offlineRuns)
    await target.stopNode(1)
    const from = onlineZnodes === znodes ? '/' : '/pitr/a'
    const onlineRestore = await times(runs, (run) =>
      timedRun(process.execPath, [
        'bin/run.js',
        'zk',
        'restore',
        repository,
        '--to-zxid',
        Z,
        '--zk',
        `${source.connectString}/restored-${run}`,
        '--from',
        from,
        '--yes',
        '--no-safety-backup',
        '--json',
      ]).then((one) => {
        console.error(`online restore: ${brief(one)}`)
        return one
      }),
    )

    const processMiB = await processRssMiB()
    const loadAtEnd = loadavg()
    const ourSeconds = median(inspect.seconds)
    const theirs = (pick: (load: ZookeeperLoad) => number | undefined) =>
      median(zookeeper.map((load) => pick(load) ?? Number.NaN))
    const loadedSeconds = theirs((load) => (load.loadedMs === undefined ? undefined : load.loadedMs / 1000))
    const startToLoadedSeconds = theirs((load) => load.startToLoadedSeconds)
    const toServingSeconds = theirs((load) => load.toServingSeconds)
    // Each run's ours against the ZooKeeper load right after it: the pairs' median, beside the medians' ratio.
    const pairedRatio = round(
      median(inspect.seconds.map((seconds, run) => (zookeeper[run].startToLoadedSeconds ?? Number.NaN) / seconds)),
    )
    const report = {
      archive: {base: summary([base]), segments: summary([segments]), txnSeconds: round(txnSeconds)},
      inspect,
      loadAverage: {atEnd: loadAtEnd, atStart: loadAtStart},
      offline,
      online: {from, restore: onlineRestore, znodes: onlineZnodes},
      processRssMiB: processMiB,
      parameters: {...values, onlineZnodes, znodes},
      quietWaits: waits,
      ratio: {
        loadedToInspect: round(loadedSeconds / ourSeconds),
        servingToInspect: round(toServingSeconds / ourSeconds),
        startToLoadedPaired: pairedRatio,
        startToLoadedToInspect: round(startToLoadedSeconds / ourSeconds),
      },
      snapshotAtZ: {bytes: snapshotAtZ.bytes, zxid: hexZxid(snapshotAtZ.zxid)},
      zookeeper,
      zxid: Z,
    }
    const snapshotBytes = snapshotAtZ.bytes
    const lines = [
      `a standalone ZooKeeper 3.8 node (snapCount ${values['snap-count']}, forceSync=${values['force-sync']}, -Xmx2g), ${znodes.toLocaleString('en-US')} znodes of ~${size} B of text ` +
        `archived (the base, ${base.seconds.toFixed(1)} s), then ${txns.toLocaleString('en-US')} txns (creates and setData, ${PIPELINE} in flight, ${txnSeconds.toFixed(1)} s) archived (the segments, ${segments.seconds.toFixed(1)} s) up to Z = ${Z}; ` +
        `the state at Z is a ${mib(snapshotBytes)} MiB snapshot; the CLI process alone (--version) peaks at ${processMiB} MiB; load average ${loadAtStart.map((one) => one.toFixed(2)).join(' ')} at the start, ${loadAtEnd.map((one) => one.toFixed(2)).join(' ')} at the end`,
      '',
      '| step | runs | min s | median s | max s | CPU s (median) | peak RSS | (peak RSS - the process) / snapshot at Z |',
      '|---|---|---|---|---|---|---|---|',
      row(`dcos zk inspect --at ${Z} (base + segments replayed, read only)`, inspect, snapshotBytes, processMiB),
      row('dcos zk restore --to-zxid (offline, --data-dir --log-dir)', offline, snapshotBytes, processMiB),
      row(
        `dcos zk restore --to-zxid (online, --from ${from}, ${onlineZnodes.toLocaleString('en-US')}+ znodes created)`,
        onlineRestore,
        snapshotBytes,
        processMiB,
      ),
      '',
      `ZooKeeper 3.8 on the offline restore's data dir, medians of ${zookeeper.length}: "Snapshot loaded in" ${loadedSeconds} s` +
        `, ${startToLoadedSeconds} s from the JVM's start to that line, ${toServingSeconds} s to serving (it writes a snapshot first)` +
        ` (each run: ${zookeeper.map((load) => `${load.loadedMs} ms`).join(', ')}` +
        (zookeeper[0]?.txnsLoaded
          ? `; "${zookeeper[0].txnsLoaded.count} txns loaded in" ${zookeeper.map((load) => `${load.txnsLoaded?.ms} ms`).join(', ')}`
          : '') +
        ')',
      `replay rate, ours / ZooKeeper's (same state at Z): ${report.ratio.startToLoadedToInspect}x start to loaded (both from a process's start; each run's pair: ${pairedRatio}x), ` +
        `${report.ratio.loadedToInspect}x against its load line alone, ${report.ratio.servingToInspect}x against its start to serving`,
      `quiet before each timed step: ${waits.filter((wait) => wait.quiet).length} of ${waits.length} (waited ${Math.max(...waits.map((wait) => wait.waitedMs))} ms at most)`,
    ]
    console.log(lines.join('\n'))
    if (values.out) await writeFile(values.out, `${JSON.stringify(report, null, 2)}\n`)
  } finally {
    await wire.close()
    await Promise.all([source.stop(), target.stop()])
  }
}

await main()
