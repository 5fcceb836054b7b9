import {closeSync, existsSync, openSync, readFileSync, readSync, statSync} from 'node:fs'
import {readdir} from 'node:fs/promises'
import {basename, join} from 'node:path'

import {OperationError, UsageError} from '../errors.js'
import {readLogFile, type TxnLogEntries} from './log-scan.js'
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
  for (const name of await fileNames(snapshotDir))
    if (name.startsWith('snapshot.')) paths.set(name, join(snapshotDir, name))
  const notes: string[] = []
  const source = stateSource([...paths.keys()], (name) => readFileSync(paths.get(name)!), notes)
  return replayState({...source, readLog: (name, skipBefore) => readLogAt(paths.get(name)!, name, skipBefore)}, notes)
}

/** `dir` itself when it is a version-2/ directory, else its version-2/; a UsageError when it has none. */
export function versionDirectory(dir: string): string {
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

/**
 * A log read in place as `name`: only a window of it is held (see readLogFile). Each read opens the
 * file again, as its entries are decoded after this returns: no descriptor is left for a caller to close.
 */
export function readLogAt(path: string, name: string, skipBefore: bigint | undefined): 'empty' | TxnLogEntries {
  const {size} = statSync(path)
  if (size === 0) return 'empty'
  return readLogFile(
    {name, read: (target, position, length) => readAt(path, target, position, length), size},
    skipBefore,
  )
}

function readAt(path: string, target: Buffer, position: number, length: number): number {
  let fd: number
  try {
    fd = openSync(path, 'r')
  } catch (error) {
    const {code, message} = error as NodeJS.ErrnoException
    throw new OperationError(`${path} could not be read again (${code ?? message}): if autopurge removed it, run again`)
  }

  try {
    return readSync(fd, target, 0, length, position)
  } finally {
    closeSync(fd)
  }
}
