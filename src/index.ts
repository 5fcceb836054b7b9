export type {ArchiveHeader, Manifest, ZnodeRecord} from './archive/format.js'
export {ArchiveError, readArchive, verifyArchive} from './archive/reader.js'
/**
 * The engines, for other tools (and the backup service) to use without the CLI. As an oclif plugin,
 * this package contributes its commands through `oclif.commands` in package.json.
 */
export {type BackupOptions, type BackupResult, backupTree} from './engine/backup.js'
export {inspectArchive, type InspectResult} from './engine/inspect.js'
export {type RestoreOptions, type RestorePlan, type RestoreResult, restoreTree} from './engine/restore.js'
export {type WalkOptions, type WalkStats, walkTree} from './engine/znodes/read-tree.js'
export {EXIT_FAILED, EXIT_GAP, EXIT_OK, EXIT_USAGE, OperationError, UsageError} from './errors.js'
export {redactLocation, registerProvider, resolveLocation} from './providers/index.js'
export type {ObjectInfo, StorageProvider} from './providers/types.js'
export {type SessionOptions, ZkSession} from './zk/session.js'
export {parseZkUri} from './zk/uri.js'
