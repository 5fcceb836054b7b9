/**
 * A point to restore to, as the operator names it: a transaction (--to-zxid) or a time (--to-time),
 * inclusive unless --exclusive. Inclusive is the default because --to-zxid names the last
 * transaction you want kept (the zxid `zk history` prints for the last good change), and a time
 * means "the tree as it stood at that instant", its transactions included; pgBackRest's
 * --target-exclusive defaults to false (inclusive) for the same reasons.
 */
import {UsageError} from '../../errors.js'

export type PointTarget =
  /** A transaction: from --to-zxid, or resolved elsewhere (--before-change names the txn before a change; `label` says where it came from). */
  | {inclusive: boolean; kind: 'time'; label: string; time: number}
  /** An instant in ms since the epoch: the transactions at or before it (before it, exclusive) are kept. */
  | {inclusive: boolean; kind: 'zxid'; label: string; zxid: bigint}

export interface TargetFlags {
  exclusive?: boolean
  'to-time'?: string
  'to-zxid'?: string
}

/** The target of --to-zxid or --to-time (exactly one), or undefined when neither is given. */
export function parseTarget(flags: TargetFlags, now = Date.now()): PointTarget | undefined {
  const zxidText = flags['to-zxid']
  const timeText = flags['to-time']
  if (zxidText !== undefined && timeText !== undefined)
    throw new UsageError('Give one of --to-zxid and --to-time, not both')
  const inclusive = !flags.exclusive
  if (zxidText !== undefined)
    return {inclusive, kind: 'zxid', label: `--to-zxid ${zxidText.trim()}`, zxid: parseZxid(zxidText)}
  if (timeText !== undefined)
    return {inclusive, kind: 'time', label: `--to-time ${timeText.trim()}`, time: parseTime(timeText, now)}
  if (flags.exclusive) throw new UsageError('--exclusive is for --to-zxid or --to-time: add one of them')
  return undefined
}

/** A zxid as ZooKeeper prints it (0x1a2b) or in decimal. */
export function parseZxid(text: string, flag = 'to-zxid'): bigint {
  const trimmed = text.trim()
  if (/^0x[0-9a-f]{1,16}$/i.test(trimmed) || /^\d{1,20}$/.test(trimmed)) {
    const zxid = BigInt(trimmed)
    if (zxid > 0n && zxid < 2n ** 64n) return zxid
  }

  throw new UsageError(`Invalid --${flag} "${text}": use a zxid as ZooKeeper prints it (0x1a2b) or in decimal`)
}

const ISO_WITH_ZONE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:?\d{2})$/i
const AGO = /^(\d+(?:\.\d+)?)\s*(s|m|h|d)\s+ago$/i
const UNIT_MS: Record<string, number> = {d: 86_400_000, h: 3_600_000, m: 60_000, s: 1000}

/** An ISO 8601 time with Z or an offset (a time without its zone would depend on this machine's), or "15m ago". */
export function parseTime(text: string, now = Date.now(), flag = 'to-time'): number {
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

/** The target of `zk inspect --at`: a zxid (0x… or decimal) or a time, inclusive. */
export function parseAt(text: string, now = Date.now()): PointTarget {
  const trimmed = text.trim()
  if (/^(?:0x[0-9a-f]+|\d+)$/i.test(trimmed))
    return {inclusive: true, kind: 'zxid', label: `--at ${trimmed}`, zxid: parseZxid(trimmed, 'at')}
  return {inclusive: true, kind: 'time', label: `--at ${trimmed}`, time: parseTime(trimmed, now, 'at')}
}
