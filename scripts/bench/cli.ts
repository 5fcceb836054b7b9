/**
 * The real CLI as a child process, asynchronously (a blocked event loop would stop the bench's own
 * sessions from pinging and the servers would expire them). Peak RSS comes from GNU time where the
 * machine has it; the read and write paths the CLI took come from its --json answer.
 */
import {execFile} from 'node:child_process'
import {existsSync} from 'node:fs'
import {promisify} from 'node:util'

export interface CliSample {
  peakRssMiB?: number
  readPath?: string
  /** What a restore did, from its answer: created and deleted znodes, and whether it saved a safety backup. */
  restored?: string
  seconds: number
  writePath?: string
}

const GNU_TIME = '/usr/bin/time'

export async function cli(args: string[]): Promise<CliSample> {
  const full = ['bin/run.js', ...args, '--json']
  const timed = existsSync(GNU_TIME)
  const [command, commandArgs] = timed
    ? [GNU_TIME, ['-f', 'peak-rss-kib=%M', process.execPath, ...full]]
    : [process.execPath, full]
  const started = performance.now()
  const {stderr, stdout} = await promisify(execFile)(command, commandArgs, {
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
  })
  const seconds = (performance.now() - started) / 1000
  const rss = /peak-rss-kib=(\d+)/.exec(stderr)?.[1]
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
  return {
    peakRssMiB: rss === undefined ? undefined : Math.round(Number(rss) / 1024),
    readPath: answer.readPath,
    restored,
    seconds,
    writePath: answer.writePath,
  }
}

export const hasGnuTime = () => existsSync(GNU_TIME)
