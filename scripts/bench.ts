/**
 * `npm run bench [-- --znodes 100000 --size 1024 --fanout 100 --runs 3 --memory 100000,400000
 *   --data text|constant|random --batch both|auto|off --force-sync yes|no --zk-version 3.8|3.4|3.9
 *   --zkdisk-znodes 333000 --hot-znodes 300000 --archive-seconds 90 --pitr-znodes 300000 --pitr-txns 100000
 *   --pitr-online-znodes 300000 --out bench.json]`; a quick check that it works: `--znodes 2000 --runs 1
 *   --memory '' --zkdisk-znodes 3000 --hot-znodes 3000 --archive-seconds 15 --pitr-znodes 3000 --pitr-txns 2000`.
 *
 * Starts its own 3-node ensemble (forceSync as asked: yes, ZooKeeper's default, unless --force-sync
 * no), seeds a scheduler-shaped tree (parents of --fanout - 1 children, data from half to one and a
 * half --size, filled with --data: JSON-like text by default; constant compresses past 100 : 1 and
 * hides gzip's cost, random not at all) and runs the sections below in turn on it:
 *   speed (scripts/bench/speed.ts): the ceilings (raw pipelined reads, with and without getACL;
 *     multi-reads, with and without getACL, where the servers have multi-read; raw creates, single
 *     and in multis) and the real CLI (`dcos zk backup`, `inspect`, `restore` into a fresh path and
 *     over an existing tree with its safety backup and deletes), batched and with --batch off, each
 *     as min, median and max of --runs runs; headline ratios against the ceiling doing the same
 *     work; the archive's size and compression;
 *   sequence counters (scripts/bench/counters.ts): --counter-pairs create-and-delete pairs raising
 *     one parent's counter, as a restore does;
 *   memory (scripts/bench/memory.ts): backup and restore of trees of each --memory size, peak RSS.
 *   snapshot reader and archive writer (scripts/bench-zkdisk.ts, its own 3.8 node): loading a real
 *     data directory of --zkdisk-znodes znodes and writing its state as an archive, against reading
 *     the bytes and gzip alone;
 *   hot backup and archiver (scripts/bench-archive.ts, its own running 3.8 node of --hot-znodes
 *     znodes under a steady write load; 0 skips it): `zk backup --data-dir` against `tar czf` of the
 *     same files at a third of the tree and the whole (wall, CPU, peak RSS); `zk archive`'s RPO (a
 *     write's answer to its segment in storage, p50 and p99) at 500 writes/s and its CPU (% of a
 *     core) and memory at 1,000 writes/s, each over --archive-seconds;
 *   point-in-time restore (scripts/bench-pitr.ts, its own 3.8 node; --pitr-znodes 0 skips it): a
 *     repository of a base of --pitr-znodes znodes and --pitr-txns txns after it; `zk inspect --at Z`
 *     against ZooKeeper's own load of the same state (its "Snapshot loaded in" line, and its start to
 *     serving), `zk restore --to-zxid Z` offline and online (--pitr-online-znodes of the tree), wall,
 *     CPU and peak RSS against the snapshot at Z, one run each whatever --runs;
 *   with --zk-version 3.9, the AdminServer snapshot (scripts/bench-admin.ts, its own 3.9 ensemble):
 *     the bare stream, `zk backup --admin-url` and the client path, and their ratio.
 * It prints the parameters, the machine and the versions first. Nothing is asserted.
 */
import {mkdtemp, rm, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import type {BenchContext, Section} from './bench/section.js'

import {BulkAccess} from '../src/engine/znodes/bulk-access.js'
import {ZkSession} from '../src/zk/session.js'
import {WireSession} from '../src/zk/wire/session.js'
import {Ensemble} from '../test/harness/ensemble.js'
import {countersSection} from './bench/counters.js'
import {loadAverage, machine, versions} from './bench/environment.js'
import {adminSection, archiveSection, pitrSection, zkdiskSection} from './bench/external.js'
import {memorySection} from './bench/memory.js'
import {type BenchOptions, parseOptions, USAGE} from './bench/options.js'
import {formatHeader} from './bench/report.js'
import {speedSection} from './bench/speed.js'
import {dataFill} from './bench/tree.js'

/**
 * The sections, run in this order (each a Section of scripts/bench/section.ts); the external ones
 * (scripts/bench/external.ts) start their own servers.
 */
function sections(options: BenchOptions): Section[] {
  return [
    speedSection,
    countersSection,
    memorySection,
    ...(options.zkdiskZnodes > 0 ? [zkdiskSection] : []),
    ...(options.hotZnodes > 0 ? [archiveSection] : []),
    ...(options.pitrZnodes > 0 ? [pitrSection] : []),
    ...(options.zkVersion === '3.9' ? [adminSection] : []),
  ]
}

function options(): BenchOptions {
  try {
    return parseOptions(process.argv.slice(2))
  } catch (error) {
    console.error(`${(error as Error).message}\n${USAGE}`)
    // eslint-disable-next-line n/no-process-exit, unicorn/no-process-exit -- a bad option ends the script with usage status 2
    process.exit(2)
  }
}

async function main(): Promise<void> {
  const chosen = options()
  // The harness's small test heap would stall the servers in garbage collection on trees of 100k+ znodes.
  const ensemble = await Ensemble.start({
    config: {forceSync: chosen.forceSync},
    jvmFlags: ['-Xmx2g'],
    nodes: 3,
    version: chosen.zkVersion,
  })
  const work = await mkdtemp(join(tmpdir(), 'dcos-bench-'))
  const hosts = ensemble.connectString.split(',')
  const session = await ZkSession.connect({hosts})
  const wire = await WireSession.connect({hosts})
  const aclSessions = await Promise.all(hosts.map((host) => WireSession.connect({hosts, preferredHost: host})))
  try {
    const probe = await BulkAccess.open(session, 'auto')
    await probe.close()
    const spec = {
      count: chosen.znodes,
      data: dataFill(chosen.data, Math.round(chosen.size * 1.5)),
      fanout: chosen.fanout,
      size: chosen.size,
    }
    const context: BenchContext = {
      aclSessions,
      connectString: ensemble.connectString,
      ensemble,
      hosts,
      multiRead: probe.readPath === 'multi-read',
      options: chosen,
      session,
      spec,
      wire,
      work,
    }
    const report = {
      machine: machine(),
      options: chosen,
      sections: {} as Record<string, unknown>,
      versions: await versions(ensemble),
    }
    console.log(formatHeader(chosen, report.machine, report.versions).join('\n'))
    for (const section of sections(chosen)) {
      const {json, lines} = await section.run(context)
      report.sections[section.name] = json
      console.log(`\n## ${section.name}\n${lines.join('\n')}`)
    }

    const loadAtEnd = loadAverage()
    console.log(`\nload average ${loadAtEnd.join(' ')} at the end`)
    if (chosen.out)
      await writeFile(
        chosen.out,
        `${JSON.stringify({...report, machine: {...report.machine, loadAverageAtEnd: loadAtEnd}}, null, 2)}\n`,
      )
  } finally {
    await Promise.all([wire, ...aclSessions].map((one) => one.close()))
    await session.close()
    await ensemble.stop()
    await rm(work, {force: true, recursive: true})
  }
}

await main()
