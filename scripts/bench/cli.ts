/**
 * The real CLI as a child process, asynchronously (a blocked event loop would stop the bench's own
 * sessions from pinging and the servers would expire them). Peak RSS and CPU seconds come from GNU
 * time where the machine has it; the read and write paths the CLI took come from its --json answer.
 */
import {execFile} from 'node:child_process'
import {existsSync} from 'node:fs'
import {promisify} from 'node:util'

export interface TimedRun {
  /** User + system CPU of the process and the children it waited for (tar's gzip), from GNU time. */
  cpuSeconds?: number
  peakRssMiB?: number
  seconds: number
  stderr: string
  stdout: string
}

export interface CliSample {
  cpuSeconds?: number
  peakRssMiB?: number
  readPath?: string
  /** What a restore did, from its answer: created and deleted znodes, and whether it saved a safety backup. */
  restored?: string
  seconds: number
  writePath?: string
}

const GNU_TIME = '/usr/bin/time'

/**
 * `command` under GNU time (when there): wall seconds, CPU seconds and peak RSS. An exit status in
 * `allowedStatus` counts as success (GNU tar's 1: a file changed while it was read).
 */
export async function timedRun(command: string, args: string[], allowedStatus: number[] = []): Promise<TimedRun> {
  const timed = existsSync(GNU_TIME)
  const [file, fileArgs] = timed
    ? [GNU_TIME, ['-f', 'peak-rss-kib=%M cpu-user=%U cpu-system=%S', command, ...args]]
    : [command, args]
  const started = performance.now()
  const {stderr, stdout} = await promisify(execFile)(file, fileArgs, {
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
  }).catch((error: {code?: unknown; stderr?: string; stdout?: string}) => {
    if (typeof error.code === 'number' && allowedStatus.includes(error.code))
      return {stderr: error.stderr ?? '', stdout: error.stdout ?? ''}
    throw error
  })
  const seconds = (performance.now() - started) / 1000
  const rss = /peak-rss-kib=(\d+)/.exec(stderr)?.[1]
  const cpu = /cpu-user=([\d.]+) cpu-system=([\d.]+)/.exec(stderr)
  return {
    cpuSeconds: cpu ? Number(cpu[1]) + Number(cpu[2]) : undefined,
    peakRssMiB: rss === undefined ? undefined : Math.round(Number(rss) / 1024),
    seconds,
    stderr,
    stdout,
  }
}

export async function cli(args: string[]): Promise<CliSample> {
  const {cpuSeconds, peakRssMiB, seconds, stdout} = await timedRun(process.execPath, ['bin/run.js', ...args, '--json'])
  const answer = JSON.parse(stdout) as {
    created?: number
    deleted?: number
    readPath?: string
    safetyBackup?: unknown
    writePath?: string
  }
  const restored =
    answer.created === undefined
      ? undefined
      : `created ${answer.created}, deleted ${answer.deleted ?? 0}${answer.safetyBackup ? ', safety backup' : ''}`
  return {cpuSeconds, peakRssMiB, readPath: answer.readPath, restored, seconds, writePath: answer.writePath}
}

export const hasGnuTime = () => existsSync(GNU_TIME)
