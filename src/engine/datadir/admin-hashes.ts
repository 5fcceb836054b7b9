/**
 * The copy checked against the node itself: the tree digests its AdminServer's hash command lists
 * (one every 128 zxids) compared with the replayed tree's at the same zxids. The TxnDigests of the
 * logs come from the very files copied; these come from the server's memory.
 */
import {OperationError} from '../../errors.js'
import {type AdminHashes, fetchAdminHashes} from '../../zk/admin-hash.js'
import {AdminUnavailable} from '../../zk/admin.js'
import {compareZxid, hexZxid} from '../../zk/zxid.js'

/** The hash answer is small: a server slower than this is not answering. */
const HASH_TIMEOUT_MS = 10_000

/** The hash list, or a note saying why there is none (the copy is still checked against the logged digests). */
export async function readAdminHashes(url: string): Promise<AdminHashes | {note: string}> {
  try {
    return await fetchAdminHashes({timeoutMs: HASH_TIMEOUT_MS, url})
  } catch (error) {
    if (!(error instanceof AdminUnavailable)) throw error
    return {note: `not compared with the AdminServer's hash command: ${error.message}`}
  }
}

/** How many of the server's digests the copy matched, or a note when none falls in its range; a mismatch refuses the copy. */
export function compareAdminHashes(
  hashes: AdminHashes,
  replayed: Map<bigint, bigint>,
  range: {from: bigint; to: bigint},
): {matched: number; note?: string} {
  let matched = 0
  for (const [zxid, digest] of replayed) {
    if (hashes.digests.get(zxid) !== digest)
      throw new OperationError(
        `the copy does not hold the node's state: its tree digest after zxid ${hexZxid(zxid)} differs from the one ${hashes.source}'s hash command lists`,
      )
    matched++
  }

  if (matched > 0) return {matched}
  const zxids = [...hashes.digests.keys()].sort(compareZxid)
  const listed =
    zxids.length === 0
      ? 'lists no digest (digests off, or fewer than 128 transactions)'
      : `lists zxids ${hexZxid(zxids[0])} to ${hexZxid(zxids.at(-1)!)}`
  return {
    matched,
    note: `no zxid in common with ${hashes.source}'s hash command: the copy replays ${hexZxid(range.from)} to ${hexZxid(range.to)}, the server ${listed}`,
  }
}
