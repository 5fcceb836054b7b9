import {ux} from '@oclif/core'
import {SingleBar} from 'cli-progress'

const REFRESH_MS = 200

/** Progress on stderr, only when stderr is a terminal and the output is not JSON. */
export function progressEnabled(json: boolean): boolean {
  return Boolean(process.stderr.isTTY) && !json
}

/** A spinner with a running count, for work whose total is not known in advance. */
export class Counter {
  private count = 0
  private bytes = 0
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

/** A bar for a phase whose total is known. */
export class Bar {
  private readonly bar?: SingleBar

  constructor(enabled: boolean, label: string, total: number) {
    if (!enabled) return
    this.bar = new SingleBar({
      clearOnComplete: true,
      format: `${label} [{bar}] {value}/{total} znodes ({percentage}%)`,
      hideCursor: true,
      stream: process.stderr,
    })
    this.bar.start(total, 0)
  }

  increment(): void {
    this.bar?.increment()
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
