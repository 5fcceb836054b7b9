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
import {appendFileSync} from 'node:fs'
let peak = 0
let phase = 'start'
const mark = (what: string) => {
  const m = process.memoryUsage()
  appendFileSync('/tmp/memtrace.log', `${new Date().toISOString()} ${what} rss=${(m.rss/2**20).toFixed(0)} heap=${(m.heapUsed/2**20).toFixed(0)} ext=${(m.external/2**20).toFixed(0)} ab=${(m.arrayBuffers/2**20).toFixed(0)} peakSoFar(${phase})=${(peak/2**20).toFixed(0)}\n`)
  phase = what
  peak = 0
}
if (process.env.MEMTRACE) setInterval(() => { peak = Math.max(peak, process.memoryUsage().rss) }, 100).unref()
export const memMark = (what: string) => { if (process.env.MEMTRACE) mark(what) }
export async function withOnlineSource<T>(
  location: StorageProvider,
  point: PointTarget | undefined,
  use: (source: RestoreSource | StorageProvider, located?: PointSummary) => Promise<T>,
): Promise<T> {
  if (point) {
    return withPointState(location, point, (state, located) => {
      const at = `state at zxid ${located.zxid}${located.time ? `, ${located.time}` : ''}`
      memMark('replayed')
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
