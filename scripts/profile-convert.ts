/**
 * `npx tsx scripts/profile-convert.ts --data-dir DIR [--runs 3]`: loads a data directory's state
 * once, then writes it with writeStateArchive to a file --runs times, printing wall and CPU seconds
 * of each write (run under `node --cpu-prof --import tsx` to profile it). Nothing is asserted.
 */
import {readdirSync, readFileSync} from 'node:fs'
import {mkdtemp, rm, stat} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {parseArgs} from 'node:util'

import {writeStateArchive} from '../src/engine/convert.js'
import {resolveLocation} from '../src/providers/index.js'
import {loadStateFromDirectories} from '../src/zkdisk/index.js'

/** CPU seconds per thread (Linux /proc, clock ticks of 10 ms): the main thread's, and the rest's (zlib's pool, GC helpers). */
function threadCpu(): {main: number; others: number} {
  let main = 0
  let others = 0
  for (const task of readdirSync('/proc/self/task')) {
    const fields = readFileSync(`/proc/self/task/${task}/stat`, 'utf8').split(') ')[1].split(' ')
    const seconds = (Number(fields[11]) + Number(fields[12])) / 100
    if (task === String(process.pid)) main += seconds
    else others += seconds
  }

  return {main, others}
}

const {values} = parseArgs({options: {'data-dir': {type: 'string'}, runs: {default: '3', type: 'string'}}})
const state = await loadStateFromDirectories(values['data-dir']!)
const work = await mkdtemp(join(tmpdir(), 'dcos-profile-convert-'))
try {
  const archive = join(work, 'state.tar.gz')
  for (let run = 0; run < Number(values.runs); run++) {
    const started = performance.now()
    const cpu = process.cpuUsage()
    const threads = threadCpu()

    const manifest = await writeStateArchive({
      destination: resolveLocation(archive),
      overwrite: true,
      sourceDisplay: 'bench',
      state,
    })
    const {system, user} = process.cpuUsage(cpu)
    const after = threadCpu()
    const seconds = (performance.now() - started) / 1000
    const cpuSeconds = (system + user) / 1e6

    const {size} = await stat(archive)
    console.log(
      `${manifest.znodes} znodes: ${seconds.toFixed(2)} s wall (${Math.round(manifest.znodes / seconds)}/s), ${cpuSeconds.toFixed(2)} CPU-s (user ${(user / 1e6).toFixed(2)}, sys ${(system / 1e6).toFixed(2)}; main thread ${(after.main - threads.main).toFixed(2)}, others ${(after.others - threads.others).toFixed(2)}), ${(size / 2 ** 20).toFixed(1)} MiB`,
    )
  }
} finally {
  await rm(work, {force: true, recursive: true})
}
