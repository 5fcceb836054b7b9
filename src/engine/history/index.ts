/** The history of a path (issue 17 part 2): every change to it, oldest first, and the first change after a time. */
import type {StorageProvider} from '../../providers/types.js'

import {firstChangeIn, type HistoryEvent} from './history.js'
import {repositorySource} from './repository-source.js'
import {type TxnSource} from './source.js'

export {archiveSource} from './archive-source.js'
export {directorySource} from './directory-source.js'
export {
  firstChangeIn,
  type History,
  type HistoryEvent,
  type HistoryOptions,
  type SessionSummary,
  streamHistory,
} from './history.js'
export {openTxnSource, type SourceLocation} from './open-source.js'
export {repositorySource} from './repository-source.js'
export {type TxnSource} from './source.js'
export {type Change, changesOf, touches} from './touches.js'

/**
 * For `zk restore --before-change PATH [--since T]`: the first txn at or after `since` that changed
 * or deleted PATH or anything under it, in an archive repository (or any txn source), and `before`,
 * the zxid just before it, the point to restore to. Undefined when nothing changed it.
 */
export async function firstChangeAfter(
  repository: StorageProvider | TxnSource,
  path: string,
  since?: Date,
): Promise<undefined | {before: bigint; change: HistoryEvent}> {
  const source = 'readTxns' in repository ? repository : repositorySource(repository)
  return firstChangeIn(source, path, since)
}
