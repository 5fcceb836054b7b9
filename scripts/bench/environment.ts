/** What the figures were measured on: the machine, the versions, and how loaded it was. */
import {execFile} from 'node:child_process'
import {readFile} from 'node:fs/promises'
import {cpus, loadavg, totalmem} from 'node:os'
import {promisify} from 'node:util'

import {type Ensemble, fourLetterWord} from '../../test/harness/ensemble.js'

const run = promisify(execFile)

async function firstLine(command: string, args: string[]): Promise<string> {
  try {
    const {stderr, stdout} = await run(command, args, {encoding: 'utf8'})
    return `${stdout}${stderr}`.split('\n')[0].trim()
  } catch {
    return 'unknown'
  }
}

export const loadAverage = () => loadavg().map((one) => Number(one.toFixed(2)))

export function machine() {
  return {
    cpuModel: cpus()[0]?.model ?? 'unknown',
    cpus: cpus().length,
    loadAverageAtStart: loadAverage(),
    memoryGiB: Math.round(totalmem() / 2 ** 30),
  }
}

export async function versions(ensemble: Ensemble) {
  const srvr = await fourLetterWord(ensemble.nodes[0].clientPort, 'srvr').catch(() => '')
  const {version} = JSON.parse(await readFile('package.json', 'utf8')) as {version: string}
  return {
    dcosBackup: `${version} (${await firstLine('git', ['describe', '--always', '--dirty'])})`,
    java: await firstLine('java', ['-version']),
    node: process.version,
    zookeeper: /Zookeeper version: ([0-9.]+)/.exec(srvr)?.[1] ?? `${ensemble.version} (srvr did not answer)`,
  }
}

/** The machine's idle and total CPU ticks so far, all cores (/proc/stat's first line). */
async function cpuTicks(): Promise<{idle: number; total: number}> {
  const fields = (await readFile('/proc/stat', 'utf8')).split('\n')[0].trim().split(/\s+/).slice(1).map(Number)
  // idle and iowait
  return {idle: fields[3] + (fields[4] ?? 0), total: fields.reduce((sum, one) => sum + one, 0)}
}

/**
 * Waits until the machine's CPUs were at least `idleShare` idle over a second (at most `timeoutMs`):
 * a node still collecting or snapshotting after the writes before a timed step would otherwise be
 * measured with it. Returns how long it waited and whether it became quiet.
 */
export async function waitForQuiet({idleShare = 0.9, timeoutMs = 60_000} = {}): Promise<{
  quiet: boolean
  waitedMs: number
}> {
  const started = performance.now()
  while (performance.now() - started < timeoutMs) {
    const before = await cpuTicks()
    await new Promise((resolve) => {
      setTimeout(resolve, 1000)
    })
    const after = await cpuTicks()
    const total = after.total - before.total
    if (total > 0 && (after.idle - before.idle) / total >= idleShare)
      return {quiet: true, waitedMs: Math.round(performance.now() - started)}
  }

  return {quiet: false, waitedMs: Math.round(performance.now() - started)}
}
