/**
 * --keep N: the N newest bases and exactly the segments their windows use; the rest deleted. Each
 * base's record goes before its archive and each .seg before its sidecar, so that a kill midway
 * leaves only orphans (an archive or a sidecar nothing refers to), never a base or segment half gone.
 */
import type {StorageProvider} from '../../providers/types.js'

import {UsageError} from '../../errors.js'
import {BASES, readRepository, segmentName, type SegmentRecord, SEGMENTS, zxidName} from './repository.js'
import {basesInOrder, windowsOf} from './timeline.js'

export async function keepNewest(
  repository: StorageProvider,
  keep: number,
  log: (event: Record<string, unknown> & {event: string}) => void,
): Promise<void> {
  const content = await readRepository(repository)
  const bases = basesInOrder(content.bases)
  if (bases.length <= keep) return
  const kept = bases.slice(-keep)
  const used = new Set<SegmentRecord>()
  windowsOf({bases: kept, segments: content.segments}, (segment) => used.add(segment))
  for (const base of bases.slice(0, -keep)) {
    await deleteIfThere(repository.child(`${BASES}/${zxidName(BigInt(base.zxid))}.json`))
    await deleteIfThere(repository.child(`${BASES}/${base.archive}`))
    log({event: 'deleted-base', zxid: base.zxid})
  }

  let deleted = 0
  for (const segment of content.segments.filter((record) => !used.has(record))) {
    const name = segmentName(BigInt(segment.fromZxid), BigInt(segment.toZxid))
    await deleteIfThere(repository.child(`${SEGMENTS}/${name}.seg`))
    await deleteIfThere(repository.child(`${SEGMENTS}/${name}.json`))
    deleted++
  }

  if (deleted > 0) log({event: 'deleted-segments', count: deleted})
}

/** Gone already (a retention step killed midway) is what was wanted. */
export async function deleteIfThere(location: StorageProvider): Promise<void> {
  await location.delete().catch((error: unknown) => {
    if (!(error instanceof UsageError)) throw error
  })
}
