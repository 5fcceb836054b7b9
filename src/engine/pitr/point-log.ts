/**
 * The point's one new log: the raw entries after the base's snapshot up to the target, copied
 * byte for byte (each checked whole as it streams, see log-entries.ts) from the base's staged logs,
 * then the segments, behind a FileHeader of ZooKeeper's. Gaps and a target past the end refused.
 */
import {createReadStream} from 'node:fs'
import {open} from 'node:fs/promises'
import {join} from 'node:path'

import type {PointFiles} from './offline.js'
import type {StagedBase} from './staged-base.js'

import {OperationError} from '../../errors.js'
import {followsZxid, hexZxid} from '../../zk/zxid.js'
import {HEADER_LENGTH, LOG_MAGIC} from '../../zkdisk/txnlog.js'
import {logEntries} from './log-entries.js'

/** Where the entries come from, in order: the base's logs from the one holding the snapshot's zxid (as ZooKeeper picks them), then the segments. */
export function logSources(point: PointFiles, base: StagedBase, after: bigint): LogSource[] {
  const first = Math.max(
    0,
    base.logs.findLastIndex((log) => log.zxid <= after),
  )
  return [
    ...base.logs.slice(first).map((log) => ({
      name: `${log.name} of ${point.base.display}`,
      open: async () => createReadStream(join(base.dir, log.name)),
      segment: false,
    })),
    ...point.segments.map((segment) => ({name: segment.display, open: () => segment.read(), segment: true})),
  ]
}

interface LogSource {
  name: string
  open(): Promise<AsyncIterable<Buffer>>
  segment: boolean
}

export interface PointLog {
  /** The last transaction kept (the snapshot's zxid when none is). */
  last: bigint
  name?: string
  segmentsUsed: number
  txns: {fromBase: number; fromSegments: number}
}

/**
 * The entries after `after` up to `until`, from the sources in order (an entry already kept, or in
 * the snapshot, is skipped: a segment may start before the base's end), as one log in `dir`.
 * Refused when a transaction is missing before the cut, or the sources end before it.
 */
export async function writePointLog(
  sources: LogSource[],
  {after, dir, until}: {after: bigint; dir: string; until: bigint},
): Promise<PointLog> {
  const result: PointLog = {last: after, segmentsUsed: 0, txns: {fromBase: 0, fromSegments: 0}}
  let output: LogWriter | undefined
  let cut = false
  try {
    for (const source of sources) {
      let used = false
      for await (const entry of logEntries(await source.open(), source.name)) {
        if (entry.zxid <= result.last) continue
        if (!followsZxid(entry.zxid, result.last))
          throw new OperationError(
            `the transactions after ${hexZxid(result.last)} up to ${hexZxid(entry.zxid)} (in ${source.name}) are missing: the segments do not continue the base's logs, so no data directory at ${hexZxid(until)} can be made from them. Nothing was changed.`,
          )
        if (entry.zxid > until) {
          cut = true
          break
        }

        output ??= await LogWriter.create(dir, entry.zxid, entry.dbid)
        await output.append(entry.bytes)
        result.last = entry.zxid
        result.txns[source.segment ? 'fromSegments' : 'fromBase']++
        used = true
      }

      if (used && source.segment) result.segmentsUsed++
      if (cut) break
    }

    if (!cut && result.last < until)
      throw new OperationError(
        `the base and its segments end at ${hexZxid(result.last)}, before ${hexZxid(until)}: nothing was archived up to the target. Nothing was changed.`,
      )
    if (output) result.name = output.name
    return result
  } finally {
    await output?.close()
  }
}

/** A new log: ZooKeeper's FileHeader (ZKLG, version 2, the dbid), then raw entries, written in batches. */
class LogWriter {
  private pending: Buffer[] = []
  private pendingBytes = 0

  private constructor(
    readonly name: string,
    private readonly handle: Awaited<ReturnType<typeof open>>,
  ) {}

  static async create(dir: string, firstZxid: bigint, dbid: bigint): Promise<LogWriter> {
    const name = `log.${firstZxid.toString(16)}`
    const writer = new LogWriter(name, await open(join(dir, name), 'wx'))
    const header = Buffer.alloc(HEADER_LENGTH)
    header.writeUInt32BE(LOG_MAGIC, 0)
    header.writeInt32BE(LOG_VERSION, 4)
    header.writeBigUInt64BE(dbid, 8)
    await writer.append(header)
    return writer
  }

  async append(bytes: Buffer): Promise<void> {
    this.pending.push(bytes)
    this.pendingBytes += bytes.length
    if (this.pendingBytes >= BATCH_BYTES) await this.flush()
  }

  async close(): Promise<void> {
    try {
      await this.flush()
    } finally {
      await this.handle.close()
    }
  }

  private async flush(): Promise<void> {
    if (this.pendingBytes === 0) return
    const batch = Buffer.concat(this.pending)
    this.pending = []
    this.pendingBytes = 0
    await this.handle.write(batch)
  }
}

const LOG_VERSION = 2
const BATCH_BYTES = 1024 * 1024
