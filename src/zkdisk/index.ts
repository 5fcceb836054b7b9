/**
 * A reader of ZooKeeper's on-disk formats (version-2 directories, as ZooKeeper 3.5 to 3.9 write them),
 * without Java: snapshots (plain, gzip, snappy), transaction logs, and the state a server would load.
 *
 * loadState / loadStateFromDirectories mirror ZooKeeper 3.8: the newest snapshot that can be read
 * (older ones are tried after it, each skip noted), the logs from the one starting at or before the
 * snapshot's zxid, every transaction after that zxid applied as DataTree.processTxn applies it (fuzzy
 * snapshots included), then the ephemerals of sessions missing from the session table removed. The
 * tree is checked against the digests ZooKeeper logged. Stats come out as clients read them.
 *
 * Damage: a bad magic, a checksum mismatch, a truncated snapshot or a malformed record is a
 * DiskFormatError naming the file and byte offset. A log entry that is cut short, lacks its end byte
 * or fails its checksum is a torn tail when only zero bytes follow it (read up to the last whole
 * transaction, reported in `torn` and `notes`), and corruption when anything else does.
 *
 * Not reproduced: quota statistics nodes (/zookeeper/quota/.../zookeeper_stats) are not recomputed
 * as ZooKeeper does at startup, and a quorum member's /zookeeper/config is what was last persisted.
 */
export {adler32, Adler32} from './adler32.js'
export {DataTree} from './datatree.js'
export {DIGEST_VERSION, nodeDigest} from './digest.js'
export {loadStateFromDirectories, readLogAt} from './directories.js'
export {DiskFormatError, type DiskFormatErrorOptions, diskFormatFailure} from './errors.js'
export {type DiskFile, parseLogName, parseSnapshotName, type SnapshotCompression} from './files.js'
export {
  decodeAll,
  type LogFile,
  readLogFile,
  readTxnLog,
  scanTxnLog,
  type TxnLogContent,
  type TxnLogEntries,
} from './log-scan.js'
export {snappyStreamDecompress, snappyUncompress} from './snappy.js'
export {readSnapshot, SNAPSHOT_MAGIC, type SnapshotContent, type SnapshotDigest} from './snapshot.js'
export {
  type DiskState,
  loadState,
  type ReplayOptions,
  replayState,
  type StateSource,
  stateSource,
  type TornLog,
} from './state.js'
export * from './txn.js'
export {LOG_MAGIC, type LoggedTxn, type TornTail, wholeEntries, type WholeEntries} from './txnlog.js'
export {
  addChild,
  childCount,
  childNames,
  CONTAINER_OWNER,
  type DiskStat,
  type DiskZnode,
  nodeTypeOfOwner,
  OPEN_ACL,
  type PersistedStat,
  statOf,
  toDiskZnode,
  type TreeNode,
  ttlOwner,
} from './znode.js'
