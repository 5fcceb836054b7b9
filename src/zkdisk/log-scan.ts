/**
 * A transaction log's entries found and checked (txnlog.ts holds the format and what damage means),
 * from bytes held whole (scanTxnLog) or from a file read through one window (readLogFile), by the
 * one scanner: each entry's offset kept, each decoded only when asked for. A file's log is never
 * held whole: its window is all a replay keeps of it beside the tree, the decoded txns' data being
 * copies (JuteReader.buffer(true)).
 */
import {DiskFormatError, type DiskFormatErrorOptions} from './errors.js'
import {type DiskFile, parseLogName} from './files.js'
import {decodeTxn} from './txn.js'
import {
  cutShortReason,
  endOfNonZero,
  ENTRY_HEADER_LENGTH,
  entryDamage,
  HEADER_LENGTH,
  type LoggedTxn,
  readLogHeader,
  type TornTail,
  TXN_HEADER_LENGTH,
  ZXID_IN_ENTRY,
} from './txnlog.js'

interface TxnLogShape {
  dbid: bigint
  /** The byte offset after the last whole entry. */
  end: number
  name: string
  /** With `skipBefore`: the leading entries left undecoded (still checked whole), and the last one's zxid. */
  skipped?: {count: number; lastZxid: bigint}
  torn?: TornTail
  /** From the name: the zxid of its first transaction. */
  zxid: bigint
}

export interface TxnLogContent extends TxnLogShape {
  txns: LoggedTxn[]
}

/**
 * A log's whole entries, each checked (length, end byte, checksum) but decoded only when asked for:
 * a replay holds one decoded transaction at a time, not a log's worth (they all outlived the
 * young generation and were most of a replay's garbage).
 */
export interface TxnLogEntries extends TxnLogShape {
  /** The entries after the skipped ones. */
  count: number
  /** The last entry's zxid, undecoded. */
  lastZxid?: bigint
  /** The entry at `index` (0 to count - 1) decoded: a new object each time. */
  txn(index: number): LoggedTxn
}

export interface TxnLogOptions {
  /**
   * Leading entries whose zxid is below this are checked (length, end byte, checksum) but not
   * decoded: a replay from a snapshot skips them, and decoding them would cost as much as the replay.
   */
  skipBefore?: bigint
}

/** A log on disk: its size and positioned reads (as fs.readSync: into `target` from `position`, the count read). */
export interface LogFile {
  name: string
  read(target: Buffer, position: number, length: number): number
  size: number
}

export function readTxnLog(file: DiskFile, options: TxnLogOptions = {}): TxnLogContent {
  return decodeAll(scanTxnLog(file, options))
}

/** Every entry of a scanned log decoded. */
export function decodeAll(entries: TxnLogEntries): TxnLogContent {
  const {count, lastZxid: _lastZxid, txn, ...content} = entries
  return {...content, txns: Array.from({length: count}, (_, index) => txn(index))}
}

/** The log's entries checked whole and placed, decoded one at a time (TxnLogEntries). */
export function scanTxnLog(file: DiskFile, options: TxnLogOptions = {}): TxnLogEntries {
  return scanEntries(new HeldBytes(file.bytes), file.name, options)
}

const WINDOW = 4 * 1024 * 1024

/**
 * scanTxnLog of a file that is not held whole: read through a window of `windowBytes` (more only
 * for a longer entry), once to check and place the entries and again as they are decoded, and past
 * the last whole entry only to tell a torn tail (zeros after it) from corruption. The file must stay
 * readable while the entries are decoded; ZooKeeper only appends to a log, so the second read sees
 * the bytes the first checked. A file that shrinks while read ends where its reads did.
 */
export function readLogFile(file: LogFile, skipBefore?: bigint, windowBytes = WINDOW): TxnLogEntries {
  return scanEntries(new FileWindow(file, windowBytes), file.name, skipBefore === undefined ? {} : {skipBefore})
}

/**
 * A log's bytes by file offset: `bytes` holds [start, end) of them once cover(position, length)
 * said true. `size` is where the log ends (a file's size, or where a short read found it ending).
 */
interface LogBytes {
  bytes: Buffer
  cover(position: number, length: number): boolean
  readonly size: number
  start: number
}

class HeldBytes implements LogBytes {
  readonly size: number
  start = 0

  constructor(readonly bytes: Buffer) {
    this.size = bytes.length
  }

  cover(position: number, length: number): boolean {
    return position + length <= this.size
  }
}

class FileWindow implements LogBytes {
  bytes = Buffer.alloc(0)
  size: number
  start = 0
  private end = 0

  constructor(
    private readonly file: LogFile,
    private readonly windowBytes: number,
  ) {
    this.size = file.size
  }

  cover(position: number, length: number): boolean {
    if (position + length > this.size) return false
    if (position >= this.start && position + length <= this.end) return true
    if (this.bytes.length < length) this.bytes = Buffer.allocUnsafe(Math.max(this.windowBytes, length))
    const wanted = Math.min(this.bytes.length, this.size - position)
    const read = readFully(this.file, this.bytes, position, wanted)
    this.start = position
    this.end = position + read
    if (read < wanted) this.size = this.end
    return position + length <= this.end
  }
}

function readFully(file: LogFile, target: Buffer, position: number, length: number): number {
  let done = 0
  while (done < length) {
    const read = file.read(target.subarray(done, length), position + done, length - done)
    if (read === 0) break
    done += read
  }

  return done
}

function scanEntries(log: LogBytes, name: string, {skipBefore}: TxnLogOptions): TxnLogEntries {
  const zxid = parseLogName(name)
  if (zxid === undefined) throw new DiskFormatError(name, undefined, 'not a transaction log name (log.<hex zxid>)')
  const headerLength = Math.min(HEADER_LENGTH, log.size)
  log.cover(0, headerLength)
  const dbid = readLogHeader(log.bytes.subarray(0, Math.min(headerLength, log.bytes.length)), name)
  /** Each entry's offset, and after the last one the end of it. */
  const bounds: number[] = []
  let skipped: TxnLogShape['skipped']
  for (let offset = HEADER_LENGTH; ;) {
    const entry = probeEntry(log, name, offset)
    if (entry.state !== 'whole') {
      const torn = entry.state === 'torn' ? {torn: {offset, reason: entry.reason}} : {}
      return {
        ...placedEntries(log, name, bounds, offset),
        dbid,
        end: offset,
        name,
        zxid,
        ...(skipped ? {skipped} : {}),
        ...torn,
      }
    }

    const entryZxid = bounds.length === 0 ? skippableZxid(log, offset, entry.next, skipBefore) : undefined
    if (entryZxid === undefined) bounds.push(offset)
    else skipped = {count: (skipped?.count ?? 0) + 1, lastZxid: entryZxid}
    offset = entry.next
  }
}

type EntryProbe = {next: number; state: 'whole'} | {reason: string; state: 'torn'} | {state: 'end'}

/** The entry at `offset` (txnlog.ts's rules): whole, the end of the data, a torn tail, or corruption (thrown). */
function probeEntry(log: LogBytes, name: string, offset: number): EntryProbe {
  const damage = entryDamageAt(log, offset)
  if (!damage) return {next: offset + ENTRY_HEADER_LENGTH + lengthAt(log, offset) + 1, state: 'whole'}
  const dataEnd = endOfDataFrom(log, offset)
  if (dataEnd === undefined) return {state: 'end'}
  if (damage.end >= dataEnd) return {reason: damage.reason, state: 'torn'}
  throw new DiskFormatError(
    name,
    offset,
    `${damage.reason}, and non-zero bytes follow up to byte ${dataEnd}: the log is corrupt, not torn by a crash`,
  )
}

/** entryDamage of the entry at `offset`, its bytes covered (to the log's end when it runs past it), in log offsets. */
function entryDamageAt(log: LogBytes, offset: number): ReturnType<typeof entryDamage> {
  const headerBytes = Math.min(ENTRY_HEADER_LENGTH, log.size - offset)
  // A log that shrank while read is judged on what is left of it.
  if (!log.cover(offset, headerBytes)) return entryDamageAt(log, offset)
  const length = headerBytes === ENTRY_HEADER_LENGTH ? lengthAt(log, offset) : 0
  const span = length > 0 ? ENTRY_HEADER_LENGTH + length + 1 : headerBytes
  // An entry announced past the end is judged on its header: its bytes are neither read nor buffered.
  if (length > 0 && !log.cover(offset, span))
    return {end: log.size, reason: cutShortReason(length, log.size - offset - ENTRY_HEADER_LENGTH)}
  const at = offset - log.start
  const damage = entryDamage(log.bytes.subarray(at, at + span), 0)
  return damage && {end: offset + damage.end, reason: damage.reason}
}

function lengthAt(log: LogBytes, offset: number): number {
  return log.bytes.readInt32BE(offset - log.start + 8)
}

/** The offset after the last non-zero byte at or after `from`, undefined if there is none (read in windows). */
function endOfDataFrom(log: LogBytes, from: number): number | undefined {
  let dataEnd: number | undefined
  for (let position = from; position < log.size;) {
    const length = Math.min(ZERO_SCAN, log.size - position)
    if (!log.cover(position, length)) break
    const at = position - log.start
    const end = endOfNonZero(log.bytes.subarray(at, at + length))
    if (end > 0) dataEnd = position + end
    position += length
  }

  return dataEnd
}

/** How much of a log's tail endOfDataFrom covers at once. */
const ZERO_SCAN = 1024 * 1024

/** The zxid of the whole entry at `offset` when it is below `skipBefore` (and long enough to hold a header). */
function skippableZxid(
  log: LogBytes,
  offset: number,
  next: number,
  skipBefore: bigint | undefined,
): bigint | undefined {
  if (skipBefore === undefined || next - 1 - offset - ENTRY_HEADER_LENGTH < TXN_HEADER_LENGTH) return undefined
  const zxid = log.bytes.readBigUInt64BE(offset - log.start + ZXID_IN_ENTRY)
  return zxid < skipBefore ? zxid : undefined
}

function placedEntries(
  log: LogBytes,
  name: string,
  offsets: number[],
  end: number,
): Pick<TxnLogEntries, 'count' | 'lastZxid' | 'txn'> {
  const entryEnd = (index: number) => (index + 1 < offsets.length ? offsets[index + 1] : end)
  const last = offsets.at(-1)
  // An entry too short for a TxnHeader has no zxid: decoding it fails, as it always did.
  const lastZxid =
    last !== undefined && end - 1 - last - ENTRY_HEADER_LENGTH >= TXN_HEADER_LENGTH && log.cover(last, end - last)
      ? log.bytes.readBigUInt64BE(last - log.start + ZXID_IN_ENTRY)
      : undefined
  let failure = shiftedFailure(0)
  let failureStart = 0
  return {
    count: offsets.length,
    txn(index) {
      const offset = offsets[index]
      const next = entryEnd(index)
      if (!log.cover(offset, next - offset))
        throw new DiskFormatError(name, offset, 'the file shrank after its entries were checked: read it again')
      if (log.start !== failureStart) {
        failureStart = log.start
        failure = shiftedFailure(failureStart)
      }

      const at = offset - log.start
      return {offset, ...decodeTxn(log.bytes, name, at + ENTRY_HEADER_LENGTH, next - log.start - 1, failure)}
    },
    ...(lastZxid === undefined ? {} : {lastZxid}),
  }
}

/** Errors of a decode in a window, their offsets the file's. */
function shiftedFailure(start: number) {
  return (file: string, at: number, problem: string, truncated: boolean) =>
    new DiskFormatError(file, at + start, problem, {truncated} satisfies DiskFormatErrorOptions)
}
