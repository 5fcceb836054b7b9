/**
 * `npx tsx scripts/bench-admin-steps.ts --snapshot FILE [--runs 3]`
 *
 * The admin path's steps after the fetch, without a server, on a snapshot file (one a data directory
 * holds, or the AdminServer streamed): parse (readSnapshot), digest (DataTree.fromSnapshot), records
 * (snapshotZnodes: DiskZnode and ZnodeRecord per znode) and the archive written into a stream that
 * discards it. CPU seconds of the process per step (zlib's threadpool included in the last), then
 * znodes per CPU-second. The machine may be shared: CPU time is the steadier figure. Nothing asserted.
 */
import {readFile} from 'node:fs/promises'
import {basename} from 'node:path'
import {Writable} from 'node:stream'
import {pipeline} from 'node:stream/promises'
import {parseArgs} from 'node:util'

import {FORMAT_NAME, FORMAT_VERSION} from '../src/archive/format.js'
import {ArchiveWriter} from '../src/archive/writer.js'
import {snapshotZnodes} from '../src/engine/admin-snapshot.js'
import {DataTree, readSnapshot} from '../src/zkdisk/index.js'

const {values} = parseArgs({options: {runs: {default: '3', type: 'string'}, snapshot: {type: 'string'}}})
if (!values.snapshot) throw new Error('--snapshot FILE is required')
const file = {bytes: await readFile(values.snapshot), name: basename(values.snapshot)}

const cpu = () => {
  const {system, user} = process.cpuUsage()
  return (system + user) / 1e6
}

async function once(): Promise<Record<string, number>> {
  const times: Record<string, number> = {}
  let mark = cpu()
  const step = (name: string) => {
    const now = cpu()
    times[name] = Number((now - mark).toFixed(3))
    mark = now
  }

  const snapshot = readSnapshot(file)
  step('parse')
  const {digest} = DataTree.fromSnapshot(snapshot)
  step('digest')
  const counts = {dataBytes: 0, excluded: 0, skippedEphemerals: 0, znodes: 0}
  const znodes = [...snapshotZnodes(snapshot.nodes, '/', {counts, exclude: () => false})]
  step('records')
  const writer = new ArchiveWriter({
    createdAt: '',
    format: FORMAT_NAME,
    formatVersion: FORMAT_VERSION,
    options: {exclude: [], includeEphemerals: false},
    source: {hosts: [], root: '/'},
    tool: 'bench',
    zxidStart: null,
  })
  const done = pipeline(writer.output, new Writable({write: (_chunk, _encoding, callback) => callback()}))
  for (const znode of znodes) {
    await writer.addZnode(znode.relativePath, znode.record, znode.data)
  }

  await writer.finish({
    ...counts,
    changedDuringBackup: 0,
    completedAt: '',
    inconsistent: [],
    inconsistentCount: 0,
    vanished: 0,
    zxidEnd: null,
  })
  await done
  step('write')
  const total = Object.values(times).reduce((sum, value) => sum + value, 0)
  return {
    ...times,
    digestOk: Number(digest >= 0n),
    total: Number(total.toFixed(3)),
    znodes: counts.znodes,
    znodesPerCpuSecond: Math.round(counts.znodes / total),
  }
}

for (let run = 0; run < Number(values.runs); run++) {
  console.log(JSON.stringify(await once()))
}
