/**
 * The times `zk history --since/--until` take: ISO 8601 (a date-time without an offset is UTC, as
 * ZooKeeper's log times are shown), or a relative "15m ago" (s, m, h or d).
 */
import {UsageError} from '../../errors.js'

const AGO = /^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d)\s+ago\s*$/i
const ISO = /^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?$/i
const UNIT_MS: Record<string, number> = {d: 86_400_000, h: 3_600_000, m: 60_000, s: 1000}

export function parseTime(text: string, flag: string, now: Date = new Date()): Date {
  const ago = AGO.exec(text)
  if (ago) return new Date(now.getTime() - Number(ago[1]) * UNIT_MS[ago[2].toLowerCase()])
  const iso = ISO.exec(text.trim())
  const withZone = iso && text.includes(':') && !iso[1] ? `${text.trim()}Z` : text.trim()
  const time = iso ? Date.parse(withZone.replace(' ', 'T')) : Number.NaN
  if (Number.isNaN(time))
    throw new UsageError(
      `Invalid --${flag} "${text}": use an ISO 8601 time (2026-12-01T14:02:59Z, or with an offset) or a relative one (15m ago, 2h ago)`,
    )
  return new Date(time)
}
