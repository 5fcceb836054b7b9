/**
 * A node's transaction logs as the archiver reads them: the names in version-2/ in zxid order, and
 * one log's whole, checksummed entries (wholeEntries decides where a log being appended stops).
 */
import {type FileHandle, open, readdir} from 'node:fs/promises'
import {join} from 'node:path'

import {parseLogName} from '../../zkdisk/files.js'
import {ENTRY_HEADER_LENGTH, entryCutAt, HEADER_LENGTH, wholeEntries, ZXID_IN_ENTRY} from '../../zkdisk/txnlog.js'

/** The FileHeader of a log: int magic "ZKLG", int version, long dbid. */
export const LOG_HEADER_LENGTH = HEADER_LENGTH
/** The TxnHeader's time follows its zxid. */
const TIME_IN_ENTRY = ZXID_IN_ENTRY + 8

export interface LogEntry {
  /** Byte offsets of the whole entry (checksum, length, txn, 0x42) in its log. */
  end: number
  start: number
  /** Milliseconds since the epoch. */
  time: bigint
  zxid: bigint
}

/** The log files of `logDir/version-2`, oldest first. */
export async function listLogs(logDir: string): Promise<Array<{firstZxid: bigint; path: string}>> {
  const dir = join(logDir, 'version-2')
  const names = await readdir(dir)
  return names
    .map((name) => ({firstZxid: parseLogName(name), path: join(dir, name)}))
    .filter((log): log is {firstZxid: bigint; path: string} => log.firstZxid !== undefined)
    .sort((a, b) => (a.firstZxid < b.firstZxid ? -1 : a.firstZxid > b.firstZxid ? 1 : 0))
}

/**
 * Where the running archiver's last read of a log stopped: the offset of its last whole entry, so
 * that the next step reads from there rather than the whole log again. Kept only while the file is
 * the same (device, inode, header) and the entry there is still the one read.
 */
export interface LogMark {
  dev: number
  header: Buffer
  ino: number
  /** Offset of the last whole entry read, and its zxid. */
  lastStart: number
  lastZxid: bigint
}

/** A log read as the header followed by the bytes from some offset on; entries' offsets are into `bytes`. */
export interface NodeLog {
  bytes: Buffer
  entries: LogEntry[]
  firstZxid: bigint
  name: string
  /** Bytes read from the file for it. */
  readBytes: number
}

/** The first read of a log's tail; doubled while an entry is cut at its end. */
const FIRST_READ_BYTES = 64 * 1024

/**
 * One log's whole entries after its mark (all of them without one, or when the file changed);
 * undefined when it was purged since it was listed. `marks` is updated to where this read stopped.
 * The mark is used only when its entry is at or before `after`, the txn shipping continues from.
 */
export async function readNodeLog(
  path: string,
  firstZxid: bigint,
  {after, marks}: {after?: bigint; marks?: Map<string, LogMark>} = {},
): Promise<NodeLog | undefined> {
  const file = await open(path, 'r').catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return undefined
    throw error
  })
  if (!file) return undefined
  const name = path.split('/').at(-1)!
  try {
    const stats = await file.stat()
    const header = Buffer.alloc(LOG_HEADER_LENGTH)
    const {bytesRead} = await file.read(header, 0, LOG_HEADER_LENGTH, 0)
    // A log just created may not hold its header yet: nothing to ship from it.
    if (bytesRead < LOG_HEADER_LENGTH || header.readUInt32BE(0) === 0)
      return {bytes: header.subarray(0, bytesRead), entries: [], firstZxid, name, readBytes: bytesRead}
    const mark = marks?.get(path)
    const usable =
      mark &&
      mark.ino === stats.ino &&
      mark.dev === stats.dev &&
      mark.header.equals(header) &&
      mark.lastStart < stats.size &&
      (after === undefined || mark.lastZxid <= after)
    let log = await readFrom(file, usable ? mark.lastStart : LOG_HEADER_LENGTH, stats.size, header, name)
    // Rewritten in place, or cut: the entry at the mark is not the one read; read it whole again.
    if (usable && log.entries[0]?.zxid !== mark.lastZxid)
      log = await readFrom(file, LOG_HEADER_LENGTH, stats.size, header, name)
    const last = log.entries.at(-1)
    if (marks && last)
      marks.set(path, {
        dev: stats.dev,
        header,
        ino: stats.ino,
        lastStart: log.offset + last.start - LOG_HEADER_LENGTH,
        lastZxid: last.zxid,
      })
    return {bytes: log.bytes, entries: log.entries, firstZxid, name, readBytes: log.readBytes}
  } finally {
    await file.close()
  }
}

/** The whole entries from `offset`, read in growing chunks until one ends in zeros or a torn entry, not a cut one. */
async function readFrom(
  file: FileHandle,
  offset: number,
  size: number,
  header: Buffer,
  name: string,
): Promise<{bytes: Buffer; entries: LogEntry[]; offset: number; readBytes: number}> {
  let readBytes = LOG_HEADER_LENGTH
  for (let length = Math.min(FIRST_READ_BYTES, size - offset); ; length = Math.min(length * 2, size - offset)) {
    const chunk = Buffer.alloc(length)
    const {bytesRead} = await file.read(chunk, 0, length, offset)
    readBytes += bytesRead
    const bytes = Buffer.concat([header, chunk.subarray(0, bytesRead)])
    const {end} = wholeEntries({bytes, name})
    // A short read is a file cut since its stat: what was read is all there is.
    if (bytesRead < length || offset + bytesRead >= size || !entryCutAt(bytes, end))
      return {bytes, entries: entriesOf(bytes, end), offset, readBytes}
  }
}

function entriesOf(bytes: Buffer, end: number): LogEntry[] {
  const entries: LogEntry[] = []
  for (let offset = LOG_HEADER_LENGTH; offset < end;) {
    const next = offset + ENTRY_HEADER_LENGTH + bytes.readInt32BE(offset + 8) + 1
    entries.push({
      end: next,
      start: offset,
      time: bytes.readBigInt64BE(offset + TIME_IN_ENTRY),
      zxid: bytes.readBigUInt64BE(offset + ZXID_IN_ENTRY),
    })
    offset = next
  }

  return entries
}
