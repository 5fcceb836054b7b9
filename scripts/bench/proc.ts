/** Another process's CPU time and memory, from Linux's /proc (process.cpuUsage only knows its own process). */
import {execFileSync} from 'node:child_process'
import {readFileSync} from 'node:fs'

const CLOCK_TICKS = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], {encoding: 'utf8'}).trim()) || 100
  } catch {
    return 100
  }
})()

/** User + system CPU seconds of `pid` so far (all its threads, zlib's and the GC's included). */
export function cpuSecondsOf(pid: number): number {
  // The fields after the command name, which is in parentheses and may hold spaces: utime and stime are the 12th and 13th.
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ').at(-1)!.split(' ')
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS
}

/** The resident set of `pid` now and at its peak (VmRSS, VmHWM), MiB. */
export function memoryOf(pid: number): {peakRssMiB: number; rssMiB: number} {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8')
  const kib = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? Number.NaN)
  return {peakRssMiB: Math.round(kib('VmHWM') / 1024), rssMiB: Math.round(kib('VmRSS') / 1024)}
}
