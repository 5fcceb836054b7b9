import {UsageError} from '../errors.js'

/** A UTC time for file names: 20261121T141410Z. */
export function compactUtc(date: Date): string {
  return date
    .toISOString()
    .replaceAll(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z')
}

const ISO_WITH_ZONE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:?\d{2})$/i
const AGO = /^(\d+(?:\.\d+)?)\s*(s|m|h|d)\s+ago$/i
const UNIT_MS: Record<string, number> = {d: 86_400_000, h: 3_600_000, m: 60_000, s: 1000}

/**
 * A time flag (--to-time, --at, --since, --until) in ms since the epoch: ISO 8601 with Z or an
 * offset, or "15m ago" (s, m, h, d). A time without its zone is refused: read as this machine's
 * zone or as UTC, it is an hour or more off for someone, and in an incident that is the wrong state.
 */
export function parseTime(text: string, now: number, flag: string): number {
  const trimmed = text.trim()
  const ago = AGO.exec(trimmed)
  if (ago) return Math.round(now - Number(ago[1]) * UNIT_MS[ago[2].toLowerCase()])
  if (ISO_WITH_ZONE.test(trimmed)) {
    // Date.parse takes +01:00 but not +0100; more than milliseconds it cannot hold.
    const normalized = trimmed
      .replace(/([+-]\d{2})(\d{2})$/, '$1:$2')
      .replace(/(\.\d{3})\d+/, '$1')
      .toUpperCase()
    const ms = Date.parse(normalized)
    if (Number.isFinite(ms)) return ms
  }

  throw new UsageError(
    `Invalid --${flag} "${text}": use an ISO 8601 time with its zone (2026-12-01T14:02:59.123Z, 2026-12-01T15:02:59+01:00) or a time ago (15m ago, 2h ago)`,
  )
}
