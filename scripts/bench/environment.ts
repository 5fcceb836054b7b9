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
