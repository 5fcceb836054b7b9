/** A snapshot or transaction log file: its base name (snapshot.1a2, snapshot.1a2.gz, log.1a3) and content. */
export interface DiskFile {
  bytes: Buffer
  name: string
}

export type SnapshotCompression = 'gzip' | 'none' | 'snappy'

const SNAPSHOT_NAME = /^snapshot\.([0-9a-f]{1,16})(?:\.(gz|snappy))?$/i
const LOG_NAME = /^log\.([0-9a-f]{1,16})$/i

/** The zxid and compression a snapshot's name gives (FileSnap names it after the last zxid it was started at). */
export function parseSnapshotName(name: string): undefined | {compression: SnapshotCompression; zxid: bigint} {
  const match = SNAPSHOT_NAME.exec(name)
  if (!match) return undefined
  const extension = match[2]?.toLowerCase()
  return {
    compression: extension === 'gz' ? 'gzip' : extension === 'snappy' ? 'snappy' : 'none',
    zxid: BigInt(`0x${match[1]}`),
  }
}

/** The zxid a log's name gives: that of its first transaction. */
export function parseLogName(name: string): bigint | undefined {
  const match = LOG_NAME.exec(name)
  return match ? BigInt(`0x${match[1]}`) : undefined
}
