import type {ReadEntry} from 'tar'

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
import {Readable} from 'node:stream'
import {gunzipSync, constants as zlibConstants} from 'node:zlib'

import {errorMessage, OperationError} from '../errors.js'
import {firstMemberName, readTar} from './tar.js'
import {quote} from './validate.js'

export const DATADIR_FORMAT = 'dcos-zk-datadir'
export const DATADIR_FORMAT_VERSION = 1
/** Our manifest member, top level so that dcos-zk's extraction leaves it beside zookeeper/. */
export const DATADIR_MANIFEST = 'dcos-zk-backup.json'
export const SNAPSHOT_MAGIC = 'ZKSN'
export const LOG_MAGIC = 'ZKLG'
export const ROOT = 'zookeeper'
export const SNAPSHOT = 'zookeeper/snapshot'
export const TRANSACTIONS = 'zookeeper/transactions'
const MAX_MANIFEST_BYTES = 64 * 1024 * 1024

export interface DataDirManifest {
  /** Every file copied (dcos-zk's way, --all-files), or only the recovery set. */
  allFiles?: boolean
  completedAt: string
  /** The state the archive restores: its last transaction's zxid (hex) and time; and what the replay checked. */
  consistentAt?: {
    /** Tree digests of the node's AdminServer hash command the copy matched (with --admin-url). */
    adminHashesMatched?: number
    digestsVerified: number
    snapshot?: string
    time?: string
    txnsReplayed: number
    zxid: string
  }
  createdAt: string
  /** Every file member, by its name in the archive ("./zookeeper/snapshot/version-2/snapshot.1a"). */
  files: Array<{path: string; sha256: string; size: number}>
  format: string
  formatVersion: number
  /** Copied while ZooKeeper ran on the directories (a hot copy). Absent in archives of dcos-zk and older ones of ours. */
  hot?: boolean
  options: {dataDir: string; logDir: string; separateLogDir: boolean}
  tool: string
  totalBytes: number
  /** The node's version, when it answered `srvr` ("3.8.0"). */
  zookeeperVersion?: string
}

export interface MemberInfo {
  /** As in the archive: "./zookeeper/snapshot/version-2/snapshot.0". */
  path: string
  size: number
  type: 'directory' | 'file'
}

/** dcos-zk's `tar --exclude='*myid*' --exclude='*zookeeper.out*'`. */
export function excludedName(name: string): boolean {
  return name.includes('myid') || name.includes('zookeeper.out')
}

/**
 * A quorum peer's acceptedEpoch and currentEpoch (and the .tmp ZooKeeper writes each through):
 * copied last, after every snapshot and log, so that the epoch restored is never older than the
 * last zxid of the logs beside it, which ZooKeeper refuses to start on.
 */
export function isEpochFile(name: string): boolean {
  return /(?:^|\/)version-2\/(?:acceptedEpoch|currentEpoch)(?:\.tmp)?$/.test(name)
}

/** snapshot.* and log.* in version-2/ (relative to the data or log dir): what ZooKeeper loads its state from. */
export function isStateFile(relative: string): boolean {
  return /^version-2\/(snapshot|log)\.[^/]+$/.test(relative)
}

/** One validated member, with where it goes. */
export interface CheckedMember extends MemberInfo {
  gid: number
  mode: number
  mtime?: Date
  /** Normalized name: "zookeeper/snapshot/version-2/log.1" (no "./", no trailing "/"). */
  name: string
  sha256?: string
  /** "data" or "log" directory, and the path relative to it; undefined: not extracted. */
  target?: {dir: 'data' | 'log'; relative: string}
  uid: number
}

export interface ArchiveSummary {
  files: number
  hasMyid: boolean
  hasTransactions: boolean
  manifest?: DataDirManifest
  members: CheckedMember[]
  totalBytes: number
}

export class DataDirArchiveError extends OperationError {
  constructor(location: string, problem: string) {
    super(`${location} is not a valid ZooKeeper data-directory archive: ${problem}`)
    this.name = 'DataDirArchiveError'
  }
}

export interface ReadHooks {
  /** Pass 1's result: pass 2 requires the same members with the same sizes and hashes. */
  expect?: ArchiveSummary
  /** Called with each chunk of a file member (after the magic check of its first bytes). */
  onData?: (member: CheckedMember, chunk: Buffer) => void
  /** Called when a file member's body is complete. */
  onEnd?: (member: CheckedMember) => void
  /** Called with each member as it starts (after its header was checked). */
  onMember?: (member: CheckedMember) => void
  /** Where log files go: with separateLog, snapshot/version-2/log.* of archives without transactions/ go to the log dir. */
  separateLog?: boolean
}

/**
 * Reads a whole archive, checking every member: only regular files and directories, no absolute
 * path, no "..", everything under ./zookeeper/ (snapshot/ or transactions/) but our manifest,
 * snapshot.* and log.* under version-2/ start with ZooKeeper's magic, no duplicates, and the
 * sizes and SHA-256s of our manifest when there is one. Throws DataDirArchiveError.
 */
export async function readDataDirArchive(
  input: Readable,
  location: string,
  hooks: ReadHooks = {},
): Promise<ArchiveSummary> {
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
        if (!before || before.type !== member.type || before.size !== member.size)
          throw fail(`the archive changed since it was checked (member ${quote(entry.path)})`)
      }

      members.push(member)
      hooks.onMember?.(member)
      if (member.type !== 'file') return entry.resume()
      const magic = expectedMagic(member.name)
      const hash = createHash('sha256')
      let head = Buffer.alloc(0)
      let checked = magic === undefined
      const check = () => {
        if (head.subarray(0, 4).toString('latin1') !== magic)
          throw fail(`${member.name} does not start with ZooKeeper's ${magic} magic`)
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
          if (before?.sha256 && before.sha256 !== member.sha256)
            throw fail(`the archive changed since it was checked (${member.name} has another SHA-256)`)
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
  if (
    hooks.expect &&
    (members.length !== hooks.expect.members.length || Boolean(summary.manifest) !== Boolean(hooks.expect.manifest))
  ) {
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
  let type: 'directory' | 'file'
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

  for (const [prefix, dir] of [
    [SNAPSHOT, 'data'],
    [TRANSACTIONS, 'log'],
  ] as const) {
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

  if (manifest?.format !== DATADIR_FORMAT)
    throw fail(`the manifest is of format ${JSON.stringify(manifest?.format)}, not ${DATADIR_FORMAT}`)
  if (manifest.formatVersion !== DATADIR_FORMAT_VERSION)
    throw fail(`the manifest is of version ${manifest.formatVersion}, this tool reads ${DATADIR_FORMAT_VERSION}`)
  if (!Array.isArray(manifest.files)) throw fail('the manifest lists no files')
  const files = members.filter((member) => member.type === 'file')
  const byName = new Map(files.map((member) => [member.name, member]))
  if (manifest.files.length !== files.length)
    throw fail(`the manifest lists ${manifest.files.length} files, the archive holds ${files.length}`)
  for (const file of manifest.files) {
    const name = String(file.path)
      .split('/')
      .filter((part) => part !== '' && part !== '.')
      .join('/')
    const member = byName.get(name)
    if (!member) throw fail(`${file.path} of the manifest is missing`)
    if (member.size !== file.size) throw fail(`${name} has ${member.size} bytes, the manifest says ${file.size}`)
    if (member.sha256 !== file.sha256) throw fail(`checksum mismatch for ${name}`)
  }

  return manifest
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
  for (let total = 0; total < 1024 * 1024;) {
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
