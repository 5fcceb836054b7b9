import {ux} from '@oclif/core'
import {SingleBar} from 'cli-progress'

const REFRESH_MS = 200

/** Progress on stderr, only when stderr is a terminal and the output is not JSON. */
export function progressEnabled(json: boolean): boolean {
  return Boolean(process.stderr.isTTY) && !json
}

/** Progress of one phase: a Counter, or a Bar once the total is known. */
export interface Progress {
  add(bytes?: number): void
  stop(message?: string): void
}

/** A spinner with a running count, for work whose total is not known in advance. */
export class Counter implements Progress {
  private bytes = 0
  private count = 0
  private last = 0
  private readonly started = Date.now()

  constructor(
    private readonly enabled: boolean,
    label: string,
  ) {
    if (enabled) ux.action.start(label, '', {stdout: false})
  }

  add(bytes = 0): void {
    this.count++
    this.bytes += bytes
    const now = Date.now()
    if (!this.enabled || now - this.last < REFRESH_MS) return
    this.last = now
    ux.action.status = describeRate(this.count, this.bytes, now - this.started)
  }

  stop(message = 'done'): void {
    if (this.enabled) ux.action.stop(message)
  }
}

/** A bar with percent and ETA for a phase whose total (in znodes) is known. */
export class Bar implements Progress {
  private readonly bar?: SingleBar
  private count = 0

  constructor(
    enabled: boolean,
    label: string,
    private total: number,
  ) {
    if (!enabled) return
    this.bar = new SingleBar({
      clearOnComplete: true,
      format: `${label} [{bar}] {percentage}% | {value}/{total} znodes | ETA {eta_formatted}`,
      fps: 1000 / REFRESH_MS,
      hideCursor: true,
      stream: process.stderr,
    })
    this.bar.start(total, 0)
  }

  add(): void {
    this.count++
    if (!this.bar) return
    // A total is what the server counted or planned; writers may add znodes meanwhile.
    if (this.count > this.total) this.bar.setTotal((this.total = this.count))
    this.bar.update(this.count)
  }

  stop(): void {
    this.bar?.stop()
  }
}

export function describeRate(count: number, bytes: number, ms: number): string {
  const rate = Math.round((count * 1000) / Math.max(ms, 1))
  return `${count.toLocaleString('en-US')} znodes, ${formatBytes(bytes)} (${rate.toLocaleString('en-US')} znodes/s)`
}

export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB']
  let value = bytes
  let unit = 0
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024
    unit++
  }

  return `${unit === 0 ? value : value.toFixed(1)} ${units[unit]}`
}
