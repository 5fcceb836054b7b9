/**
 * The point a restore was asked for (--to-zxid, --to-time or --before-change), checked against what
 * the location is: an archive repository takes exactly one of them, an archive none.
 */
import type {StorageProvider} from '../../providers/types.js'
import type {PointTarget, TargetFlags} from './target.js'

import {UsageError} from '../../errors.js'
import {escapeText, validateZnodePath} from '../../zk/uri.js'
import {isRepository} from '../archive/repository.js'
import {firstChangeAfter} from '../history/index.js'
import {parseTime} from '../time.js'
import {parseTarget} from './target.js'

export interface PointRequest extends TargetFlags {
  'before-change'?: string
  since?: string
}

const NOT_A_REPOSITORY = 'needs an archive repository (a location holding bases/*.json, written by dcos zk archive)'

/** The target of the request, or undefined for a restore of an archive (no point asked for). */
export async function resolvePointTarget(
  location: StorageProvider,
  request: PointRequest,
): Promise<PointTarget | undefined> {
  const beforeChange = request['before-change']
  if (beforeChange !== undefined && (request.exclusive || request.inclusive))
    throw new UsageError(
      `--${request.exclusive ? 'exclusive' : 'inclusive'} is for --to-zxid or --to-time: --before-change always stops just before the change`,
    )
  const since = request.since === undefined ? undefined : new Date(parseTime(request.since, Date.now(), 'since'))
  const path = beforeChange === undefined ? undefined : validateZnodePath(beforeChange)
  const target = parseTarget(request)
  const repository = await isRepository(location)
  if (repository && path) return beforeChangeTarget(location, path, since)
  if (!repository && path) throw new UsageError(`--before-change ${NOT_A_REPOSITORY}; ${location.display} is not one`)
  if (repository && !target)
    throw new UsageError(
      `${location.display} is an archive repository (dcos zk archive): give --to-zxid or --to-time (dcos zk timeline ${location.display} lists what can be restored)`,
    )
  if (!repository && target)
    throw new UsageError(`${target.label.split(' ')[0]} ${NOT_A_REPOSITORY}; ${location.display} is not one`)
  return target
}

/** The zxid just before the first change to `path` (at or after `since`) the repository holds. */
async function beforeChangeTarget(
  repository: StorageProvider,
  path: string,
  since: Date | undefined,
): Promise<PointTarget> {
  const found = await firstChangeAfter(repository, path, since)
  const after = since ? ` since ${since.toISOString()}` : ''
  if (!found)
    throw new UsageError(
      `Nothing under ${escapeText(path)} changed${after} in ${repository.display}: nothing to undo (dcos zk history ${repository.display} ${escapeText(path)} lists its changes)`,
    )
  const {before, change} = found
  return {
    inclusive: true,
    kind: 'zxid',
    label: `--before-change ${escapeText(path)}: before the ${change.op} of ${escapeText(change.path)} at ${change.time} (zxid ${change.zxid}, session ${change.session})`,
    zxid: before,
  }
}
