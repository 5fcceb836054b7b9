/**
 * A point to restore to, as the operator names it: a transaction (--to-zxid) or a time (--to-time),
 * inclusive unless --exclusive. Inclusive is the default because --to-zxid names the last
 * transaction you want kept (the zxid `zk history` prints for the last good change), and a time
 * means "the tree as it stood at that instant", its transactions included; pgBackRest's
 * --target-exclusive defaults to false (inclusive) for the same reasons.
 */
import {UsageError} from '../../errors.js'
import {parseTime} from '../time.js'

export type PointTarget =
  /** A transaction: from --to-zxid, or resolved elsewhere (--before-change names the txn before a change; `label` says where it came from). */
  | {inclusive: boolean; kind: 'time'; label: string; time: number}
  /** An instant in ms since the epoch: the transactions at or before it (before it, exclusive) are kept. */
  | {inclusive: boolean; kind: 'zxid'; label: string; zxid: bigint}

export interface TargetFlags {
  exclusive?: boolean
  inclusive?: boolean
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
    return {inclusive, kind: 'time', label: `--to-time ${timeText.trim()}`, time: parseTime(timeText, now, 'to-time')}
  if (flags.exclusive || flags.inclusive)
    throw new UsageError(
      `--${flags.exclusive ? 'exclusive' : 'inclusive'} is for --to-zxid or --to-time: add one of them`,
    )
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

/** The target of `zk inspect --at`: a zxid (0x… or decimal) or a time, inclusive. */
export function parseAt(text: string, now = Date.now()): PointTarget {
  const trimmed = text.trim()
  if (/^(?:0x[0-9a-f]+|\d+)$/i.test(trimmed))
    return {inclusive: true, kind: 'zxid', label: `--at ${trimmed}`, zxid: parseZxid(trimmed, 'at')}
  return {inclusive: true, kind: 'time', label: `--at ${trimmed}`, time: parseTime(trimmed, now, 'at')}
}
