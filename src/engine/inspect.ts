import type {ArchiveHeader, Manifest, ZnodeRecord} from '../archive/format.js'
import type {StorageProvider} from '../providers/types.js'

import {ArchiveError, readArchive} from '../archive/reader.js'

export interface InspectResult {
  header?: ArchiveHeader
  location: string
  manifest?: Manifest
  problem?: string
  /** True only when the whole archive was read and every check passed. */
  verified: boolean
  znodesRead: number
}

/** Reads and verifies a whole archive, handing each znode record to `onZnode` as it goes. */
export async function inspectArchive(
  source: StorageProvider,
  onZnode?: (record: ZnodeRecord) => void,
): Promise<InspectResult> {
  const result: InspectResult = {location: source.display, verified: false, znodesRead: 0}
  try {
    for await (const item of readArchive(await source.read(), source.display)) {
      if (item.kind === 'header') result.header = item.header
      else if (item.kind === 'manifest') result.manifest = item.manifest
      else {
        result.znodesRead++
        onZnode?.(item.record)
      }
    }

    result.verified = true
  } catch (error) {
    if (!(error instanceof ArchiveError)) throw error
    result.problem = error.message
  }

  return result
}
