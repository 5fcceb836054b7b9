/**
 * The offline restore: a data-directory archive into a stopped node's directories, checked whole
 * first; the previous directories are moved aside (kept as safety copies) and put back on failure.
 */
import {
  closeSync,
  copyFileSync,
  existsSync,
  chownSync as fsChownSync,
  constants as fsConstants,
  futimesSync,
  mkdirSync,
  openSync,
  writeSync,
} from 'node:fs'
import {chown, lstat, mkdir, readdir, realpath, rename, rm, stat, statfs} from 'node:fs/promises'
import {basename, dirname, join, resolve} from 'node:path'

import type {StorageProvider} from '../../providers/types.js'

import {
  type ArchiveSummary,
  type CheckedMember,
  DataDirArchiveError,
  excludedName,
  isStateFile,
  type MemberInfo,
  readDataDirArchive,
  SNAPSHOT,
  TRANSACTIONS,
} from '../../archive/datadir.js'
import {errorMessage, OperationError, UsageError} from '../../errors.js'
import {compactUtc} from '../time.js'
import {type DataDirTransfer, requireDirectory} from './directories.js'
import {withDirectoryLock} from './lockfile.js'
import {checkNotRunning, type RunningCheckOptions} from './running.js'

export interface DataDirRestoreOptions extends RunningCheckOptions {
  dataDir: string
  /** Restore into directories that hold other files than ZooKeeper's. */
  force?: boolean
  /** Overrides the free bytes of the target file systems (tests). */
  freeBytes?: number
  logDir?: string
  now?: () => Date
  onMember?: (member: MemberInfo) => void
  /** Phases, for progress and messages. */
  onPhase?: (phase: 'extract' | 'validate') => void
  /** Called with each archive member that is not extracted (myid: the node keeps its own). */
  onSkip?: (member: MemberInfo, reason: string) => void
  source: StorageProvider
}

export interface DataDirRestoreResult extends DataDirTransfer {
  /** True when our manifest's sizes and SHA-256s were checked; false for dcos-zk's archives. */
  checksummed: boolean
  durationMs: number
  /** The node's myid copied from the safety copy (an archive's myid is never extracted). */
  myidFromSafetyCopy: boolean
  /** The archive carried a myid, which was not extracted. */
  myidSkipped: boolean
  /** Where the previous directories were moved (kept after a successful restore). */
  safetyCopies: string[]
}

/** Margin of free space above the archive's uncompressed size. */
export function spaceMargin(totalBytes: number): number {
  return Math.max(16 * 1024 * 1024, Math.ceil(totalBytes * 0.05))
}

export async function restoreDataDir(options: DataDirRestoreOptions): Promise<DataDirRestoreResult> {
  const started = Date.now()
  await checkNotRunning(options)
  // Real paths: a symlinked directory is restored where it points, and the link stays.
  const dataDir = await realDirectory(resolve(options.dataDir))
  const logDir = await realDirectory(resolve(options.logDir ?? options.dataDir))
  const separate = dataDir !== logDir
  if (separate && (dataDir.startsWith(`${logDir}/`) || logDir.startsWith(`${dataDir}/`))) {
    throw new UsageError('the data directory and the log directory must not be inside one another')
  }

  await requireDirectory(dirname(dataDir), 'parent directory')
  const locked = (use: () => Promise<DataDirRestoreResult>) =>
    withDirectoryLock(dataDir, separate ? () => withDirectoryLock(logDir, use) : use)
  return locked(() => restoreInto(options, {dataDir, logDir, separate, started}))
}

async function restoreInto(
  options: DataDirRestoreOptions,
  {dataDir, logDir, separate, started}: {dataDir: string; logDir: string; separate: boolean; started: number},
): Promise<DataDirRestoreResult> {
  for (const dir of separate ? [dataDir, logDir] : [dataDir]) {
    await requireDirectory(dirname(dir), 'parent directory')
    const info = await lstat(dir).catch(() => undefined)
    if (info && !info.isDirectory()) throw new UsageError(`${dir} is not a directory`)
    if (info && info.dev !== (await stat(dirname(dir))).dev) {
      throw new UsageError(
        `${dir} is a mount point: a restore moves the directory aside by renaming it, which a mount point does not allow; restore into a directory inside it (and point ZooKeeper there). Nothing was changed`,
      )
    }
  }

  if (!options.force) {
    await requireZooKeeperDirectory(dataDir, 'data')
    if (separate) await requireZooKeeperDirectory(logDir, 'log')
  }

  const location = options.source.display
  options.onPhase?.('validate')
  const summary = await readDataDirArchive(await options.source.read(), location, {separateLog: separate})
  if (!summary.members.some((member) => member.type === 'file' && isStateFile(member.target?.relative ?? ''))) {
    throw new DataDirArchiveError(
      location,
      `it holds no ZooKeeper state: no snapshot.* or log.* under ${SNAPSHOT}/version-2/ or ${TRANSACTIONS}/version-2/`,
    )
  }

  // Free space: the previous directories stay (renamed), so the whole archive must fit beside them.
  const needs = new Map<string, {bytes: number; dir: string}>()
  for (const member of summary.members) {
    if (!member.target || isMyid(member)) continue
    const dir = destinationOf(member, summary, separate) === 'log' ? logDir : dataDir
    const device = String((await stat(dirname(dir))).dev)
    const need = needs.get(device) ?? {bytes: 0, dir: dirname(dir)}
    need.bytes += member.size
    needs.set(device, need)
  }

  for (const {bytes, dir} of needs.values()) {
    const required = bytes + spaceMargin(bytes)
    const free = options.freeBytes ?? (await freeSpace(dir))
    if (free < required) {
      throw new OperationError(
        `not enough free space on the file system of ${dir}: the archive needs ${required} bytes (with a margin), ${free} are free. Nothing was changed.`,
      )
    }
  }

  // Move the current directories aside: a rename on the same file system.
  const stamp = compactUtc(options.now?.() ?? new Date())
  const moved: Array<{dir: string; gid: number; mode: number; safety: string; uid: number}> = []
  const fresh: string[] = []
  const rollback = async () => {
    for (const dir of fresh) await rm(dir, {force: true, recursive: true})
    for (const {dir, safety} of moved.reverse()) await rename(safety, dir)
  }

  try {
    for (const dir of separate ? [dataDir, logDir] : [dataDir]) {
      const info = await lstat(dir).catch(() => undefined)
      if (info) {
        let safety = `${dir}.safety-${stamp}`
        for (let n = 1; existsSync(safety); n++) safety = `${dir}.safety-${stamp}-${n}`
        await rename(dir, safety)
        moved.push({dir, gid: info.gid, mode: info.mode & 0o7777, safety, uid: info.uid})
      }

      const previous = moved.find((entry) => entry.dir === dir)
      await mkdir(dir, {mode: previous?.mode ?? 0o755})
      fresh.push(dir)
      if (previous && isRoot()) await chownSafe(dir, previous.uid, previous.gid)
    }
  } catch (error) {
    await rollback()
    throw new OperationError(
      `could not move the current directories aside: ${errorMessage(error)}. Nothing was changed.`,
    )
  }

  options.onPhase?.('extract')
  let fd: number | undefined
  let directories = 0
  const pathOf = (member: CheckedMember) => {
    const base = destinationOf(member, summary, separate) === 'log' ? logDir : dataDir
    return member.target!.relative ? join(base, member.target!.relative) : base
  }

  let myidFromSafetyCopy = false
  let myidSkipped = false
  try {
    const input = await options.source.read()
    await readDataDirArchive(input, location, {
      expect: summary,
      onData(member, chunk) {
        if (isMyid(member)) return
        let offset = 0
        while (offset < chunk.length) offset += writeSync(fd!, chunk, offset)
      },
      onEnd(member) {
        if (isMyid(member)) return
        if (member.mtime) futimesSync(fd!, member.mtime, member.mtime)
        closeSync(fd!)
        fd = undefined
      },
      onMember(member) {
        if (isMyid(member)) {
          myidSkipped = true
          options.onSkip?.(member, "the node keeps its own myid, an archive's is never extracted")
          return
        }

        options.onMember?.(member)
        if (!member.target) return
        const path = pathOf(member)
        if (member.type === 'directory') {
          directories++
          mkdirSync(path, {mode: member.mode | 0o700, recursive: true})
          if (isRoot()) chownSync(path, member.uid, member.gid)
          return
        }

        mkdirSync(dirname(path), {recursive: true})
        fd = openSync(path, fsConstants.O_WRONLY | fsConstants.O_CREAT | fsConstants.O_EXCL, member.mode)
        if (isRoot()) chownSync(path, member.uid, member.gid)
      },
      separateLog: separate,
    })

    // The node keeps its own myid: another node's would make two servers claim one id.
    const dataSafety = moved.find((entry) => entry.dir === dataDir)
    if (dataSafety && existsSync(join(dataSafety.safety, 'myid'))) {
      copyFileSync(join(dataSafety.safety, 'myid'), join(dataDir, 'myid'))
      myidFromSafetyCopy = true
    }
  } catch (error) {
    if (fd !== undefined) closeSync(fd)
    const safety = moved.map((entry) => entry.dir).join(' and ')
    try {
      await rollback()
    } catch (rollbackError) {
      throw new OperationError(
        `extraction failed (${errorMessage(error)}) and putting the original directories back failed too (${errorMessage(rollbackError)}): they are at ${moved.map((entry) => entry.safety).join(' and ')}`,
      )
    }

    throw new OperationError(
      `extraction failed: ${errorMessage(error)}. The original directories are back in place${safety ? ` (${safety})` : ''}.`,
    )
  }

  return {
    checksummed: Boolean(summary.manifest),
    dataBytes: summary.totalBytes,
    dataDir,
    directories,
    durationMs: Date.now() - started,
    files: summary.files,
    location,
    logDir,
    myidFromSafetyCopy,
    myidSkipped,
    safetyCopies: moved.map((entry) => entry.safety),
  }
}

/** A myid member, at the top of either directory (with one directory for both, transactions/myid lands there too). */
function isMyid(member: CheckedMember): boolean {
  const relative = member.target?.relative
  return relative === 'myid' || Boolean(relative?.startsWith('myid/'))
}

/** The real path of `dir`, or of its parent when it does not exist yet. */
async function realDirectory(dir: string): Promise<string> {
  return realpath(dir).catch(async () => join(await realpath(dirname(dir)).catch(() => dirname(dir)), basename(dir)))
}

/** What ZooKeeper (and its scripts) keep in a data dir and a log dir; lost+found: a dedicated file system. */
const ZOOKEEPER_ENTRIES = {
  data: ['myid', 'version-2', 'zookeeper_server.pid', 'initialize', 'lost+found'],
  log: ['version-2', 'lost+found'],
}

/**
 * A restore moves the whole directory aside: one that holds other files is most likely a typo
 * (its parent), refused unless forced. Missing or empty is fine.
 */
async function requireZooKeeperDirectory(dir: string, kind: keyof typeof ZOOKEEPER_ENTRIES): Promise<void> {
  const entries = await readdir(dir).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return [] as string[]
    throw new UsageError(`cannot read ${dir}: ${errorMessage(error)}`)
  })
  const others = entries.filter((entry) => !ZOOKEEPER_ENTRIES[kind].includes(entry) && !excludedName(entry)).sort()
  if (others.length === 0) return
  const shown = others
    .slice(0, 3)
    .map((entry) => JSON.stringify(entry))
    .join(', ')
  throw new UsageError(
    `--${kind}-dir ${dir} does not look like a ZooKeeper ${kind} directory (it holds ${others.length} other entr${others.length === 1 ? 'y' : 'ies'} such as ${shown}); check the path, or pass --force`,
  )
}

/**
 * Where a member goes: transactions/ to the log dir (the data dir when they are one); with a
 * separate log dir and an archive without transactions/ (made from one shared directory), the
 * log files snapshot/version-2/log.* go to the log dir's version-2/.
 */
function destinationOf(member: CheckedMember, summary: ArchiveSummary, separate: boolean): 'data' | 'log' {
  if (!separate) return 'data'
  if (member.target?.dir === 'log') return 'log'
  if (!summary.hasTransactions && /^version-2\/log\.[^/]*$/.test(member.target?.relative ?? '')) return 'log'
  return 'data'
}

async function freeSpace(dir: string): Promise<number> {
  const info = await statfs(dir)
  return Number(info.bavail) * Number(info.bsize)
}

function isRoot(): boolean {
  return process.getuid?.() === 0
}

async function chownSafe(path: string, uid: number, gid: number): Promise<void> {
  await chown(path, uid, gid).catch(() => {})
}

function chownSync(path: string, uid: number, gid: number): void {
  try {
    fsChownSync(path, uid, gid)
  } catch {
    // Ownership is best effort, as with tar.
  }
}
