/**
 * What a restore reads its tree from, read once to verify and plan, and again to plan against the
 * live tree, check the ACLs and write: an online archive (each pass gunzipped and verified), or a
 * replayed state held in memory (each pass a walk of it, every record checked as an archive's are).
 */
import type {StorageProvider} from '../../providers/types.js'
import type {SelectedZnode} from './types.js'

import {readArchive} from '../../archive/reader.js'
import {OperationError, UsageError} from '../../errors.js'

export type SourceItem = (SelectedZnode & {kind: 'znode'}) | {kind: 'root'; root: string}

export interface RestoreSource {
  readonly display: string
  /**
   * The root the records' paths are relative to, then every record, parents before children, each
   * checked; it throws at the first problem, so a pass that ends has read a whole, sound source.
   */
  records(): AsyncGenerator<SourceItem>
  /** Lets go of what the source holds in memory, once the restore has written its last znode (the re-read that checks the result needs only the plan's digest). */
  release?(): void
}

/** A provider is read as an online archive. */
export function restoreSource(source: RestoreSource | StorageProvider): RestoreSource {
  if ('records' in source) return source
  if (source.scheme === '-') {
    throw new UsageError('restore reads the archive more than once (verify, then apply): save it to a file or S3 first')
  }

  return archiveSource(source)
}

/** An online archive, verified on every pass; a later pass that reads another archive (replaced meanwhile) fails. */
function archiveSource(provider: StorageProvider): RestoreSource {
  let first: undefined | {createdAt: string; treeDigest?: string}
  return {
    display: provider.display,
    async *records() {
      const changed = () => new OperationError(`${provider.display} changed while it was being restored`)
      for await (const item of readArchive(await provider.read(), provider.display)) {
        if (item.kind === 'header') {
          first ??= {createdAt: item.header.createdAt}
          if (item.header.createdAt !== first.createdAt) throw changed()
          yield {kind: 'root', root: item.header.source.root}
        } else if (item.kind === 'znode') {
          yield {data: item.data, kind: 'znode', record: item.record, relativePath: item.relativePath}
        } else {
          first!.treeDigest ??= item.manifest.treeDigest
          if (item.manifest.treeDigest !== first!.treeDigest) throw changed()
        }
      }
    },
  }
}
