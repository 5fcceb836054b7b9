/**
 * The transactions of an archive repository (zk archive): window after window in the order the
 * bases were taken, each its base archive's logs (what precedes its first segment) and then its
 * segments in zxid order. Each segment is read whole (at most a log's size) and checked against its
 * sidecar (verified-segment.ts) before a byte of it is decoded.
 */
import type {StorageProvider} from '../../providers/types.js'

import {OperationError, UsageError} from '../../errors.js'
import {DiskFormatError} from '../../zkdisk/errors.js'
import {readTxnLog} from '../../zkdisk/log-scan.js'
import {
  type BaseRecord,
  BASES,
  readRepository,
  type RepositoryContent,
  type SegmentRecord,
} from '../archive/repository.js'
import {basesInOrder, windowOfBase} from '../archive/timeline.js'
import {segmentLocation, verifiedSegment} from '../archive/verified-segment.js'
import {readArchiveLogs} from './archive-source.js'
import {OnceEach, type TxnSource} from './source.js'

export function repositorySource(repo: StorageProvider, content?: RepositoryContent): TxnSource {
  return {
    display: repo.display,
    async readTxns(visit) {
      const held = content ?? (await readRepository(repo))
      if (held.bases.length === 0)
        throw new UsageError(
          `${repo.display} holds no archive base (no bases/*.json): check the repository location, or run dcos zk archive first`,
        )
      const once = new OnceEach(visit)
      for (const base of basesInOrder(held.bases)) {
        if (once.done) return
        const baseZxid = BigInt(base.zxid)
        // A base taken after a gap below what was read: the node was reset, its zxids start again.
        if (base.reason === 'gap' && baseZxid < once.lastZxid) once.restart()
        if (baseZxid > once.lastZxid) await readBaseLogs(repo, base, once)
        for (const segment of windowOfBase(base, held.segments).chain) {
          if (once.done) return
          if (BigInt(segment.toZxid) > once.lastZxid) await readSegment(repo, segment, once)
        }
      }
    },
  }
}

/** The base's logs up to its own last txn: the segments carry what follows. */
async function readBaseLogs(repo: StorageProvider, base: BaseRecord, once: OnceEach): Promise<void> {
  const end = BigInt(base.zxid)
  const upToBase = new OnceEach((txn) => {
    if (txn.header.zxid <= end) once.offer(txn)
    return !once.done && txn.header.zxid < end
  })
  await readArchiveLogs(repo.child(`${BASES}/${base.archive}`), upToBase)
}

async function readSegment(repo: StorageProvider, segment: SegmentRecord, once: OnceEach): Promise<void> {
  const bytes = (await verifiedSegment(repo, segment, 'memory'))!
  try {
    for (const txn of readTxnLog({bytes, name: `log.${BigInt(segment.fromZxid).toString(16)}`}).txns) once.offer(txn)
  } catch (error) {
    if (error instanceof DiskFormatError)
      throw new OperationError(`${segmentLocation(repo, segment).display}: ${error.message}`)
    throw error
  }
}
