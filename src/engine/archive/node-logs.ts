/**
 * A node's transaction logs as the archiver reads them: the names in version-2/ in zxid order, and
 * one log's whole, checksummed entries (wholeEntries decides where a log being appended stops).
 */
import {readdir, readFile} from 'node:fs/promises'
import {join} from 'node:path'

import {parseLogName} from '../../zkdisk/files.js'
import {ENTRY_HEADER_LENGTH, HEADER_LENGTH, wholeEntries, ZXID_IN_ENTRY} from '../../zkdisk/txnlog.js'

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

export interface NodeLog {
  bytes: Buffer
  entries: LogEntry[]
  firstZxid: bigint
  name: string
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

/** One log's whole entries; undefined when it was purged since it was listed. */
export async function readNodeLog(path: string, firstZxid: bigint): Promise<NodeLog | undefined> {
  const bytes = await readFile(path).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return undefined
    throw error
  })
  if (!bytes) return undefined
  const name = path.split('/').at(-1)!
  // A log just created may not hold its header yet: nothing to ship from it.
  if (bytes.length < LOG_HEADER_LENGTH || bytes.readUInt32BE(0) === 0) return {bytes, entries: [], firstZxid, name}
  const {end} = wholeEntries({bytes, name})
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

  return {bytes, entries, firstZxid, name}
}
