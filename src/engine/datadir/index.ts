/** Offline data-directory backups, compatible with `dcos-zk`: the operations (the format is src/archive/datadir.ts). */
export {backupDataDir, type DataDirBackupOptions, type DataDirBackupResult} from './backup.js'
export {DCOS_PATHS} from './directories.js'
export {type DataDirFile, type DataDirInspectResult, inspectDataDirArchive} from './inspect.js'
export {type DataDirRestoreOptions, type DataDirRestoreResult, restoreDataDir, spaceMargin} from './restore.js'
export {checkNotRunning, RUNNING_MESSAGE, type RunningCheckOptions} from './running.js'
