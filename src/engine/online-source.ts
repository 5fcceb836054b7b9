/**
 * What an online restore reads, chosen from what the location holds: an online archive as it is;
 * a data-directory archive's replayed state, or a repository's state at a point, read directly
 * from the tree (restore/state-source.ts), which is held until the restore ends.
 */
import type {StorageProvider} from '../providers/types.js'
import type {PointTarget} from './pitr/target.js'
import type {RestoreSource} from './restore/source.js'

import {hexZxid} from '../zk/zxid.js'
import {loadDataDirArchive} from './convert.js'
import {openStoredArchive} from './open-archive.js'
import {type PointSummary, withPointState} from './pitr/point.js'
import {stateSource} from './restore/state-source.js'

/** Runs `use` with the source to restore from; with `point`, the repository's state there, and what was located. */
export async function withOnlineSource<T>(
  location: StorageProvider,
  point: PointTarget | undefined,
  use: (source: RestoreSource | StorageProvider, located?: PointSummary) => Promise<T>,
): Promise<T> {
  if (point) {
    return withPointState(location, point, (state, located) => {
      const at = `state at zxid ${located.zxid}${located.time ? `, ${located.time}` : ''}`
      return use(stateSource(state, `${location.display} (${at})`), located)
    })
  }

  if (location.scheme === '-') return use(location)
  const opened = await openStoredArchive(location)
  opened.source.release()
  if (opened.kind === 'online') return use(location)
  const state = await loadDataDirArchive(await location.read(), location.display)
  return use(stateSource(state, `${location.display} (state at zxid ${hexZxid(state.zxid)})`))
}
