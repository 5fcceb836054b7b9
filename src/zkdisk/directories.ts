import {closeSync, existsSync, fstatSync, openSync, readFileSync, readSync, statSync} from 'node:fs'
import {readdir} from 'node:fs/promises'
import {basename, join} from 'node:path'

import {UsageError} from '../errors.js'
import {type DiskState, replayState, stateSource} from './state.js'

const VERSION_DIRECTORY = 'version-2'

/**
 * The state of a stopped server's data directory (snapshots) and transaction log directory (logs,
 * default: the data directory), each given as the directory of zoo.cfg (holding version-2/) or as
 * its version-2/ itself. Only the files the replay needs are read.
 */
export async function loadStateFromDirectories(dataDir: string, logDir?: string): Promise<DiskState> {
  const snapshotDir = versionDirectory(dataDir)
  const logsDir = logDir === undefined ? snapshotDir : versionDirectory(logDir)
  const paths = new Map<string, string>()
  for (const name of await fileNames(logsDir)) if (name.startsWith('log.')) paths.set(name, join(logsDir, name))
  for (const name of await fileNames(snapshotDir)) if (name.startsWith('snapshot.')) paths.set(name, join(snapshotDir, name))
  const notes: string[] = []
  const read = (name: string) => (name.startsWith('log.') ? readPreallocated(paths.get(name)!) : readFileSync(paths.get(name)!))
  return replayState(stateSource([...paths.keys()], read, notes), notes)
}

function versionDirectory(dir: string): string {
  if (basename(dir) === VERSION_DIRECTORY && isDirectory(dir)) return dir
  const nested = join(dir, VERSION_DIRECTORY)
  if (isDirectory(nested)) return nested
  const what = existsSync(dir) ? `has no ${VERSION_DIRECTORY}/ directory` : 'does not exist'
  throw new UsageError(`${dir} is not a ZooKeeper data or log directory: it ${what}`)
}

function isDirectory(path: string): boolean {
  return statSync(path, {throwIfNoEntry: false})?.isDirectory() ?? false
}

async function fileNames(dir: string): Promise<string[]> {
  const entries = await readdir(dir, {withFileTypes: true})
  return entries.filter((entry) => entry.isFile()).map((entry) => entry.name)
}

const CHUNK = 1024 * 1024
const ZERO_CHUNK = Buffer.alloc(CHUNK)

/**
 * A log's bytes, its preallocated zeros never written into memory: the buffer starts zeroed (its
 * pages are the system's until written) and only chunks holding a non-zero byte are copied into it.
 * ZooKeeper grows each log by 64 MiB of zeros: read whole, they were resident beside the tree.
 */
function readPreallocated(path: string): Buffer {
  const fd = openSync(path, 'r')
  try {
    const bytes = Buffer.alloc(fstatSync(fd).size)
    const chunk = Buffer.allocUnsafe(CHUNK)
    let position = 0
    while (position < bytes.length) {
      const read = readSync(fd, chunk, 0, Math.min(CHUNK, bytes.length - position), position)
      if (read === 0) break
      if (!chunk.subarray(0, read).equals(ZERO_CHUNK.subarray(0, read))) chunk.copy(bytes, position, 0, read)
      position += read
    }

    return position === bytes.length ? bytes : bytes.subarray(0, position)
  } finally {
    closeSync(fd)
  }
}
