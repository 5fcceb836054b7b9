/**
 * `npx tsx scripts/bench-zkdisk.ts [--znodes 333000 --size 200 --runs 3 --data-dir DIR --keep --out bench.json]`
 * (--keep leaves the data directory made in $TMPDIR/dcos-bench-zkdisk-data, for --data-dir later)
 *
 * The offline path's speed (issue 14): a real ZooKeeper 3.8 data directory is made (a standalone
 * node seeded with multis, restarted so it writes a snapshot of the whole tree, then stopped), or
 * `--data-dir` reuses one (a directory holding version-2/). Then, as min/median/max over --runs:
 *   1. snapshot load: `loadStateFromDirectories` in a fresh child process (znodes/s, peak RSS),
 *      against the baseline of reading the same files' bytes (and gunzip when compressed);
 *   2. archive writing: `writeStateArchive` of that state to a file (znodes/s), against the baseline
 *      of gzip at the writer's level of the same uncompressed tar bytes (node's zlib, one call).
 * Wall seconds and CPU seconds (all threads) both: on a machine others load, CPU time is the steadier.
 * Nothing is asserted: the lead folds the figures into `npm run bench`.
 */
import {execFile} from 'node:child_process'
import {cp, mkdtemp, readdir, readFile, rm, stat, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {fileURLToPath} from 'node:url'
import {parseArgs, promisify} from 'node:util'
import {gunzipSync, gzipSync} from 'node:zlib'

import {GZIP_LEVEL} from '../src/archive/writer.js'
import {writeStateArchive} from '../src/engine/convert.js'
import {MultiWriter} from '../src/engine/znodes/write-znodes.js'
import {resolveLocation} from '../src/providers/index.js'
import {OPEN_ACL} from '../src/zk/session.js'
import {WireSession} from '../src/zk/wire/session.js'
import {loadStateFromDirectories} from '../src/zkdisk/index.js'
import {Ensemble} from '../test/harness/ensemble.js'
import {spread} from './bench/figures.js'

const {values} = parseArgs({
  options: {
    child: {type: 'string'},
    'data-dir': {type: 'string'},
    keep: {default: false, type: 'boolean'},
    out: {type: 'string'},
    runs: {default: '3', type: 'string'},
    size: {default: '200', type: 'string'},
    znodes: {default: '333000', type: 'string'},
  },
})
const FANOUT = 100
const SELF = fileURLToPath(import.meta.url)
const KEPT = join(tmpdir(), 'dcos-bench-zkdisk-data')

const elapsed = (started: number) => (performance.now() - started) / 1000
const round = (value: number) => Math.round(value * 100) / 100
/** CPU time of every thread of the process (zlib's included) since `start`: steadier than wall time on a shared machine. */
const cpuSeconds = (start: NodeJS.CpuUsage) => {
  const {system, user} = process.cpuUsage(start)
  return (system + user) / 1e6
}

/** A tree like a scheduler's: parents of FANOUT - 1 children, data around --size bytes. */
async function seed(wire: WireSession, count: number, size: number): Promise<void> {
  const writer = new MultiWriter(wire)
  await writer.add({acl: OPEN_ACL, data: Buffer.alloc(0), kind: 'create', path: '/bench'}, () => {})
  for (let index = 1, parent = 0; index < count; parent++) {
    const parentPath = `/bench/app-${parent}`

    await writer.add(
      {acl: OPEN_ACL, data: Buffer.alloc(size >> 2, parent % 251), kind: 'create', path: parentPath},
      () => {},
    )
    index++
    for (let child = 0; child < FANOUT - 1 && index < count; child++, index++) {
      const data = Buffer.alloc(Math.round(size * (0.5 + (child % 11) / 10)), index % 251)

      await writer.add({acl: OPEN_ACL, data, kind: 'create', path: `${parentPath}/v-${child}`}, () => {})
    }
  }

  await writer.drain()
}

/** A stopped 3.8 node's data directory whose newest snapshot holds the whole seeded tree. */
async function makeDataDir(target: string, count: number, size: number): Promise<void> {
  const ensemble = await Ensemble.start({jvmFlags: ['-Xmx2g'], nodes: 1, version: '3.8'})
  try {
    const wire = await WireSession.connect({hosts: ensemble.connectString.split(',')})
    const started = performance.now()
    await seed(wire, count, size)
    console.error(`seeded ${count} znodes in ${round(elapsed(started))} s`)
    await wire.close()
    // A standalone server snapshots its loaded tree when it starts.
    await ensemble.stopNode(1)
    await ensemble.startNode(1)
    await ensemble.stopNode(1)
    await cp(join(ensemble.nodes[0].dataDir, 'version-2'), join(target, 'version-2'), {recursive: true})
  } finally {
    await ensemble.stop()
  }
}

/** One load in a fresh process, so its peak RSS is its own: `--child load|read <dir>`. */
async function child(mode: string, dir: string): Promise<void> {
  const started = performance.now()
  const cpu = process.cpuUsage()
  let znodes = 0
  znodes = mode === 'load' ? (await loadStateFromDirectories(dir)).znodes.size : await uncompressedSnapshotBytes(dir)

  const seconds = elapsed(started)
  process.stdout.write(
    JSON.stringify({cpuSeconds: cpuSeconds(cpu), peakRssMiB: process.resourceUsage().maxRSS / 1024, seconds, znodes}),
  )
}

interface ChildSample {
  cpuSeconds: number
  peakRssMiB: number
  seconds: number
  znodes: number
}

async function inChild(mode: string, dir: string): Promise<ChildSample> {
  const {stdout} = await promisify(execFile)(
    process.execPath,
    ['--import', 'tsx', SELF, '--child', mode, '--data-dir', dir],
    {maxBuffer: 1 << 20},
  )
  return JSON.parse(stdout) as ChildSample
}

async function main(): Promise<void> {
  if (values.child) return child(values.child, values['data-dir']!)
  const runs = Number(values.runs)
  const work = await mkdtemp(join(tmpdir(), 'dcos-bench-zkdisk-'))
  try {
    const dataDir = values['data-dir'] ?? (values.keep ? KEPT : join(work, 'data'))
    if (!values['data-dir']) await makeDataDir(dataDir, Number(values.znodes), Number(values.size))
    const snapshotBytes = await uncompressedSnapshotBytes(dataDir)
    const load: ChildSample[] = []
    const read: ChildSample[] = []
    for (let run = 0; run < runs; run++) {
      load.push(await inChild('load', dataDir))

      read.push(await inChild('read', dataDir))
    }

    const state = await loadStateFromDirectories(dataDir)
    const written: number[] = []
    const writtenCpu: number[] = []
    const archive = join(work, 'state.tar.gz')
    let znodes = 0
    for (let run = 0; run < runs; run++) {
      const started = performance.now()
      const cpu = process.cpuUsage()

      const manifest = await writeStateArchive({
        destination: resolveLocation(archive),
        overwrite: true,
        sourceDisplay: dataDir,
        state,
      })
      written.push(elapsed(started))
      writtenCpu.push(cpuSeconds(cpu))
      znodes = manifest.znodes
    }

    const tar = gunzipSync(await readFile(archive))
    const gzipped: number[] = []
    const gzippedCpu: number[] = []
    for (let run = 0; run < runs; run++) {
      const started = performance.now()
      const cpu = process.cpuUsage()
      gzipSync(tar, {level: GZIP_LEVEL})
      gzipped.push(elapsed(started))
      gzippedCpu.push(cpuSeconds(cpu))
    }

    const perSecond = (count: number, seconds: number[]) => {
      const {max, median, min} = spread(seconds)
      return {max: Math.round(count / min), median: Math.round(count / median), min: Math.round(count / max)}
    }

    const loaded = load[0].znodes
    const report = {
      archiveWrite: {
        archiveMiB: round((await stat(archive)).size / 2 ** 20),
        cpuSeconds: spread(writtenCpu),
        seconds: spread(written),
        tarMiB: round(tar.length / 2 ** 20),
        znodes,
        znodesPerSecond: perSecond(znodes, written),
      },
      archiveWriteBaseline: {
        cpuSeconds: spread(gzippedCpu),
        seconds: spread(gzipped),
        what: `gzipSync (level ${GZIP_LEVEL}, the writer's) of the same uncompressed tar bytes`,
        znodesPerSecond: perSecond(znodes, gzipped),
      },
      runs,
      snapshotLoad: {
        cpuSeconds: spread(load.map((sample) => sample.cpuSeconds)),
        peakRssMiB: spread(load.map((sample) => sample.peakRssMiB)),
        seconds: spread(load.map((sample) => sample.seconds)),
        snapshotMiB: round(snapshotBytes / 2 ** 20),
        znodes: loaded,
        znodesPerSecond: perSecond(
          loaded,
          load.map((sample) => sample.seconds),
        ),
      },
      snapshotLoadBaseline: {
        cpuSeconds: spread(read.map((sample) => sample.cpuSeconds)),
        peakRssMiB: spread(read.map((sample) => sample.peakRssMiB)),
        seconds: spread(read.map((sample) => sample.seconds)),
        what: 'reading the snapshot files (and gunzip when compressed), in the same kind of child process',
      },
    }
    const text = JSON.stringify(report, null, 2)
    console.log(text)
    if (values.out) await writeFile(values.out, `${text}\n`)
    if (values.keep && !values['data-dir'])
      console.error(`kept the data directory in ${KEPT}: pass --data-dir ${KEPT} to reuse it`)
  } finally {
    await rm(work, {force: true, recursive: true})
  }
}

/** The newest snapshot's size once decompressed: what the memory target is relative to. */
async function uncompressedSnapshotBytes(dataDir: string): Promise<number> {
  const version2 = join(dataDir, 'version-2')
  const names = (await readdir(version2)).filter((name) => name.startsWith('snapshot.'))
  const newest = names.sort((a, b) => (BigInt(`0x${a.split('.')[1]}`) < BigInt(`0x${b.split('.')[1]}`) ? 1 : -1))[0]
  if (!newest) return 0
  const bytes = await readFile(join(version2, newest))
  return (newest.endsWith('.gz') ? gunzipSync(bytes) : bytes).length
}

await main()
