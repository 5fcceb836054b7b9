/**
 * PLACEHOLDER (branch h3-pitr only; the lead drops this commit at merge): the offline writer of a
 * data directory at a point is another helper's (branch h3-offline), with this interface.
 */
import type {StorageProvider} from '../../providers/types.js'

import {OperationError} from '../../errors.js'

export interface PointFiles {
  /** The base's tar.gz (dcos-zk layout hot copy), from the repository. */
  base: StorageProvider
  /** The window's .seg files in zxid order, each already SHA-256-checked. */
  segments: StorageProvider[]
  /** The last txn to keep (the resolved target, inclusive). */
  untilZxid: bigint
}

export interface DataDirPointResult {
  dataDir: string
  logDir: string
}

export async function restoreDataDirToPoint(
  _point: PointFiles,
  _options: {dataDir: string; force?: boolean; logDir?: string; onNotice?: (m: string) => void; zkConfig?: string},
): Promise<DataDirPointResult> {
  throw new OperationError(
    'not yet: an offline restore to a point (--data-dir with --to-zxid or --to-time) is not in this build',
  )
}
