import {UsageError} from '../errors.js'

const UNITS: Record<string, number> = {'': 1000, h: 3_600_000, m: 60_000, ms: 1, s: 1000}

/**
 * Parses a duration flag: "30s", "5m", "1h", "500ms", or a plain number of seconds ("90", "0.5").
 * Returns milliseconds; anything else (or zero) is bad usage.
 */
export function parseDuration(text: string, flag: string): number {
  const match = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$/i.exec(text)
  const ms = match ? Number(match[1]) * UNITS[(match[2] ?? '').toLowerCase()] : Number.NaN
  if (!Number.isFinite(ms) || ms <= 0) {
    throw new UsageError(
      `Invalid --${flag} "${text}": use a duration such as 30s, 5m, 1h, 500ms or a number of seconds`,
    )
  }

  return Math.round(ms)
}

/** 90000 → "1m30s", 1500 → "1.5s": for messages. */
export function formatDuration(ms: number): string {
  if (ms < 60_000) return `${Number((ms / 1000).toFixed(1))}s`
  const hours = Math.floor(ms / 3_600_000)
  const minutes = Math.floor((ms % 3_600_000) / 60_000)
  const seconds = Math.round((ms % 60_000) / 1000)
  return `${hours ? `${hours}h` : ''}${minutes ? `${minutes}m` : ''}${seconds ? `${seconds}s` : ''}`
}
