/**
 * The offline backup: a stopped node's data and log directories as a data-directory archive
 * (src/archive/datadir.ts has the layout).
 */
import {createHash} from 'node:crypto'
import {createReadStream} from 'node:fs'
import {lstat, readdir, stat} from 'node:fs/promises'
import {join, resolve} from 'node:path'
import {PassThrough, pipeline, Readable} from 'node:stream'
import {createGzip} from 'node:zlib'

import {
  DATADIR_FORMAT,
  DATADIR_FORMAT_VERSION,
  DATADIR_MANIFEST,
  type DataDirManifest,
  excludedName,
  isStateFile,
  type MemberInfo,
  ROOT,
  SNAPSHOT,
  TRANSACTIONS,
} from '../../archive/datadir.js'
import {TAR_END, tarHeader, tarPadding} from '../../archive/tar.js'
import {OperationError, UsageError} from '../../errors.js'
import type {StorageProvider} from '../../providers/types.js'
import {TOOL} from '../version.js'
import {type DataDirTransfer, requireDirectory} from './directories.js'
import {checkNotRunning, type RunningCheckOptions} from './running.js'

export interface DataDirBackupOptions extends RunningCheckOptions {
  dataDir: string
  /** Default: the data dir (then everything goes under ./zookeeper/snapshot/). */
  logDir?: string
  destination: StorageProvider
  overwrite?: boolean
  onMember?: (member: MemberInfo) => void
  now?: () => Date
}

export interface DataDirBackupResult extends DataDirTransfer {
  archiveBytes: number
  /** Entries that are neither regular files nor directories (symlinks, sockets): left out. */
  skipped: string[]
  durationMs: number
}

interface SourceMember {
  name: string
  absolute: string
  type: 'file' | 'directory'
  size: number
  mode: number
  uid: number
  gid: number
  mtime: Date
}

export async function backupDataDir(options: DataDirBackupOptions): Promise<DataDirBackupResult> {
  const started = Date.now()
  const now = options.now ?? (() => new Date())
  await checkNotRunning(options)
  const dataDir = resolve(options.dataDir)
  const logDir = resolve(options.logDir ?? options.dataDir)
  const separate = dataDir !== logDir
  await requireDirectory(dataDir, 'data directory')
  if (separate) await requireDirectory(logDir, 'log directory')
  if (!options.overwrite && (await options.destination.stat())) {
    throw new UsageError(`${options.destination.display} already exists (use --force to replace it)`)
  }

  const skipped: string[] = []
  const rootStat = await stat(dataDir)
  const members: SourceMember[] = [sourceMember(`./${ROOT}/`, dataDir, rootStat, 'directory')]
  members.push(sourceMember(`./${SNAPSHOT}/`, dataDir, rootStat, 'directory'))
  await collect(dataDir, `./${SNAPSHOT}/`, members, skipped, true)
  if (separate) {
    // A log dir of its own goes under ./zookeeper/transactions/. With one directory for both,
    // its log files stay under snapshot/version-2/: restoring into separate directories moves
    // snapshot/version-2/log.* into the log dir when the archive has no transactions/.
    members.push(sourceMember(`./${TRANSACTIONS}/`, logDir, await stat(logDir), 'directory'))
    await collect(logDir, `./${TRANSACTIONS}/`, members, skipped, true)
  }

  // ZooKeeper 3.4 writes no snapshot before snapCount transactions: then the logs, from the first, hold it all.
  const logsFromTheStart = separate && members.some((member) => member.type === 'file' && member.name === `./${TRANSACTIONS}/version-2/log.1`)
  if (!logsFromTheStart) await requireState(members, skipped, {dir: dataDir, kind: 'data', prefix: `./${SNAPSHOT}/`})
  if (separate) await requireState(members, skipped, {dir: logDir, kind: 'log', prefix: `./${TRANSACTIONS}/`})

  const createdAt = now().toISOString()
  const files: DataDirManifest['files'] = []
  let dataBytes = 0
  async function* tarBlocks(): AsyncGenerator<Buffer> {
    for (const member of members) {
      yield headerBlocks(member)
      options.onMember?.({path: member.name, size: member.size, type: member.type})
      if (member.type === 'directory') continue
      const hash = createHash('sha256')
      let size = 0
      for await (const chunk of createReadStream(member.absolute)) {
        const buffer = chunk as Buffer
        size += buffer.length
        if (size > member.size) break
        hash.update(buffer)
        yield buffer
      }

      if (size !== member.size) throw new OperationError(`${member.absolute} changed size during the backup: is ZooKeeper running?`)
      yield tarPadding(size)
      files.push({path: member.name, sha256: hash.digest('hex'), size})
      dataBytes += size
    }

    const manifest: DataDirManifest = {
      completedAt: now().toISOString(),
      createdAt,
      files,
      format: DATADIR_FORMAT,
      formatVersion: DATADIR_FORMAT_VERSION,
      options: {dataDir, logDir, separateLogDir: separate},
      tool: TOOL,
      totalBytes: dataBytes,
    }
    const body = Buffer.from(`${JSON.stringify(manifest, null, 2)}\n`)
    const mtime = now()
    yield headerBlocks({absolute: '', gid: 0, mode: 0o644, mtime, name: `./${DATADIR_MANIFEST}`, size: body.length, type: 'file', uid: 0})
    options.onMember?.({path: `./${DATADIR_MANIFEST}`, size: body.length, type: 'file'})
    yield body
    yield tarPadding(body.length)
    yield TAR_END
  }

  const gzip = createGzip()
  const output = new PassThrough()
  pipeline(Readable.from(tarBlocks()), gzip, output, () => {})
  const archiveBytes = await options.destination.write(output, {overwrite: options.overwrite})
  return {
    archiveBytes,
    dataBytes,
    dataDir,
    directories: members.filter((member) => member.type === 'directory').length,
    durationMs: Date.now() - started,
    files: files.length,
    location: options.destination.display,
    logDir,
    skipped,
  }
}

function sourceMember(name: string, absolute: string, info: Awaited<ReturnType<typeof lstat>>, type: 'file' | 'directory'): SourceMember {
  return {
    absolute,
    gid: Number(info.gid),
    mode: Number(info.mode) & 0o7777,
    mtime: info.mtime as Date,
    name,
    size: type === 'file' ? Number(info.size) : 0,
    type,
    uid: Number(info.uid),
  }
}

/**
 * A symbolic link version-2 at the top of the data or log dir is followed to its directory (state
 * kept on another disk); other links are left out (one to /etc would put secrets in the archive,
 * one to / the whole machine), and requireState refuses a left-out snapshot or log.
 */
async function collect(dir: string, prefix: string, members: SourceMember[], skipped: string[], top = false): Promise<void> {
  const entries = (await readdir(dir)).sort()
  for (const entry of entries) {
    const name = `${prefix}${entry}`
    if (excludedName(name)) continue
    const absolute = join(dir, entry)
    let info = await lstat(absolute)
    if (info.isSymbolicLink()) {
      const target = await stat(absolute).catch(() => undefined)
      if (top && entry === 'version-2' && target?.isDirectory()) info = target
    }

    if (info.isDirectory()) {
      members.push(sourceMember(`${name}/`, absolute, info, 'directory'))
      await collect(absolute, `${name}/`, members, skipped)
    } else if (info.isFile()) {
      members.push(sourceMember(name, absolute, info, 'file'))
    } else {
      skipped.push(absolute)
    }
  }
}

/**
 * A data or log dir without a snapshot or log is most likely a wrong path (a typo of its parent
 * would be archived whole) and would restore an empty node: refused, as is one that leaves a
 * state file out.
 */
async function requireState(members: SourceMember[], skipped: string[], {dir, kind, prefix}: {dir: string; kind: 'data' | 'log'; prefix: string}): Promise<void> {
  const unreadable = skipped.find((path) => path.startsWith(`${dir}/`) && isStateFile(path.slice(dir.length + 1)))
  if (unreadable) throw new UsageError(`${unreadable} is not a regular file (a symbolic link?): the backup would miss ZooKeeper state; put the file itself there`)
  if (members.some((member) => member.type === 'file' && member.name.startsWith(prefix) && isStateFile(member.name.slice(prefix.length)))) return
  throw new UsageError(
    `no ZooKeeper state in the ${kind} directory ${dir}: no snapshot.* or log.* in ${join(dir, 'version-2')} (it holds ${describeEntries((await readdir(dir)).sort())}); check --${kind}-dir`,
  )
}

function describeEntries(entries: string[]): string {
  if (entries.length === 0) return 'nothing'
  const shown = entries.slice(0, 3).map((entry) => JSON.stringify(entry)).join(', ')
  return `${entries.length} entr${entries.length === 1 ? 'y' : 'ies'}: ${shown}${entries.length > 3 ? ', ...' : ''}`
}

function headerBlocks({gid, mode, mtime, name, size, type, uid}: SourceMember): Buffer {
  return tarHeader({gid, mode, mtime, path: name, size, type: type === 'file' ? 'File' : 'Directory', uid})
}
