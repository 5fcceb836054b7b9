/**
 * `npx tsx scripts/bench-writer.ts [--znodes 100000 --size 1000 --runs 3]`
 *
 * ArchiveWriter alone (issue 14's ≥ 150k znodes/s): --znodes synthetic records of about --size bytes
 * of data, shaped as a scheduler's tree, written into a stream that counts and discards the gzip
 * output. Reports wall and CPU seconds (all threads, zlib's included: on a shared machine the steadier
 * figure) and znodes per second of each. Nothing is asserted.
 */
import {readFileSync} from 'node:fs'
import {Writable} from 'node:stream'
import {pipeline} from 'node:stream/promises'
import {parseArgs} from 'node:util'

import {FORMAT_NAME, FORMAT_VERSION, type ZnodeRecord} from '../src/archive/format.js'
import {ArchiveWriter} from '../src/archive/writer.js'

const {values} = parseArgs({
  options: {
    runs: {default: '3', type: 'string'},
    size: {default: '1000', type: 'string'},
    znodes: {default: '100000', type: 'string'},
  },
})
const znodes = Number(values.znodes)
const size = Number(values.size)
const runs = Number(values.runs)
const FANOUT = 100

function* synthetic(): Generator<{data: Buffer; record: ZnodeRecord; relativePath: string}> {
  const acl = [{id: 'anyone', perms: 31, scheme: 'world'}]
  for (let index = 0; index < znodes; index++) {
    const relativePath =
      index === 0
        ? '/'
        : index % FANOUT === 1
          ? `/app-${Math.floor(index / FANOUT)}`
          : `/app-${Math.floor(index / FANOUT)}/v-${index % FANOUT}`
    const data = Buffer.alloc(Math.round(size * (0.5 + (index % 11) / 10)), index % 251)
    const time = new Date(1_700_000_000_000 + index).toISOString()
    const record: ZnodeRecord = {
      acl,
      path: `/bench${relativePath === '/' ? '' : relativePath}`,
      sequential: false,
      stat: {
        aversion: 0,
        ctime: time,
        cversion: 0,
        czxid: `0x${(index + 0x1_00).toString(16)}`,
        dataLength: data.length,
        mtime: time,
        mzxid: `0x${(index + 0x1_00).toString(16)}`,
        numChildren: 0,
        pzxid: `0x${(index + 0x1_00).toString(16)}`,
        version: 0,
      },
      type: 'persistent',
    }
    yield {data, record, relativePath}
  }
}

/** The main thread's CPU seconds (Linux: /proc, in clock ticks of 10 ms), zlib's threadpool not included; NaN elsewhere. */
function mainThreadCpu(): number {
  try {
    const fields = readFileSync(`/proc/self/task/${process.pid}/stat`, 'utf8').split(') ')[1].split(' ')
    return (Number(fields[11]) + Number(fields[12])) / 100
  } catch {
    return Number.NaN
  }
}

async function once(): Promise<{bytes: number; cpuSeconds: number; mainCpuSeconds: number; seconds: number}> {
  const items = [...synthetic()]
  const cpu = process.cpuUsage()
  const mainCpu = mainThreadCpu()
  const started = performance.now()
  const writer = new ArchiveWriter({
    createdAt: new Date().toISOString(),
    format: FORMAT_NAME,
    formatVersion: FORMAT_VERSION,
    options: {exclude: [], includeEphemerals: false},
    source: {hosts: [], root: '/bench'},
    tool: 'bench',
    zxidStart: null,
  })
  let bytes = 0
  const sink = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      bytes += chunk.length
      callback()
    },
  })
  const done = pipeline(writer.output, sink)
  for (const item of items) {
    await writer.addZnode(item.relativePath, item.record, item.data)
  }

  await writer.finish({
    changedDuringBackup: 0,
    completedAt: new Date().toISOString(),
    dataBytes: 0,
    excluded: 0,
    inconsistent: [],
    inconsistentCount: 0,
    skippedEphemerals: 0,
    vanished: 0,
    znodes,
    zxidEnd: null,
  })
  await done
  const {system, user} = process.cpuUsage(cpu)
  return {
    bytes,
    cpuSeconds: (system + user) / 1e6,
    mainCpuSeconds: mainThreadCpu() - mainCpu,
    seconds: (performance.now() - started) / 1000,
  }
}

for (let run = 0; run < runs; run++) {
  const {bytes, cpuSeconds, mainCpuSeconds, seconds} = await once()
  console.log(
    `${znodes} znodes (~${size} B): ${seconds.toFixed(2)} s wall (${Math.round(znodes / seconds)}/s), ${cpuSeconds.toFixed(2)} s CPU (${Math.round(znodes / cpuSeconds)}/CPU-s), ` +
      `main thread ${mainCpuSeconds.toFixed(2)} s CPU (${Math.round(znodes / mainCpuSeconds)}/s), ${(bytes / 2 ** 20).toFixed(1)} MiB gzip`,
  )
}
