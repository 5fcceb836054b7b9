/** What a location given to `zk history` holds: an archive repository, or a data-directory archive. */
import type {StorageProvider} from '../../providers/types.js'

import {UsageError} from '../../errors.js'
import {resolveLocation} from '../../providers/index.js'
import {readRepository} from '../archive/repository.js'
import {isDirectoryLocation, openStoredArchive} from '../open-archive.js'
import {archiveSource} from './archive-source.js'
import {directorySource} from './directory-source.js'
import {repositorySource} from './repository-source.js'
import {type TxnSource} from './source.js'

export type SourceLocation = {dataDir: string; logDir?: string} | {location: string}

export async function openTxnSource(where: SourceLocation): Promise<TxnSource> {
  if ('dataDir' in where) return directorySource(where.dataDir, where.logDir)
  const provider = resolveLocation(where.location)
  if (!(await isDirectoryLocation(where.location)) && (await provider.stat())) return storedArchiveSource(provider)
  const content = await readRepository(provider)
  if (content.bases.length > 0) return repositorySource(provider, content)
  throw new UsageError(
    `${provider.display} is neither an archive repository (no bases/*.json) nor a data-directory archive: for a node's data directory, give --data-dir`,
  )
}

async function storedArchiveSource(provider: StorageProvider): Promise<TxnSource> {
  const opened = await openStoredArchive(provider)
  opened.source.release()
  if (opened.kind === 'online')
    throw new UsageError(
      `${provider.display} is an online archive (a tree, no transactions): history reads a repository, a data-directory archive or --data-dir`,
    )
  return archiveSource(provider)
}
