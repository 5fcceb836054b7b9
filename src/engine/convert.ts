import type {Readable} from 'node:stream'

/**
 * A data directory's state (ZooKeeper's snapshot plus the logs after it, replayed by src/zkdisk) as
 * an online-format archive: what `dcos zk convert` writes and `dcos zk inspect --tree` reads (an
 * online `dcos zk restore` of a data-directory archive reads the replayed state itself: online-source.ts).
 */
import {basename} from 'node:path'

import type {StorageProvider} from '../providers/types.js'

import {readDataDirArchive} from '../archive/datadir.js'
import {type ArchiveHeader, FORMAT_NAME, FORMAT_VERSION, hexZxid, type Manifest} from '../archive/format.js'
import {ArchiveWriter} from '../archive/writer.js'
import {UsageError} from '../errors.js'
import {relativeZnodePath, validateZnodePath} from '../zk/uri.js'
import {type DiskFile, type DiskState, type DiskZnode, loadState, loadStateFromDirectories} from '../zkdisk/index.js'
import {toDiskZnode} from '../zkdisk/znode.js'
import {openArchive} from './open-archive.js'
import {TOOL} from './version.js'
import {recordOfNode} from './znode-record.js'

const STATE_FILE = /^(?:snapshot|log)\.[0-9a-f]+$/i

/** Reads the snapshots and logs of a data-directory archive (checked as an offline restore checks it) and replays them. */
export async function loadDataDirArchive(input: Readable, location: string): Promise<DiskState> {
  return loadState(await readDataDirStateFiles(input, location))
}

/** The snapshots and logs of a data-directory archive (checked as an offline restore checks it), by their base names. */
export async function readDataDirStateFiles(input: Readable, location: string): Promise<DiskFile[]> {
  const files: DiskFile[] = []
  const contents = new Map<string, FileContent>()
  await readDataDirArchive(input, location, {
    onData(member, chunk) {
      if (!isStateFile(member.name)) return
      if (!contents.has(member.name)) contents.set(member.name, new FileContent())
      contents.get(member.name)!.add(chunk)
    },
    onEnd(member) {
      const content = contents.get(member.name)
      if (content) files.push({bytes: content.bytes(), name: basename(member.name)})
      contents.delete(member.name)
    },
  })
  return files
}

const ZEROS = Buffer.alloc(64 * 1024)
/** Zero bytes kept at the end of a file: enough for a log's end-of-entries marker (a zero checksum and length). */
const KEPT_TRAILING_ZEROS = 4096

/**
 * A file's bytes without most of its trailing zeros: ZooKeeper preallocates each log to 64 MiB of
 * zeros, and holding that per log would make memory grow with the number of logs, not their content.
 */
class FileContent {
  private readonly chunks: Buffer[] = []
  private zeros = 0

  add(chunk: Buffer): void {
    if (isAllZero(chunk)) {
      this.zeros += chunk.length
      return
    }

    if (this.zeros > 0) this.chunks.push(Buffer.alloc(this.zeros))
    this.zeros = 0
    this.chunks.push(chunk)
  }

  bytes(): Buffer {
    return Buffer.concat([...this.chunks, Buffer.alloc(Math.min(this.zeros, KEPT_TRAILING_ZEROS))])
  }
}

function isAllZero(chunk: Buffer): boolean {
  for (let offset = 0; offset < chunk.length; offset += ZEROS.length) {
    const part = chunk.subarray(offset, offset + ZEROS.length)
    if (!part.equals(ZEROS.subarray(0, part.length))) return false
  }

  return true
}

function isStateFile(name: string): boolean {
  return name.includes('/version-2/') && STATE_FILE.test(basename(name))
}

export interface StateArchiveOptions {
  destination: StorageProvider
  /** The subtree to write, default "/". */
  from?: string
  overwrite?: boolean
  /** Where the state came from, for the archive's header. */
  sourceDisplay: string
  state: DiskState
}

/**
 * Writes the subtree `from` of `state` as an online-format archive, parents before children, without
 * ephemerals (their sessions are gone) and without ZooKeeper's own /zookeeper, as an online backup would.
 */
export async function writeStateArchive(options: StateArchiveOptions): Promise<Manifest> {
  const {destination, state} = options
  const from = validateZnodePath(options.from ?? '/')
  if (!state.znodes.has(from))
    throw new UsageError(`${options.sourceDisplay} holds no znode at ${from} (state at zxid ${hexZxid(state.zxid)})`)
  if (!options.overwrite && (await destination.stat())) {
    throw new UsageError(`${destination.display} already exists: choose another location or pass --force to replace it`)
  }

  const zxid = hexZxid(state.zxid)
  const header: ArchiveHeader = {
    createdAt: new Date().toISOString(),
    format: FORMAT_NAME,
    formatVersion: FORMAT_VERSION,
    options: {exclude: [], includeEphemerals: false},
    source: {convertedFrom: options.sourceDisplay, hosts: [], root: from},
    tool: TOOL,
    zxidStart: zxid,
  }
  const writer = new ArchiveWriter(header)
  const written = destination.write(writer.output, {overwrite: options.overwrite})
  written.catch((error: Error) => writer.abort(error))
  try {
    const counts = {dataBytes: 0, skippedEphemerals: 0, znodes: 0}
    for (const [path, node] of state.walk(from)) {
      const record = recordOfNode(path, node)
      if (record.type === 'ephemeral') {
        counts.skippedEphemerals++
        continue
      }

      const {data} = node
      // Awaited only when the stream is full: an await of nothing still costs a turn per znode.
      const full = writer.addZnode(relativeZnodePath(from, path)!, record, data)
      if (full) await full
      counts.znodes++
      counts.dataBytes += data.length
    }

    const manifest = await writer.finish({
      ...counts,
      changedDuringBackup: 0,
      completedAt: new Date().toISOString(),
      excluded: 0,
      inconsistent: [],
      inconsistentCount: 0,
      vanished: 0,
      zxidEnd: zxid,
    })
    await written
    return manifest
  } catch (error) {
    writer.abort(error as Error)
    await written.catch(() => {})
    throw error
  }
}

/** The znodes under `root` in depth-first order, children sorted, without /zookeeper: the user's tree, as a walk sees it. */
export function* znodesUnder(state: DiskState, root: string): Generator<DiskZnode> {
  for (const [path, node] of state.walk(root)) yield toDiskZnode(path, node)
}

/**
 * The state of a data directory given as a local directory (dataDir, or its version-2/, with an
 * optional separate log directory) or as a data-directory archive at any storage location.
 */
export async function loadStateFrom(location: string, logDir?: string): Promise<{display: string; state: DiskState}> {
  const opened = await openArchive(location, logDir)
  if (opened.kind === 'directory')
    return {display: opened.display, state: await loadStateFromDirectories(opened.dataDir, opened.logDir)}
  if (opened.kind === 'online') {
    opened.source.release()
    throw new UsageError(`${opened.display} is not a data-directory archive (dcos-zk layout) or a data directory`)
  }

  return {display: opened.display, state: await loadDataDirArchive(await opened.source.read(), opened.display)}
}
