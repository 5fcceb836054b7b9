/**
 * A restore to a point, up to the state: the repository read, the target located (or refused),
 * the segments fetched and verified into a private directory (removed afterwards), the state
 * replayed (the online restore reads that state directly: online-source.ts).
 */
import {mkdtemp, rm} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {basename, join} from 'node:path'

import type {StorageProvider} from '../../providers/types.js'
import type {PointTarget} from './target.js'

import {OperationError} from '../../errors.js'
import {resolveLocation} from '../../providers/index.js'
import {hexZxid} from '../../zk/zxid.js'
import {type DiskState} from '../../zkdisk/index.js'
import {BASES, readRepository, SEGMENTS} from '../archive/repository.js'
import {describeWindow, locate} from './locate.js'
import {type DataDirPointResult, type PointFiles, type PointRestoreOptions, restoreDataDirToPoint} from './offline.js'
import {replayPoint} from './replay.js'
import {fetchSegments, pointEnd} from './segments.js'

/** What a restore to a point used and reached: for the result and --json. */
export interface PointSummary {
  /** The base's archive under bases/. */
  base: string
  inclusive: boolean
  repository: string
  /** The segments replayed (names under segments/). */
  segments: string[]
  /** As the operator gave it. */
  target: string
  /** The time of the last txn kept, when known. */
  time?: string
  /** The window used: fromZxid (time)..toZxid (time). */
  window: string
  /** The last txn kept. */
  zxid: string
}

/** Locates the target, fetches and checks its segments, and runs `use` with the files of that point. */
export async function withPointFiles<T>(
  repo: StorageProvider,
  target: PointTarget,
  use: (files: PointFiles, point: PointSummary) => Promise<T>,
): Promise<T> {
  const located = locate(await readRepository(repo), target)
  return withPrivateDir('dcos-pitr-', async (dir) => {
    const fetched = await fetchSegments(repo, located.segments, dir)
    const end = await pointEnd(located.base, fetched, target)
    const point: PointSummary = {
      base: `${BASES}/${located.base.archive}`,
      inclusive: target.inclusive,
      repository: repo.display,
      segments: fetched.map(({path}) => `${SEGMENTS}/${basename(path)}`),
      target: target.label,
      window: describeWindow(located.window),
      zxid: hexZxid(end.zxid),
      ...(end.time ? {time: end.time} : {}),
    }
    const files: PointFiles = {
      base: repo.child(`${BASES}/${located.base.archive}`),
      segments: fetched.map(({path}) => resolveLocation(path)),
      untilZxid: end.zxid,
    }
    return use(files, point)
  })
}

/** The replayed state at the target; it must end at exactly the point located. */
export function withPointState<T>(
  repo: StorageProvider,
  target: PointTarget,
  use: (state: DiskState, point: PointSummary) => Promise<T>,
): Promise<T> {
  return withPointFiles(repo, target, async (files, point) => {
    const state = await replayPoint(files)
    if (state.zxid !== files.untilZxid)
      throw new OperationError(
        `the replay of ${point.base} and ${point.segments.length} segments reached zxid ${hexZxid(state.zxid)}, not ${point.zxid}: the repository is damaged`,
      )
    return use(state, point)
  })
}

/** The offline restore to a point: a data directory ZooKeeper loads at exactly that point (offline.ts); `onPoint` hears what was located first. */
export function restoreDataDirAtPoint(
  repo: StorageProvider,
  target: PointTarget,
  options: PointRestoreOptions,
  onPoint: (point: PointSummary) => void,
): Promise<DataDirPointResult & {point: PointSummary}> {
  return withPointFiles(repo, target, async (files, point) => {
    onPoint(point)
    return {...(await restoreDataDirToPoint(files, options)), point}
  })
}

/** A fresh directory under the system's temp directory, removed once `use` settles. */
async function withPrivateDir<T>(prefix: string, use: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), prefix))
  try {
    return await use(dir)
  } finally {
    await rm(dir, {force: true, recursive: true})
  }
}
