import {type ArchiveHeader, FORMAT_NAME, FORMAT_VERSION, hexZxid, type Manifest, type ZnodeRecord} from '../archive/format.js'
import {ArchiveWriter} from '../archive/writer.js'
import {OperationError, UsageError} from '../errors.js'
import type {StorageProvider} from '../providers/types.js'
import {hidesDigest, type Identity} from '../zk/acl.js'
import type {ZkSession} from '../zk/session.js'
import {highestZxid} from '../zk/srvr.js'
import {type BatchMode, BulkAccess, type ReadPath} from './bulk.js'
import {excludeMatcher} from './exclude.js'
import {TOOL} from './version.js'
import {walkTree, type WalkedZnode} from './walk.js'

export interface BackupOptions {
  session: ZkSession
  root: string
  destination: StorageProvider
  exclude?: string[]
  includeEphemerals?: boolean
  /** Replace an existing archive at the destination. */
  overwrite?: boolean
  /** A missing root is an error unless this is set (the safety backup of a path that does not exist yet). */
  allowMissingRoot?: boolean
  onZnode?: (znode: WalkedZnode) => void
  /**
   * Told before the walk how many znodes the subtree holds, when the server can say (ZooKeeper 3.6+,
   * on the multi-read path): ephemeral and excluded ones included, so at least as many as are walked.
   */
  onTotal?: (znodes: number) => void
  /** Multi-read batches: auto (when the server answers them, the default), on, off. */
  batch?: BatchMode
  /** Read through this (a restore's); otherwise one is opened, and closed at the end. */
  bulk?: BulkAccess
}

export interface BackupResult {
  location: string
  root: string
  hosts: string[]
  znodes: number
  dataBytes: number
  archiveBytes: number
  skippedEphemerals: number
  excluded: number
  changedDuringBackup: number
  inconsistent: number
  zxidStart: string | null
  zxidEnd: string | null
  treeDigest: string
  durationMs: number
  znodesPerSecond: number
  /** How the znodes were read: multi-read batches, or one request each. */
  readPath: ReadPath
  /** Why batches were not used, when --batch auto fell back. */
  batchFallback?: string
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

  const zxidStart = await highestZxid(session.hosts)
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
  try {
    bulk = options.bulk ?? (await BulkAccess.open(session, options.batch))
    if (options.onTotal) await reportTotal(bulk, root, options.onTotal)
    const stats = await walkTree({
      exclude: excludeMatcher(exclude),
      includeEphemerals: options.includeEphemerals,
      async onZnode(znode) {
        refuseHiddenDigest(znode.record, session.identities)
        options.onZnode?.(znode)
        await writer.addZnode(znode.relativePath, znode.record, znode.data)
      },
      reader: await bulk.reader(),
      root,
      session,
      zxidStart,
    })
    if (!stats.rootExists && !options.allowMissingRoot) {
      throw new UsageError(`No znode at ${root}: check the path in --zk`)
    }

    const zxidEnd = await highestZxid(session.hosts)
    const {rootExists: _, ...counts} = stats
    manifest = writer.finish({...counts, completedAt: new Date().toISOString(), zxidEnd: zxidEnd === undefined ? null : hexZxid(zxidEnd)})
  } catch (error) {
    // A storage failure (a full disk) shows in the walk only as an aborted write: report its cause.
    const cause = storageFailure ?? error
    writer.abort(error as Error)
    await written.catch(() => {})
    throw cause
  } finally {
    if (bulk !== options.bulk) await bulk?.close()
  }

  const archiveBytes = await written
  const durationMs = Date.now() - started
  return {
    manifest,
    result: {
      archiveBytes,
      ...(bulk.fallbackReason ? {batchFallback: bulk.fallbackReason} : {}),
      changedDuringBackup: manifest.changedDuringBackup,
      dataBytes: manifest.dataBytes,
      durationMs,
      excluded: manifest.excluded,
      hosts: manifest.source.hosts,
      inconsistent: manifest.inconsistentCount,
      location: destination.display,
      readPath: bulk.readPath,
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
