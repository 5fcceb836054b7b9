export {leaseDuration, LOCK, RepositoryLease} from './lease.js'
/** Continuous archiving (issue 16 part 2): a repository of bases and log segments, the step that fills it, its timeline. */
export {type ArchiveRunOptions, runArchiver} from './run.js'
export {type ArchiveEvent, type BaseEvery, syncOnce, type SyncOptions, type SyncResult} from './sync.js'
export {type Gap, readTimeline, type Timeline, type Window} from './timeline.js'
