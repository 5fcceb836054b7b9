/**
 * The data-directory backup: a node's data and log directories as a data-directory archive
 * (src/archive/datadir.ts has the layout), stopped or running (a hot copy). By default only the
 * recovery set (recovery-set.ts) is pinned against autopurge (pin.ts), replayed (verify-copy.ts),
 * then copied, each file's copy hashing to the bytes replayed; --all-files copies everything, as dcos-zk did.
 */
import {createHash} from 'node:crypto'
import {lstat, readdir, stat} from 'node:fs/promises'
import {join, resolve} from 'node:path'
import {Readable} from 'node:stream'

import type {StorageProvider} from '../../providers/types.js'

import {
  DATADIR_FORMAT,
  DATADIR_FORMAT_VERSION,
  DATADIR_MANIFEST,
  type DataDirManifest,
  excludedName,
  isEpochFile,
  isStateFile,
  type MemberInfo,
  ROOT,
  SNAPSHOT,
  TRANSACTIONS,
} from '../../archive/datadir.js'
import {parallelGzip} from '../../archive/parallel-gzip.js'
import {TAR_END, tarHeader, tarPadding} from '../../archive/tar.js'
import {OperationError, UsageError} from '../../errors.js'
import {hexZxid} from '../../zk/zxid.js'
import {collectGarbage} from '../collect-garbage.js'
import {TOOL} from '../version.js'
import {compareAdminHashes, readAdminHashes} from './admin-hashes.js'
import {type DataDirTransfer, requireDirectory} from './directories.js'
import {type PinnedFile, Pins, STAGING_PREFIX} from './pin.js'
import {chooseRecoverySet, type ChosenFile} from './recovery-set.js'
import {probeNode, type RunningCheckOptions} from './running.js'
import {type CopyVerification, verifyRecoverySet} from './verify-copy.js'

/** The read size of the copy. */
const COPY_CHUNK_BYTES = 1024 * 1024

export interface DataDirBackupOptions extends RunningCheckOptions {
  /** The node's AdminServer: the copy is compared with the tree digests its hash command lists. */
  adminUrl?: string
  /** Every file of the directories (dcos-zk's way), not only the recovery set. */
  allFiles?: boolean
  dataDir: string
  destination: StorageProvider
  /** Default: the data dir (then everything goes under ./zookeeper/snapshot/). */
  logDir?: string
  now?: () => Date
  /** Called as each member starts; the copy waits for a promise it returns. */
  onMember?: (member: MemberInfo) => Promise<void> | void
  overwrite?: boolean
}

export interface DataDirBackupResult extends DataDirTransfer {
  /** With adminUrl, why the AdminServer's digests were not compared or none was in common (also in notes). */
  adminHashNote?: string
  allFiles: boolean
  archiveBytes: number
  /** The state the archive restores: its last transaction; the tree digests of ZooKeeper's its replay matched. */
  consistentAt: {adminHashesMatched?: number; digestsVerified: number; time?: string; zxid: string}
  durationMs: number
  /** The first zxid its snapshot's state is exact at (verify-copy's exactFrom, hex), when it holds a snapshot. */
  exactFrom?: string
  /** ZooKeeper was running on the directories (pid file or zoo.cfg): a hot copy. */
  hot: boolean
  /** Files of the directories a recovery does not need, not copied (myid, epoch files, obsolete snapshots and logs). */
  leftOut: number
  /** Snapshots passed over as not whole, logs left out as empty. */
  notes: string[]
  /** Entries that are neither regular files nor directories (symlinks, sockets): left out. */
  skipped: string[]
  zookeeperVersion?: string
}

interface SourceMember {
  /** Where it was found (members of the node's directories). */
  absolute?: string
  /** A file of the recovery set, replayed before it is copied. */
  chosen?: ChosenFile
  gid: number
  mode: number
  mtime: Date
  name: string
  /** Where a file's bytes come from: pinned, so that autopurge cannot delete them during the copy. */
  pinned?: PinnedFile
  size: number
  type: 'directory' | 'file'
  uid: number
}

export async function backupDataDir(options: DataDirBackupOptions): Promise<DataDirBackupResult> {
  const started = Date.now()
  const now = options.now ?? (() => new Date())
  const probe = await probeNode(options)
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
  const found: SourceMember[] = [sourceMember(`./${ROOT}/`, rootStat, 'directory')]
  found.push(sourceMember(`./${SNAPSHOT}/`, rootStat, 'directory'))
  await collect(dataDir, `./${SNAPSHOT}/`, found, skipped, true)
  if (separate) {
    // A log dir of its own goes under ./zookeeper/transactions/. With one directory for both,
    // its log files stay under snapshot/version-2/: restoring into separate directories moves
    // snapshot/version-2/log.* into the log dir when the archive has no transactions/.
    found.push(sourceMember(`./${TRANSACTIONS}/`, await stat(logDir), 'directory'))
    await collect(logDir, `./${TRANSACTIONS}/`, found, skipped, true)
  }

  // ZooKeeper 3.4 writes no snapshot before snapCount transactions: then the logs, from the first, hold it all.
  const logsFromTheStart =
    separate && found.some((member) => member.type === 'file' && member.name === `./${TRANSACTIONS}/version-2/log.1`)
  if (!logsFromTheStart) await requireState(found, skipped, {dir: dataDir, kind: 'data', prefix: `./${SNAPSHOT}/`})
  if (separate) await requireState(found, skipped, {dir: logDir, kind: 'log', prefix: `./${TRANSACTIONS}/`})

  const allFiles = Boolean(options.allFiles)
  const pins = new Pins()
  try {
    // A stopped node's files copied whole with --all-files, byte for byte as dcos-zk did; otherwise
    // each log ends after its last whole transaction (a torn tail stops ZooKeeper; the zero tail is waste).
    const set = await chooseRecoverySet(
      {logs: join(logDir, 'version-2'), snapshots: join(dataDir, 'version-2')},
      pins,
      {cutLogs: probe.running || !allFiles},
    )
    const logPrefix = `./${separate ? TRANSACTIONS : SNAPSHOT}/version-2/`
    const chosen = new Map(
      [...(set.snapshot ? [set.snapshot] : []), ...set.logs].map((file) => [
        `${file.kind === 'snapshot' ? `./${SNAPSHOT}/version-2/` : logPrefix}${file.name}`,
        file,
      ]),
    )
    const members = allFiles ? await pinAll(found, chosen, pins, set.notes) : recoveryMembers(found, chosen)
    // Read once the logs are cut: the server's list then reaches past everything the copy holds.
    const hashes = options.adminUrl ? await readAdminHashes(options.adminUrl) : undefined
    const verification = verifyRecoverySet(
      set,
      pins,
      hashes && 'digests' in hashes ? new Set(hashes.digests.keys()) : undefined,
    )
    // The replayed tree is unreachable now: collected before the copy's workers start beside it.
    collectGarbage()
    const checked = checkAgainstServer(hashes, verification, set.snapshot?.zxid)
    if (checked.note) set.notes.push(checked.note)
    const createdAt = now().toISOString()
    const files: DataDirManifest['files'] = []
    let dataBytes = 0
    const copyBuffer = Buffer.alloc(COPY_CHUNK_BYTES)
    async function* tarBlocks(): AsyncGenerator<Buffer> {
      for (const member of members) {
        yield headerBlocks(member)
        await options.onMember?.({path: member.name, size: member.size, type: member.type})
        if (member.type === 'directory' || !member.pinned) continue
        const hash = createHash('sha256')
        let size = 0
        // The gzip stage copies each chunk before it asks for the next: one buffer serves the whole copy.
        for await (const buffer of pins.chunks(member.pinned, member.size, copyBuffer)) {
          size += buffer.length
          hash.update(buffer)
          yield buffer
        }

        if (size !== member.size)
          throw new OperationError(
            `${member.pinned.original} shrank to ${size} bytes during the backup (${member.size} expected): try again`,
          )
        yield tarPadding(size)
        const sha256 = hash.digest('hex')
        if (member.chosen && verification.sha256.get(member.chosen.name) !== sha256)
          throw new OperationError(`${member.pinned.original} changed between its check and its copy: try again`)
        files.push({path: member.name, sha256, size})
        dataBytes += size
      }

      const manifest: DataDirManifest = {
        allFiles,
        completedAt: now().toISOString(),
        consistentAt: {
          ...consistency(verification),
          ...checked.matched,
          digestsVerified: verification.digestsVerified,
          txnsReplayed: verification.txnsReplayed,
          ...(set.snapshot ? {snapshot: set.snapshot.name} : {}),
        },
        createdAt,
        files,
        format: DATADIR_FORMAT,
        formatVersion: DATADIR_FORMAT_VERSION,
        hot: probe.running,
        options: {dataDir, logDir, separateLogDir: separate},
        tool: TOOL,
        totalBytes: dataBytes,
        ...(probe.zookeeperVersion ? {zookeeperVersion: probe.zookeeperVersion} : {}),
      }
      const body = Buffer.from(`${JSON.stringify(manifest, null, 2)}\n`)
      yield headerBlocks({
        gid: 0,
        mode: 0o644,
        mtime: now(),
        name: `./${DATADIR_MANIFEST}`,
        size: body.length,
        type: 'file',
        uid: 0,
      })
      await options.onMember?.({path: `./${DATADIR_MANIFEST}`, size: body.length, type: 'file'})
      yield body
      yield tarPadding(body.length)
      yield TAR_END
    }

    const output = Readable.from(parallelGzip(tarBlocks()))
    const archiveBytes = await options.destination.write(output, {overwrite: options.overwrite})
    return {
      allFiles,
      archiveBytes,
      consistentAt: {...consistency(verification), ...checked.matched, digestsVerified: verification.digestsVerified},
      dataBytes,
      dataDir,
      directories: members.filter((member) => member.type === 'directory').length,
      durationMs: Date.now() - started,
      files: files.length,
      hot: probe.running,
      leftOut: Math.max(0, found.filter((member) => member.type === 'file').length - files.length),
      location: options.destination.display,
      logDir,
      notes: set.notes,
      skipped,
      ...(checked.note ? {adminHashNote: checked.note} : {}),
      ...(verification.exactFrom === undefined ? {} : {exactFrom: hexZxid(verification.exactFrom)}),
      ...(probe.zookeeperVersion ? {zookeeperVersion: probe.zookeeperVersion} : {}),
    }
  } finally {
    await pins.release()
  }
}

/** The AdminServer's digests compared (when --admin-url gave some): {adminHashesMatched} for the manifest, or why none. */
function checkAgainstServer(
  hashes: Awaited<ReturnType<typeof readAdminHashes>> | undefined,
  verification: CopyVerification,
  snapshotZxid: bigint | undefined,
): {matched: {adminHashesMatched?: number}; note?: string} {
  if (!hashes) return {matched: {}}
  if (!('digests' in hashes)) return {matched: {}, note: hashes.note}
  const {matched, note} = compareAdminHashes(hashes, verification.treeDigestsAt, {
    from: snapshotZxid ?? 0n,
    to: verification.zxid,
  })
  return {matched: {adminHashesMatched: matched}, ...(note ? {note} : {})}
}

function consistency({time, zxid}: CopyVerification): {time?: string; zxid: string} {
  return {zxid: hexZxid(zxid), ...(time ? {time: time.toISOString()} : {})}
}

/** The top directories, their version-2/, and the chosen snapshot and logs. */
function recoveryMembers(found: SourceMember[], chosen: Map<string, ChosenFile>): SourceMember[] {
  const tops = new Set([
    `./${ROOT}/`,
    `./${SNAPSHOT}/`,
    `./${TRANSACTIONS}/`,
    `./${SNAPSHOT}/version-2/`,
    `./${TRANSACTIONS}/version-2/`,
  ])
  const members = found.filter((member) => member.type === 'directory' && tops.has(member.name))
  for (const [name, file] of chosen) members.push(chosenMember(name, file))
  return members
}

/** Every member found, each file pinned (an obsolete one may be purged meanwhile: then it is left out, and noted), the epoch files last. */
async function pinAll(
  found: SourceMember[],
  chosen: Map<string, ChosenFile>,
  pins: Pins,
  notes: string[],
): Promise<SourceMember[]> {
  const members: SourceMember[] = []
  for (const member of found) {
    const file = chosen.get(member.name)
    if (member.type === 'directory') members.push(member)
    else if (file) members.push(chosenMember(member.name, file))
    else {
      const pinned = await pins.pin(member.absolute!)
      if (pinned) members.push({...member, pinned, size: pinned.size})
      else notes.push(`left out ${member.absolute}: deleted (purged) before it could be copied`)
    }
  }

  // Files that appeared after the directories were read (a log rolled meanwhile).
  for (const [name, file] of chosen)
    if (!members.some((member) => member.name === name)) members.push(chosenMember(name, file))
  return [
    ...members.filter((member) => !isEpochFile(member.name)),
    ...members.filter((member) => isEpochFile(member.name)),
  ]
}

function chosenMember(name: string, file: ChosenFile): SourceMember {
  return {...sourceMember(name, file.pinned.stats, 'file'), chosen: file, pinned: file.pinned, size: file.length}
}

function sourceMember(
  name: string,
  info: Awaited<ReturnType<typeof lstat>>,
  type: 'directory' | 'file',
  absolute?: string,
): SourceMember {
  return {
    ...(absolute ? {absolute} : {}),
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
async function collect(
  dir: string,
  prefix: string,
  members: SourceMember[],
  skipped: string[],
  top = false,
): Promise<void> {
  const entries = (await readdir(dir)).sort()
  for (const entry of entries) {
    const name = `${prefix}${entry}`
    if (excludedName(name) || entry.startsWith(STAGING_PREFIX)) continue
    const absolute = join(dir, entry)
    let info = await lstat(absolute)
    if (info.isSymbolicLink()) {
      const target = await stat(absolute).catch(() => undefined)
      if (top && entry === 'version-2' && target?.isDirectory()) info = target
    }

    if (info.isDirectory()) {
      members.push(sourceMember(`${name}/`, info, 'directory', absolute))
      await collect(absolute, `${name}/`, members, skipped)
    } else if (info.isFile()) {
      members.push(sourceMember(name, info, 'file', absolute))
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
async function requireState(
  members: SourceMember[],
  skipped: string[],
  {dir, kind, prefix}: {dir: string; kind: 'data' | 'log'; prefix: string},
): Promise<void> {
  const unreadable = skipped.find((path) => path.startsWith(`${dir}/`) && isStateFile(path.slice(dir.length + 1)))
  if (unreadable)
    throw new UsageError(
      `${unreadable} is not a regular file (a symbolic link?): the backup would miss ZooKeeper state; put the file itself there`,
    )
  if (
    members.some(
      (member) =>
        member.type === 'file' && member.name.startsWith(prefix) && isStateFile(member.name.slice(prefix.length)),
    )
  )
    return
  throw new UsageError(
    `no ZooKeeper state in the ${kind} directory ${dir}: no snapshot.* or log.* in ${join(dir, 'version-2')} (it holds ${describeEntries((await readdir(dir)).sort())}); check --${kind}-dir`,
  )
}

function describeEntries(entries: string[]): string {
  if (entries.length === 0) return 'nothing'
  const shown = entries
    .slice(0, 3)
    .map((entry) => JSON.stringify(entry))
    .join(', ')
  return `${entries.length} entr${entries.length === 1 ? 'y' : 'ies'}: ${shown}${entries.length > 3 ? ', ...' : ''}`
}

function headerBlocks({gid, mode, mtime, name, size, type, uid}: SourceMember): Buffer {
  return tarHeader({gid, mode, mtime, path: name, size, type: type === 'file' ? 'File' : 'Directory', uid})
}
