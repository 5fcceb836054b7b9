/**
 * The engines, for other tools (and the backup service) to use without the CLI. As an oclif plugin,
 * this package contributes its commands through `oclif.commands` in package.json.
 */
export {backupTree, type BackupOptions, type BackupResult} from './engine/backup.js'
export {inspectArchive, type InspectResult} from './engine/inspect.js'
export {restoreTree, type RestoreOptions, type RestorePlan, type RestoreResult} from './engine/restore.js'
export {walkTree, type WalkOptions, type WalkStats} from './engine/znodes/read-tree.js'
export {readArchive, verifyArchive, ArchiveError} from './archive/reader.js'
export type {ArchiveHeader, Manifest, ZnodeRecord} from './archive/format.js'
export {ZkSession, type SessionOptions} from './zk/session.js'
export {parseZkUri} from './zk/uri.js'
export {registerProvider, resolveLocation, redactLocation} from './providers/index.js'
export type {StorageProvider, ObjectInfo} from './providers/types.js'
export {EXIT_FAILED, EXIT_OK, EXIT_USAGE, OperationError, UsageError} from './errors.js'
