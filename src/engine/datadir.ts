/**
 * Offline backups of a stopped ZooKeeper node's data directory (dataDir) and transaction log
 * directory (dataLogDir), in the archive layout of DC/OS's `dcos-zk backup|restore`:
 *
 *   a gzip tar; ./zookeeper/ ./zookeeper/snapshot/... (the data dir's content) and
 *   ./zookeeper/transactions/... (the log dir's content); directories are members too; no member
 *   whose name contains "myid" or "zookeeper.out".
 *
 * Our archives add one member, written last (a streaming writer only knows the hashes at the end):
 * ./dcos-zk-backup.json with the format, tool, times, options and the size and SHA-256 of every
 * file member. dcos-zk extracts archives with `tar -xzf archive -C /var/lib/dcos/exhibitor`, which
 * just leaves that file next to zookeeper/. Archives without it (made by dcos-zk) are validated by
 * structure and file magic only.
 */
import {createHash} from 'node:crypto'
import {
  chownSync as fsChownSync,
  closeSync,
  constants as fsConstants,
  copyFileSync,
  createReadStream,
  existsSync,
  futimesSync,
  mkdirSync,
  openSync,
  writeSync,
} from 'node:fs'
import {chown, lstat, mkdir, readdir, readFile, realpath, rename, rm, stat, statfs} from 'node:fs/promises'
import {connect as netConnect} from 'node:net'
import {basename, dirname, join, resolve} from 'node:path'
import {PassThrough, pipeline, Readable} from 'node:stream'
import {constants as zlibConstants, createGzip, gunzipSync} from 'node:zlib'
import type {ReadEntry} from 'tar'

import {firstMemberName, readTar, TAR_END, tarHeader, tarPadding} from '../archive/tar.js'
import {quote} from '../archive/validate.js'
import {errorMessage, OperationError, UsageError} from '../errors.js'
import type {StorageProvider} from '../providers/types.js'
import {compactUtc} from './time.js'
import {TOOL} from './version.js'

export const RUNNING_MESSAGE = 'ZooKeeper must not be running. Aborting.'
export const DCOS_PATHS = {
  dataDir: '/var/lib/dcos/exhibitor/zookeeper/snapshot',
  logDir: '/var/lib/dcos/exhibitor/zookeeper/transactions',
  pidFile: '/var/lib/dcos/exhibitor/zk.pid',
}

export const DATADIR_FORMAT = 'dcos-zk-datadir'
export const DATADIR_FORMAT_VERSION = 1
/** Our manifest member, top level so that dcos-zk's extraction leaves it beside zookeeper/. */
export const DATADIR_MANIFEST = 'dcos-zk-backup.json'
export const SNAPSHOT_MAGIC = 'ZKSN'
export const LOG_MAGIC = 'ZKLG'
const ROOT = 'zookeeper'
const SNAPSHOT = 'zookeeper/snapshot'
const TRANSACTIONS = 'zookeeper/transactions'
const MAX_MANIFEST_BYTES = 64 * 1024 * 1024

export interface DataDirManifest {
  format: string
  formatVersion: number
  tool: string
  createdAt: string
  completedAt: string
  options: {dataDir: string; logDir: string; separateLogDir: boolean}
  /** Every file member, by its name in the archive ("./zookeeper/snapshot/version-2/snapshot.1a"). */
  files: Array<{path: string; size: number; sha256: string}>
  totalBytes: number
}

export interface MemberInfo {
  /** As in the archive: "./zookeeper/snapshot/version-2/snapshot.0". */
  path: string
  type: 'file' | 'directory'
  size: number
}

// ---------------------------------------------------------------------------------------------
// Is ZooKeeper running?

export interface RunningCheckOptions {
  pidFile?: string
  /** A zoo.cfg: ZooKeeper runs when its clientPort (at clientPortAddress, default 127.0.0.1) answers. */
  zkConfig?: string
}

/** Throws OperationError(RUNNING_MESSAGE) when ZooKeeper seems to be running. */
export async function checkNotRunning({pidFile, zkConfig}: RunningCheckOptions): Promise<void> {
  if (pidFile) {
    let text: string | undefined
    try {
      text = await readFile(pidFile, 'utf8')
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw new UsageError(`cannot read the pid file ${pidFile}: ${errorMessage(error)}`)
    }

    const trimmed = text?.trim()
    if (trimmed) {
      if (!/^\d+$/.test(trimmed)) throw new UsageError(`the pid file ${pidFile} holds no pid`)
      if (pidAlive(Number(trimmed))) throw new OperationError(RUNNING_MESSAGE)
    }
  }

  if (zkConfig) {
    const {host, port} = await clientAddress(zkConfig)
    if (await portAnswers(host, port)) throw new OperationError(RUNNING_MESSAGE)
  }
}

function pidAlive(pid: number): boolean {
  if (pid <= 0) return false
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    // EPERM: the process exists but belongs to another user.
    return (error as NodeJS.ErrnoException).code === 'EPERM'
  }
}

async function clientAddress(zkConfig: string): Promise<{host: string; port: number}> {
  let text: string
  try {
    text = await readFile(zkConfig, 'utf8')
  } catch (error) {
    throw new UsageError(`cannot read ${zkConfig}: ${errorMessage(error)}`)
  }

  const settings = new Map<string, string>()
  for (const line of text.split('\n')) {
    const match = /^\s*([^#=\s][^=]*?)\s*=\s*(.*?)\s*$/.exec(line)
    if (match) settings.set(match[1], match[2])
  }

  const port = Number(settings.get('clientPort'))
  if (!Number.isInteger(port) || port <= 0) throw new UsageError(`${zkConfig} sets no clientPort`)
  const address = settings.get('clientPortAddress')
  return {host: address && address !== '0.0.0.0' ? address : '127.0.0.1', port}
}

function portAnswers(host: string, port: number, timeoutMs = 2000): Promise<boolean> {
  return new Promise((resolvePromise) => {
    const socket = netConnect({host, port})
    const done = (answer: boolean) => {
      socket.destroy()
      resolvePromise(answer)
    }

    socket.setTimeout(timeoutMs, () => done(false))
    socket.once('connect', () => done(true))
    socket.once('error', () => done(false))
  })
}

// ---------------------------------------------------------------------------------------------
// Backup

export interface DataDirBackupOptions extends RunningCheckOptions {
  dataDir: string
  /** Default: the data dir (then everything goes under ./zookeeper/snapshot/). */
  logDir?: string
  destination: StorageProvider
  overwrite?: boolean
  onMember?: (member: MemberInfo) => void
  now?: () => Date
}

/** What both directions report: where, from or into which directories, how much. */
interface DataDirTransfer {
  location: string
  dataDir: string
  logDir: string
  files: number
  directories: number
  dataBytes: number
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

/** dcos-zk's `tar --exclude='*myid*' --exclude='*zookeeper.out*'`. */
export function excludedName(name: string): boolean {
  return name.includes('myid') || name.includes('zookeeper.out')
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

async function requireDirectory(dir: string, label: string): Promise<void> {
  const info = await stat(dir).catch(() => undefined)
  if (!info?.isDirectory()) throw new UsageError(`the ${label} ${dir} does not exist or is not a directory`)
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

/** snapshot.* and log.* in version-2/ (relative to the data or log dir): what ZooKeeper loads its state from. */
function isStateFile(relative: string): boolean {
  return /^version-2\/(snapshot|log)\.[^/]+$/.test(relative)
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

// ---------------------------------------------------------------------------------------------
// Reading and validating archives

/** One validated member, with where it goes. */
export interface CheckedMember extends MemberInfo {
  /** Normalized name: "zookeeper/snapshot/version-2/log.1" (no "./", no trailing "/"). */
  name: string
  /** "data" or "log" directory, and the path relative to it; undefined: not extracted. */
  target?: {dir: 'data' | 'log'; relative: string}
  mode: number
  uid: number
  gid: number
  mtime?: Date
  sha256?: string
}

export interface ArchiveSummary {
  members: CheckedMember[]
  manifest?: DataDirManifest
  totalBytes: number
  files: number
  hasTransactions: boolean
  hasMyid: boolean
}

export class DataDirArchiveError extends OperationError {
  constructor(location: string, problem: string) {
    super(`${location} is not a valid ZooKeeper data-directory archive: ${problem}`)
    this.name = 'DataDirArchiveError'
  }
}

interface ReadHooks {
  /** Called with each member as it starts (after its header was checked). */
  onMember?: (member: CheckedMember) => void
  /** Called with each chunk of a file member (after the magic check of its first bytes). */
  onData?: (member: CheckedMember, chunk: Buffer) => void
  /** Called when a file member's body is complete. */
  onEnd?: (member: CheckedMember) => void
  /** Where log files go: with separateLog, snapshot/version-2/log.* of archives without transactions/ go to the log dir. */
  separateLog?: boolean
  /** Pass 1's result: pass 2 requires the same members with the same sizes and hashes. */
  expect?: ArchiveSummary
}

/**
 * Reads a whole archive, checking every member: only regular files and directories, no absolute
 * path, no "..", everything under ./zookeeper/ (snapshot/ or transactions/) but our manifest,
 * snapshot.* and log.* under version-2/ start with ZooKeeper's magic, no duplicates, and the
 * sizes and SHA-256s of our manifest when there is one. Throws DataDirArchiveError.
 */
export async function readDataDirArchive(input: Readable, location: string, hooks: ReadHooks = {}): Promise<ArchiveSummary> {
  const fail = (problem: string) => new DataDirArchiveError(location, problem)
  const members: CheckedMember[] = []
  const seen = new Set<string>()
  const targets = new Set<string>()
  let manifestBody: Buffer[] | undefined
  let manifestText: string | undefined
  let problem: Error | undefined
  let afterManifest = false
  const expectByName = hooks.expect ? new Map(hooks.expect.members.map((member) => [member.name, member])) : undefined

  const onEntry = (entry: ReadEntry) => {
    if (problem) return entry.resume()
    try {
      const member = checkEntry(entry, fail)
      if (seen.has(member.name)) throw fail(`member ${quote(entry.path)} appears twice`)
      seen.add(member.name)
      if (afterManifest) throw fail(`member ${quote(entry.path)} follows the manifest`)
      if (member.name === DATADIR_MANIFEST) {
        afterManifest = true
        manifestBody = []
        let size = 0
        entry.on('data', (chunk: Buffer) => {
          size += chunk.length
          if (size > MAX_MANIFEST_BYTES) problem ??= fail('the manifest is too large')
          else manifestBody!.push(chunk)
        })
        entry.on('end', () => (manifestText = Buffer.concat(manifestBody!).toString('utf8')))
        return
      }

      if (member.type === 'file' && member.target) {
        const key = `${member.target.dir}:${member.target.relative}`
        if (targets.has(key)) throw fail(`member ${quote(entry.path)} would overwrite another member`)
        targets.add(key)
      }

      if (expectByName) {
        const before = expectByName.get(member.name)
        if (!before || before.type !== member.type || before.size !== member.size) throw fail(`the archive changed since it was checked (member ${quote(entry.path)})`)
      }

      members.push(member)
      hooks.onMember?.(member)
      if (member.type !== 'file') return entry.resume()
      const magic = expectedMagic(member.name)
      const hash = createHash('sha256')
      let head = Buffer.alloc(0)
      let checked = magic === undefined
      const check = () => {
        if (head.subarray(0, 4).toString('latin1') !== magic) throw fail(`${member.name} does not start with ZooKeeper's ${magic} magic`)
        checked = true
        hooks.onData?.(member, head)
      }

      entry.on('data', (chunk: Buffer) => {
        if (problem) return
        try {
          hash.update(chunk)
          if (checked) return hooks.onData?.(member, chunk)
          head = Buffer.concat([head, chunk])
          if (head.length >= 4) check()
        } catch (error) {
          problem ??= asProblem(error, fail)
        }
      })
      entry.on('end', () => {
        if (problem) return
        try {
          if (!checked) check()
          member.sha256 = hash.digest('hex')
          const before = expectByName?.get(member.name)
          if (before?.sha256 && before.sha256 !== member.sha256) throw fail(`the archive changed since it was checked (${member.name} has another SHA-256)`)
          hooks.onEnd?.(member)
        } catch (error) {
          problem ??= asProblem(error, fail)
        }
      })
    } catch (error) {
      problem ??= asProblem(error, fail)
      entry.resume()
    }
  }

  try {
    for await (const _ of readTar(input, {fail, onProblem: (error) => (problem ??= error), onReadEntry: onEntry})) {
      if (problem) throw problem
    }
  } catch (error) {
    if (error instanceof DataDirArchiveError) throw error
    throw problem ?? error
  }

  if (problem) throw problem

  const summary: ArchiveSummary = {
    files: members.filter((member) => member.type === 'file').length,
    hasMyid: members.some((member) => member.target?.dir === 'data' && member.target.relative === 'myid'),
    hasTransactions: members.some((member) => member.name.startsWith(`${TRANSACTIONS}/`)),
    members,
    totalBytes: members.reduce((sum, member) => sum + member.size, 0),
  }
  if (!members.some((member) => member.name === SNAPSHOT || member.name.startsWith(`${SNAPSHOT}/`))) {
    throw fail('it holds no ./zookeeper/snapshot/')
  }

  if (manifestText !== undefined) summary.manifest = checkManifest(manifestText, members, fail)
  if (hooks.expect && (members.length !== hooks.expect.members.length || Boolean(summary.manifest) !== Boolean(hooks.expect.manifest))) {
    throw fail('the archive changed since it was checked (other members)')
  }

  return summary
}

function asProblem(error: unknown, fail: (problem: string) => Error): Error {
  return error instanceof DataDirArchiveError || error instanceof OperationError ? error : fail(errorMessage(error))
}

function checkEntry(entry: ReadEntry, fail: (problem: string) => Error): CheckedMember {
  const raw = entry.path
  const shown = quote(raw)
  if (raw.startsWith('/') || /^[a-zA-Z]:/.test(raw)) throw fail(`member ${shown} has an absolute path`)
  const parts = raw.split('/')
  if (parts.includes('..')) throw fail(`member ${shown} has a path with ".."`)
  let type: 'file' | 'directory'
  if (entry.type === 'File' || entry.type === 'OldFile') type = 'file'
  else if (entry.type === 'Directory') type = 'directory'
  else throw fail(`member ${shown} is a ${entry.type}: only regular files and directories are allowed`)
  const name = parts.filter((part) => part !== '' && part !== '.').join('/')
  const member: CheckedMember = {
    gid: entry.gid ?? 0,
    mode: (entry.mode ?? (type === 'file' ? 0o644 : 0o755)) & 0o777,
    mtime: entry.mtime,
    name,
    path: raw,
    size: type === 'file' ? entry.size : 0,
    type,
    uid: entry.uid ?? 0,
  }
  if (name === DATADIR_MANIFEST && type === 'file') return member
  if (name !== ROOT && !name.startsWith(`${ROOT}/`)) throw fail(`member ${shown} is not under ./zookeeper/`)
  if (name === ROOT) {
    if (type !== 'directory') throw fail(`member ${shown} is not a directory`)
    return member
  }

  for (const [prefix, dir] of [[SNAPSHOT, 'data'], [TRANSACTIONS, 'log']] as const) {
    if (name === prefix) {
      if (type !== 'directory') throw fail(`member ${shown} is not a directory`)
      member.target = {dir, relative: ''}
    } else if (name.startsWith(`${prefix}/`)) {
      member.target = {dir, relative: name.slice(prefix.length + 1)}
    }
  }

  if (!member.target) throw fail(`member ${shown} is neither under ./zookeeper/snapshot/ nor ./zookeeper/transactions/`)
  return member
}

function expectedMagic(name: string): string | undefined {
  const match = /(^|\/)version-2\/([^/]+)$/.exec(name)
  if (!match) return undefined
  if (match[2].startsWith('snapshot.')) return SNAPSHOT_MAGIC
  if (match[2].startsWith('log.')) return LOG_MAGIC
  return undefined
}

function checkManifest(text: string, members: CheckedMember[], fail: (problem: string) => Error): DataDirManifest {
  let manifest: DataDirManifest
  try {
    manifest = JSON.parse(text) as DataDirManifest
  } catch {
    throw fail('the manifest is not valid JSON')
  }

  if (manifest?.format !== DATADIR_FORMAT) throw fail(`the manifest is of format ${JSON.stringify(manifest?.format)}, not ${DATADIR_FORMAT}`)
  if (manifest.formatVersion !== DATADIR_FORMAT_VERSION) throw fail(`the manifest is of version ${manifest.formatVersion}, this tool reads ${DATADIR_FORMAT_VERSION}`)
  if (!Array.isArray(manifest.files)) throw fail('the manifest lists no files')
  const files = members.filter((member) => member.type === 'file')
  const byName = new Map(files.map((member) => [member.name, member]))
  if (manifest.files.length !== files.length) throw fail(`the manifest lists ${manifest.files.length} files, the archive holds ${files.length}`)
  for (const file of manifest.files) {
    const name = String(file.path).split('/').filter((part) => part !== '' && part !== '.').join('/')
    const member = byName.get(name)
    if (!member) throw fail(`${file.path} of the manifest is missing`)
    if (member.size !== file.size) throw fail(`${name} has ${member.size} bytes, the manifest says ${file.size}`)
    if (member.sha256 !== file.sha256) throw fail(`checksum mismatch for ${name}`)
  }

  return manifest
}

// ---------------------------------------------------------------------------------------------
// Restore

export interface DataDirRestoreOptions extends RunningCheckOptions {
  source: StorageProvider
  dataDir: string
  logDir?: string
  onMember?: (member: MemberInfo) => void
  /** Phases, for progress and messages. */
  onPhase?: (phase: 'validate' | 'extract') => void
  /** Called with each archive member that is not extracted (myid: the node keeps its own). */
  onSkip?: (member: MemberInfo, reason: string) => void
  /** Restore into directories that hold other files than ZooKeeper's. */
  force?: boolean
  /** Overrides the free bytes of the target file systems (tests). */
  freeBytes?: number
  now?: () => Date
}

export interface DataDirRestoreResult extends DataDirTransfer {
  /** Where the previous directories were moved (kept after a successful restore). */
  safetyCopies: string[]
  /** True when our manifest's sizes and SHA-256s were checked; false for dcos-zk's archives. */
  checksummed: boolean
  /** The node's myid copied from the safety copy (an archive's myid is never extracted). */
  myidFromSafetyCopy: boolean
  /** The archive carried a myid, which was not extracted. */
  myidSkipped: boolean
  durationMs: number
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
    throw new DataDirArchiveError(location, `it holds no ZooKeeper state: no snapshot.* or log.* under ${SNAPSHOT}/version-2/ or ${TRANSACTIONS}/version-2/`)
  }

  // Free space: the previous directories stay (renamed), so the whole archive must fit beside them.
  const needs = new Map<string, {dir: string; bytes: number}>()
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
      throw new OperationError(`not enough free space on the file system of ${dir}: the archive needs ${required} bytes (with a margin), ${free} are free. Nothing was changed.`)
    }
  }

  // Move the current directories aside: a rename on the same file system.
  const stamp = compactUtc(options.now?.() ?? new Date())
  const moved: Array<{dir: string; safety: string; mode: number; uid: number; gid: number}> = []
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
    throw new OperationError(`could not move the current directories aside: ${errorMessage(error)}. Nothing was changed.`)
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

    throw new OperationError(`extraction failed: ${errorMessage(error)}. The original directories are back in place${safety ? ` (${safety})` : ''}.`)
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
  const shown = others.slice(0, 3).map((entry) => JSON.stringify(entry)).join(', ')
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

// ---------------------------------------------------------------------------------------------
// Inspect

export interface DataDirFile {
  member: string
  size: number
  /** The zxid from the file name (the first zxid of a log, the last applied of a snapshot). */
  zxid: string
  /** Logs: the zxid before the next log's first, or undefined for the last log. */
  lastZxid?: string
}

export interface DataDirInspectResult {
  location: string
  kind: 'datadir'
  verified: boolean
  problem?: string
  /** True when our manifest's checksums were checked, false for an archive made by dcos-zk. */
  checksummed: boolean
  manifest?: Omit<DataDirManifest, 'files'>
  members: number
  files: number
  totalBytes: number
  snapshots: DataDirFile[]
  logs: DataDirFile[]
}

export async function inspectDataDirArchive(input: Readable, location: string, onMember?: (member: MemberInfo) => void): Promise<DataDirInspectResult> {
  const result: DataDirInspectResult = {checksummed: false, files: 0, kind: 'datadir', location, logs: [], members: 0, snapshots: [], totalBytes: 0, verified: false}
  const seen: CheckedMember[] = []
  try {
    const summary = await readDataDirArchive(input, location, {
      onMember(member) {
        seen.push(member)
        onMember?.(member)
      },
    })
    if (summary.manifest) {
      const {files: _files, ...rest} = summary.manifest
      result.manifest = rest
    }

    result.checksummed = Boolean(summary.manifest)
    result.verified = true
  } catch (error) {
    if (!(error instanceof DataDirArchiveError)) throw error
    result.problem = error.message
  }

  result.members = seen.length
  result.files = seen.filter((member) => member.type === 'file').length
  result.totalBytes = seen.reduce((sum, member) => sum + member.size, 0)
  for (const member of seen) {
    const match = /(?:^|\/)version-2\/(snapshot|log)\.([0-9a-fA-F]+)$/.exec(member.name)
    if (!match || member.type !== 'file') continue
    const file = {member: member.path, size: member.size, zxid: `0x${BigInt(`0x${match[2]}`).toString(16)}`}
    ;(match[1] === 'snapshot' ? result.snapshots : result.logs).push(file)
  }

  const byZxid = (a: DataDirFile, b: DataDirFile) => (BigInt(a.zxid) < BigInt(b.zxid) ? -1 : BigInt(a.zxid) > BigInt(b.zxid) ? 1 : 0)
  result.snapshots.sort(byZxid)
  result.logs.sort(byZxid)
  for (let i = 0; i + 1 < result.logs.length; i++) result.logs[i].lastZxid = `0x${(BigInt(result.logs[i + 1].zxid) - 1n).toString(16)}`
  return result
}

/**
 * Looks at the first member of an archive without consuming it: returns whether it is a
 * data-directory archive and a stream that replays the whole archive from the start.
 */
export async function sniffDataDirArchive(input: Readable): Promise<{dataDir: boolean; stream: Readable}> {
  const chunks: Buffer[] = []
  const iterator = input[Symbol.asyncIterator]() as AsyncIterator<Buffer>
  let dataDir = false
  let done = false
  for (let total = 0; total < 1024 * 1024; ) {
    const next = await iterator.next().catch(() => ({done: true, value: undefined}))
    if (next.done) {
      done = true
      break
    }

    const chunk = Buffer.from(next.value as Buffer)
    chunks.push(chunk)
    total += chunk.length
    const bytes = Buffer.concat(chunks)
    let plain = bytes
    if (bytes[0] === 0x1f && (bytes.length < 2 || bytes[1] === 0x8b)) {
      try {
        plain = gunzipSync(bytes, {finishFlush: zlibConstants.Z_SYNC_FLUSH})
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'Z_DATA_ERROR') break
        continue
      }
    }

    const name = firstMemberName(plain)?.replace(/^(\.\/)+/, '')
    if (name !== undefined) {
      dataDir = name === ROOT || name.startsWith(`${ROOT}/`) || name === DATADIR_MANIFEST
      break
    }
  }

  async function* replay(): AsyncGenerator<Buffer> {
    for (const chunk of chunks) yield chunk
    if (done) return
    while (true) {
      const next = await iterator.next()
      if (next.done) return
      yield next.value as Buffer
    }
  }

  const stream = Readable.from(replay(), {objectMode: false})
  // Destroying a stream whose generator never started does not reach `input`: close it here.
  stream.once('close', () => input.destroy())
  return {dataDir, stream}
}
