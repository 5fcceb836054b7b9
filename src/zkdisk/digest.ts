import {crc32} from 'node:zlib'

import type {TreeNode} from './znode.js'

/** The digest version ZooKeeper 3.6 to 3.9 write (DigestCalculator); others are not compared. */
export const DIGEST_VERSION = 2
const STAT_BYTES = 60
const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER)
/** Reused by every call: nodeDigest is synchronous, and a buffer per znode was most of its cost. */
const scratch = Buffer.alloc(STAT_BYTES)

/**
 * A znode's share of the tree digest (DigestCalculator.calculateDigest): the CRC-32 of its path (""
 * for the root), its data and its persisted stat. ZooKeeper's own subtree below /zookeeper/ is left
 * out. The tree digest is the sum of these modulo 2^64, which each transaction's log entry carries.
 */
export function nodeDigest(path: string, node: TreeNode): bigint {
  return BigInt(nodeDigestValue(path, node))
}

/** nodeDigest as a number (a CRC-32 is below 2^32): what DataTree sums. */
export function nodeDigestValue(path: string, node: TreeNode): number {
  if (path.startsWith('/zookeeper/')) return 0
  const {stat} = node
  writeULong(stat.czxid, 0)
  writeULong(stat.mzxid, 8)
  writeULong(stat.pzxid, 16)
  writeTime(stat.ctime, 24)
  writeTime(stat.mtime, 32)
  scratch.writeInt32BE(stat.version, 40)
  scratch.writeInt32BE(stat.cversion, 44)
  scratch.writeInt32BE(stat.aversion, 48)
  writeULong(stat.ephemeralOwner, 52)
  return crc32(scratch, crc32(node.data, crc32(path === '/' ? '' : path)))
}

function writeULong(value: bigint, offset: number): void {
  if (value < 0n || value > MAX_SAFE) {
    scratch.writeBigUInt64BE(BigInt.asUintN(64, value), offset)
    return
  }

  const number = Number(value)
  scratch.writeUInt32BE(Math.floor(number / 2 ** 32), offset)
  scratch.writeUInt32BE(number >>> 0, offset + 4)
}

/** A time as Java's long: what Number(bigint) gave (a safe integer) back as 64 bits. */
function writeTime(value: number, offset: number): void {
  if (!Number.isSafeInteger(value)) {
    scratch.writeBigInt64BE(BigInt.asIntN(64, BigInt(Math.trunc(value))), offset)
    return
  }

  const high = Math.floor(value / 2 ** 32)
  scratch.writeInt32BE(high, offset)
  scratch.writeUInt32BE(value - high * 2 ** 32, offset + 4)
}
