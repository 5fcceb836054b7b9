import {JuteReader} from '../jute/reader.js'
import {hexZxid} from '../zk/zxid.js'
/**
 * ZooKeeper's transaction logs (FileTxnLog): a FileHeader (int magic "ZKLG", int version, long dbid),
 * then entries of (long Adler-32 of the transaction bytes, int length, the transaction bytes, the
 * end-of-record byte 0x42 'B'). Logs are preallocated: zero bytes follow the last entry.
 *
 * Where the entries end, and what a damaged entry means:
 *  - at an entry boundary, nothing but zero bytes (or nothing at all) to the end of the file: the end;
 *  - an entry that is cut short by the end of the file, lacks its 0x42, has an impossible length or a
 *    wrong checksum, with nothing but zero bytes after it: a torn tail, as a crash during a write
 *    leaves it. The log is read up to the last whole transaction and `torn` says where it stopped;
 *  - the same damage with any non-zero byte after it: corruption, a DiskFormatError naming the entry's
 *    offset. (ZooKeeper itself stops reading a log at the first entry without its 0x42 or with a zero
 *    length, whatever follows, and refuses to start on a checksum mismatch.)
 */
import {adler32} from './adler32.js'
import {DiskFormatError, diskFormatFailure} from './errors.js'
import {type DiskFile} from './files.js'
import {type DecodedTxn} from './txn.js'

export const LOG_MAGIC = 0x5a_4b_4c_47 // "ZKLG"
/** The FileHeader: int magic, int version, long dbid. */
export const HEADER_LENGTH = 16
/** Each entry's checksum (long) and length (int), before its txn. */
export const ENTRY_HEADER_LENGTH = 12
const END_OF_RECORD = 0x42

export interface LoggedTxn extends DecodedTxn {
  /** The byte offset of its entry in the log. */
  offset: number
}

export interface TornTail {
  /** The byte offset of the damaged entry: the log was read up to there. */
  offset: number
  reason: string
}

/** The TxnHeader's first fields (long clientId, int cxid, long zxid, long time, int type): what a skipped entry must hold. */
export const TXN_HEADER_LENGTH = 28
export const ZXID_IN_ENTRY = ENTRY_HEADER_LENGTH + 12

export function readLogHeader(bytes: Buffer, name: string): bigint {
  if (bytes.length < HEADER_LENGTH) {
    throw new DiskFormatError(
      name,
      0,
      `truncated: ${bytes.length} bytes, less than the ${HEADER_LENGTH}-byte file header`,
      {truncated: true},
    )
  }

  const reader = new JuteReader(bytes, name, diskFormatFailure())
  const magic = reader.int()
  if (magic !== LOG_MAGIC)
    reader.fail(`bad magic 0x${(magic >>> 0).toString(16)}, not a ZooKeeper transaction log ("ZKLG")`, 0)
  reader.int() // the version: FileTxnLog does not check it either
  return reader.long()
}

/** What is wrong with the entry at `offset`, and where it ends (the file's end if it is cut short); undefined if it is whole. */
export function entryDamage(bytes: Buffer, offset: number): undefined | {end: number; reason: string} {
  const left = bytes.length - offset - ENTRY_HEADER_LENGTH
  if (left < 0) return {end: bytes.length, reason: 'the file ends inside the entry header'}
  const stored = bytes.readBigUInt64BE(offset)
  const length = bytes.readInt32BE(offset + 8)
  if (length <= 0) return {end: offset + ENTRY_HEADER_LENGTH, reason: `invalid entry length ${length}`}
  if (length + 1 > left) return {end: bytes.length, reason: cutShortReason(length, left)}
  const start = offset + ENTRY_HEADER_LENGTH
  const end = start + length + 1
  if (bytes[end - 1] !== END_OF_RECORD) return {end, reason: 'the entry lacks its end-of-record byte 0x42'}
  const computed = BigInt(adler32(bytes, start, end - 1))
  if (computed !== stored)
    return {
      end,
      reason: `Adler-32 checksum mismatch in the entry: stored ${hexZxid(stored)}, computed ${hexZxid(computed)}`,
    }
  return undefined
}

export function cutShortReason(length: number, left: number): string {
  return `the file ends inside the entry (${length} bytes announced, ${left} left)`
}

const ZERO_CHUNK = Buffer.alloc(64 * 1024)

/** The offset after the last non-zero byte (0 if there is none), scanning back over the zero padding in chunks. */
export function endOfNonZero(bytes: Buffer): number {
  let end = bytes.length
  while (end > 0) {
    const start = Math.max(0, end - ZERO_CHUNK.length)
    if (!bytes.subarray(start, end).equals(ZERO_CHUNK.subarray(0, end - start))) break
    end = start
  }

  while (end > 0 && bytes[end - 1] === 0) end--
  return end
}

export interface WholeEntries {
  /** The offset after the last non-zero byte (of the bytes read): beyond `end`, a torn or still-written entry. */
  dataEnd: number
  /** The byte offset after the last whole, checksummed entry: a copy cut there is a log ZooKeeper loads. */
  end: number
  /** The last whole entry's transaction: its zxid and time (ms since the epoch). */
  last?: {time: bigint; zxid: bigint}
}

/**
 * How far a log that may still be appended to can be copied: its entries up to the first one that
 * is not whole (cut short, no 0x42, a wrong checksum), whatever follows. Unlike readTxnLog it never
 * throws for damage after the header and decodes nothing but the last entry's zxid and time.
 */
export function wholeEntries(file: DiskFile): WholeEntries {
  readLogHeader(file.bytes, file.name)
  const {bytes} = file
  const dataEnd = endOfNonZero(bytes)
  let last: WholeEntries['last']
  let offset = HEADER_LENGTH
  while (offset < dataEnd && !entryDamage(bytes, offset)) {
    const next = offset + ENTRY_HEADER_LENGTH + bytes.readInt32BE(offset + 8) + 1
    if (next - 1 - offset - ENTRY_HEADER_LENGTH >= TXN_HEADER_LENGTH) {
      last = {
        time: bytes.readBigInt64BE(offset + ZXID_IN_ENTRY + 8),
        zxid: bytes.readBigUInt64BE(offset + ZXID_IN_ENTRY),
      }
    }

    offset = next
  }

  return {dataEnd: Math.max(dataEnd, HEADER_LENGTH), end: offset, ...(last ? {last} : {})}
}

/** How much of a log wholeEntriesOfRanges reads at once (more only for an entry longer than this). */
const RANGE_BYTES = 1024 * 1024

/**
 * wholeEntries of a file of `size` bytes read in ranges of about 1 MiB, front to back: the same cut
 * and last transaction as reading it whole, holding one range (or one entry, if longer) at a time,
 * and reading neither the preallocated zero tail (64 MiB a log by default) nor anything twice.
 * dataEnd is that of the bytes read: up to the range that holds the cut.
 */
export function wholeEntriesOfRanges(
  name: string,
  size: number,
  readAt: (position: number, length: number) => Buffer,
): WholeEntries {
  readLogHeader(readAt(0, Math.min(HEADER_LENGTH, size)), name)
  let range: {at: number; bytes: Buffer} = {at: 0, bytes: Buffer.alloc(0)}
  /** The bytes [position, position + length) of the file, or fewer where it ends. */
  const view = (position: number, length: number): Buffer => {
    const wanted = Math.min(length, size - position)
    if (position < range.at || position + wanted > range.at + range.bytes.length)
      range = {at: position, bytes: readAt(position, Math.min(Math.max(wanted, RANGE_BYTES), size - position))}
    return range.bytes.subarray(position - range.at, position - range.at + wanted)
  }

  let last: WholeEntries['last']
  let offset = HEADER_LENGTH
  for (;;) {
    const header = view(offset, ENTRY_HEADER_LENGTH)
    if (header.length < ENTRY_HEADER_LENGTH) break
    const length = header.readInt32BE(8)
    if (length <= 0) break
    const entry = view(offset, ENTRY_HEADER_LENGTH + length + 1)
    if (entryDamage(entry, 0)) break
    if (length >= TXN_HEADER_LENGTH)
      last = {time: entry.readBigInt64BE(ZXID_IN_ENTRY + 8), zxid: entry.readBigUInt64BE(ZXID_IN_ENTRY)}
    offset += entry.length
  }

  return {dataEnd: Math.max(range.at + endOfNonZero(range.bytes), HEADER_LENGTH), end: offset, ...(last ? {last} : {})}
}

/** Whether the entry at `offset` runs past the bytes: more must be read to know whether it is whole. */
export function entryCutAt(bytes: Buffer, offset: number): boolean {
  return (
    offset + ENTRY_HEADER_LENGTH > bytes.length ||
    offset + ENTRY_HEADER_LENGTH + bytes.readInt32BE(offset + 8) + 1 > bytes.length
  )
}
