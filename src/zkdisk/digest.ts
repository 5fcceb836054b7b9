import {crc32} from 'node:zlib'

import type {TreeNode} from './znode.js'

/** The digest version ZooKeeper 3.6 to 3.9 write (DigestCalculator); others are not compared. */
export const DIGEST_VERSION = 2
const STAT_BYTES = 60

/**
 * A znode's share of the tree digest (DigestCalculator.calculateDigest): the CRC-32 of its path (""
 * for the root), its data and its persisted stat. ZooKeeper's own subtree below /zookeeper/ is left
 * out. The tree digest is the sum of these modulo 2^64, which each transaction's log entry carries.
 */
export function nodeDigest(path: string, node: TreeNode): bigint {
  if (path.startsWith('/zookeeper/')) return 0n
  const {stat} = node
  const bytes = Buffer.allocUnsafe(STAT_BYTES)
  bytes.writeBigUInt64BE(stat.czxid, 0)
  bytes.writeBigUInt64BE(stat.mzxid, 8)
  bytes.writeBigUInt64BE(stat.pzxid, 16)
  bytes.writeBigInt64BE(BigInt(stat.ctime), 24)
  bytes.writeBigInt64BE(BigInt(stat.mtime), 32)
  bytes.writeInt32BE(stat.version, 40)
  bytes.writeInt32BE(stat.cversion, 44)
  bytes.writeInt32BE(stat.aversion, 48)
  bytes.writeBigUInt64BE(stat.ephemeralOwner, 52)
  const crc = crc32(bytes, crc32(node.data, crc32(path === '/' ? '' : path)))
  return BigInt(crc)
}
