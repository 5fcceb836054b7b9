import type {StorageProvider} from '../providers/types.js'
import type {ZkSession} from '../zk/session.js'
import type {SnapshotContent} from '../zkdisk/index.js'

import {
  type AdminSnapshotReport,
  type ArchiveHeader,
  FORMAT_NAME,
  FORMAT_VERSION,
  hexZxid,
  type Manifest,
  type WalkCounts,
  type ZnodeRecord,
} from '../archive/format.js'
import {ArchiveWriter} from '../archive/writer.js'
import {errorMessage, OperationError, UsageError} from '../errors.js'
import {hidesDigest, type Identity} from '../zk/acl.js'
import {AdminUnavailable, fetchAdminSnapshot} from '../zk/admin.js'
import {highestZxid} from '../zk/srvr.js'
import {parseAdminSnapshot, settleSnapshot, type SnapshotCounts, snapshotZnodes} from './admin-snapshot.js'
import {excludeMatcher, type PathMatcher} from './exclude.js'
import {TOOL} from './version.js'
import {type BatchMode, BulkAccess, type ReadPath} from './znodes/bulk-access.js'
import {type WalkedZnode, walkTree} from './znodes/read-tree.js'

export interface BackupOptions {
  /** Take the state from this AdminServer's snapshot (ZooKeeper 3.9+), falling back to the walk unless required. */
  admin?: AdminOptions
  /** A missing root is an error unless this is set (the safety backup of a path that does not exist yet). */
  allowMissingRoot?: boolean
  /** Multi-read batches: auto (when the server answers them, the default), on, off. */
  batch?: BatchMode
  /** Read through this (a restore's); otherwise one is opened, and closed at the end. */
  bulk?: BulkAccess
  destination: StorageProvider
  exclude?: string[]
  includeEphemerals?: boolean
  /**
   * Told before the walk how many znodes the subtree holds, when the server can say (ZooKeeper 3.6+,
   * on the multi-read path): ephemeral and excluded ones included, so at least as many as are walked.
   */
  onTotal?: (znodes: number) => void
  onZnode?: (znode: WalkedZnode) => void
  /** Replace an existing archive at the destination. */
  overwrite?: boolean
  root: string
  session: ZkSession
}

export interface AdminOptions {
  /** How long the AdminServer may stall. Default 30 s. */
  idleTimeoutMs?: number
  /** The largest snapshot read into memory. Default 1 GiB. */
  maxBytes?: number
  /** Fail rather than fall back to the client API when the snapshot cannot be had. */
  required?: boolean
  url: string
}

const DEFAULT_ADMIN_MAX_BYTES = 1024 ** 3
const DEFAULT_ADMIN_IDLE_MS = 30_000

export interface BackupResult {
  /** Why the AdminServer snapshot was not used, when --admin-url was given and the client API read instead. */
  adminFallback?: string
  /** What the AdminServer snapshot held and what was re-read (also in the manifest). */
  adminSnapshot?: AdminSnapshotReport
  archiveBytes: number
  /** Why batches were not used, when --batch auto fell back. */
  batchFallback?: string
  changedDuringBackup: number
  dataBytes: number
  durationMs: number
  excluded: number
  hosts: string[]
  inconsistent: number
  location: string
  /** How the znodes were read: an AdminServer snapshot, multi-read batches, or one request each. */
  readPath: ReadPath
  root: string
  skippedEphemerals: number
  treeDigest: string
  znodes: number
  znodesPerSecond: number
  zxidEnd: null | string
  zxidStart: null | string
}

/**
 * Streams a verified-format archive of the subtree under `root` to `destination`. Nothing appears
 * at the destination unless the whole walk succeeded (the provider publishes atomically).
 */
export async function backupTree(options: BackupOptions): Promise<{manifest: Manifest; result: BackupResult}> {
  const {destination, root, session} = options
  const started = Date.now()
  const exclude = options.exclude ?? []
  if (!options.overwrite && (await destination.stat())) {
    throw new UsageError(`${destination.display} already exists: choose another location or pass --force to replace it`)
  }

  const admin = options.admin ? await takeAdminSnapshot(options.admin, session) : undefined
  const snapshot = admin && 'snapshot' in admin ? admin : undefined
  const zxidStart = snapshot
    ? Number(snapshot.snapshot.zxid)
    : await highestZxid(session.hosts, session.connectOptions.tls)
  const header: ArchiveHeader = {
    createdAt: new Date(started).toISOString(),
    format: FORMAT_NAME,
    formatVersion: FORMAT_VERSION,
    options: {exclude, includeEphemerals: Boolean(options.includeEphemerals)},
    source: {hosts: session.hosts, root},
    tool: TOOL,
    zxidStart: zxidStart === undefined ? null : hexZxid(zxidStart),
  }
  const writer = new ArchiveWriter(header)
  const written = destination.write(writer.output, {overwrite: options.overwrite})
  let storageFailure: Error | undefined
  written.catch((error: Error) => {
    storageFailure = error
    writer.abort(error)
  })

  let manifest: Manifest
  let bulk: BulkAccess | undefined
  let adminSnapshot: AdminSnapshotReport | undefined
  const openBulk = async () => (bulk ??= options.bulk ?? (await BulkAccess.open(session, options.batch)))
  try {
    let stats: WalkCounts & {rootExists: boolean}
    if (snapshot) {
      const settled = await settleSnapshot({
        exclude: excludeMatcher(exclude),
        reader: async () => syncedReader(await openBulk()),
        root,
        snapshot: snapshot.snapshot,
        source: snapshot.source,
      })
      adminSnapshot = settled.report
      stats = await writeSnapshotTree(
        settled.nodes,
        {...options, exclude: excludeMatcher(exclude)},
        writer,
        settled.report.reread,
      )
    } else {
      const reader = await openBulk()
      if (options.onTotal) await reportTotal(reader, root, options.onTotal)
      const {rootExists, ...counts} = await walkTree({
        exclude: excludeMatcher(exclude),
        includeEphemerals: options.includeEphemerals,
        async onZnode(znode) {
          refuseHiddenDigest(znode.record, session.identities)
          options.onZnode?.(znode)
          await writer.addZnode(znode.relativePath, znode.record, znode.data)
        },
        reader: await reader.reader(),
        root,
        session,
        zxidStart,
      })
      stats = {...counts, rootExists}
    }

    if (!stats.rootExists && !options.allowMissingRoot) {
      throw new UsageError(`No znode at ${root}: check the path in --zk`)
    }

    const zxidEnd = adminSnapshot?.consistentAtZxid ?? (await highestZxid(session.hosts, session.connectOptions.tls))
    const {rootExists: _, ...counts} = stats
    manifest = await writer.finish({
      ...counts,
      completedAt: new Date().toISOString(),
      zxidEnd: typeof zxidEnd === 'string' ? zxidEnd : zxidEnd === undefined ? null : hexZxid(zxidEnd),
      ...(adminSnapshot ? {adminSnapshot} : {}),
    })
  } catch (error) {
    // A storage failure (a full disk) shows in the walk only as an aborted write: report its cause.
    const cause = storageFailure ?? error
    writer.abort(error as Error)
    await written.catch(() => {})
    throw cause
  } finally {
    if (bulk !== options.bulk) await (bulk as BulkAccess | undefined)?.close()
  }

  const archiveBytes = await written
  const durationMs = Date.now() - started
  const usedBulk = bulk as BulkAccess | undefined
  return {
    manifest,
    result: {
      archiveBytes,
      ...(!snapshot && usedBulk?.fallbackReason ? {batchFallback: usedBulk.fallbackReason} : {}),
      ...(admin && 'fallback' in admin ? {adminFallback: admin.fallback} : {}),
      ...(adminSnapshot ? {adminSnapshot} : {}),
      changedDuringBackup: manifest.changedDuringBackup,
      dataBytes: manifest.dataBytes,
      durationMs,
      excluded: manifest.excluded,
      hosts: manifest.source.hosts,
      inconsistent: manifest.inconsistentCount,
      location: destination.display,
      readPath: snapshot ? 'admin-snapshot' : usedBulk!.readPath,
      root,
      skippedEphemerals: manifest.skippedEphemerals,
      treeDigest: manifest.treeDigest,
      znodes: manifest.znodes,
      znodesPerSecond: Math.round((manifest.znodes * 1000) / Math.max(durationMs, 1)),
      zxidEnd: manifest.zxidEnd,
      zxidStart: manifest.zxidStart,
    },
  }
}

type AdminAttempt = {fallback: string} | {snapshot: SnapshotContent; source: string}

/** The AdminServer's snapshot, parsed; or why not, when the client API may read instead. */
async function takeAdminSnapshot(admin: AdminOptions, session: ZkSession): Promise<AdminAttempt> {
  const {auth} = session.connectOptions
  try {
    if (!auth) throw new AdminUnavailable('no --zk-auth: the snapshot command needs digest credentials with ALL on /')
    const file = await fetchAdminSnapshot({
      auth,
      idleTimeoutMs: admin.idleTimeoutMs ?? DEFAULT_ADMIN_IDLE_MS,
      maxBytes: admin.maxBytes ?? DEFAULT_ADMIN_MAX_BYTES,
      url: admin.url,
    })
    try {
      return {snapshot: parseAdminSnapshot(file), source: file.source}
    } catch (error) {
      throw new AdminUnavailable(`the snapshot from ${file.source} cannot be read: ${errorMessage(error)}`)
    }
  } catch (error) {
    if (!(error instanceof AdminUnavailable)) throw error
    if (admin.required)
      throw new OperationError(`Cannot back up from the AdminServer snapshot (--read-path admin): ${error.message}`)
    return {fallback: error.message}
  }
}

/** A reader whose node has caught up with the leader, so that it sees at least what the snapshot's node saw. */
async function syncedReader(bulk: BulkAccess) {
  await bulk.session.sync('/').catch(() => {})
  return bulk.reader()
}

/** The settled snapshot's subtree into the archive, counted as a walk counts. */
async function writeSnapshotTree(
  nodes: SnapshotContent['nodes'],
  options: Omit<BackupOptions, 'exclude'> & {exclude: PathMatcher},
  writer: ArchiveWriter,
  reread: number,
): Promise<WalkCounts & {rootExists: boolean}> {
  const counts: SnapshotCounts = {dataBytes: 0, excluded: 0, skippedEphemerals: 0, znodes: 0}
  if (!nodes.has(options.root))
    return {...counts, changedDuringBackup: 0, inconsistent: [], inconsistentCount: 0, rootExists: false, vanished: 0}
  for (const znode of snapshotZnodes(nodes, options.root, {
    counts,
    exclude: options.exclude,
    includeEphemerals: options.includeEphemerals,
  })) {
    options.onZnode?.(znode)
    // Awaited only when the stream is full: an await of nothing still costs a turn per znode.
    const full = writer.addZnode(znode.relativePath, znode.record, znode.data)

    if (full) await full
  }

  return {...counts, changedDuringBackup: reread, inconsistent: [], inconsistentCount: 0, rootExists: true, vanished: 0}
}

/** The root and every znode under it, if the server counts them (getAllChildrenNumber); nothing otherwise. */
async function reportTotal(bulk: BulkAccess, root: string, onTotal: (znodes: number) => void): Promise<void> {
  if (bulk.readPath !== 'multi-read') return
  const under = await bulk.session.getAllChildrenNumber(root).catch(() => undefined)
  if (under !== undefined) onTotal(under + 1)
}

/**
 * ZooKeeper hides the hash of a digest entry from a client without ADMIN on the znode: an archive
 * of it would restore an ACL that locks its user out. Refused, naming the znode.
 */
function refuseHiddenDigest(record: ZnodeRecord, identities: Identity[]): void {
  const hidden = hidesDigest(record.acl, identities)
  if (!hidden) return
  throw new OperationError(
    `Cannot back up ${record.path}: ZooKeeper hides the password hash of its ACL entry for digest user "${hidden.id.slice(0, -2)}" from credentials without ADMIN on it, so the archive could not restore that ACL; pass --zk-auth of a user with ADMIN there, or of a ZooKeeper superuser`,
  )
}
