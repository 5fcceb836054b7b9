import {crc32} from '../archive/crc32.js'
import {statOf, type TreeNode} from './znode.js'

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
  const stat = statOf(node)
  writeULong(stat.czxid, 0)
  writeULong(stat.mzxid, 8)
  writeULong(stat.pzxid, 16)
  writeTime(stat.ctime, 24)
  writeTime(stat.mtime, 32)
  scratch.writeInt32BE(stat.version, 40)
  scratch.writeInt32BE(stat.cversion, 44)
  scratch.writeInt32BE(stat.aversion, 48)
  writeULong(stat.ephemeralOwner, 52)
  const {data} = node
  let crc = path === '/' ? 0 : pathCrc32(path)
  crc = data.length > NATIVE_CRC_FROM ? crc32(data, crc) : crc32Range(crc, data, 0, data.length)
  return crc32Range(crc, scratch, 0, STAT_BYTES)
}

/** The CRC-32 of a path's UTF-8 bytes: summed here while its characters are ASCII (a call into zlib cost more). */
function pathCrc32(path: string): number {
  const tables = CRC_TABLES
  let value = ~0
  for (let index = 0; index < path.length; index++) {
    const code = path.charCodeAt(index)
    if (code >= 0x80) return crc32(path)
    value = tables[(value ^ code) & 0xff] ^ (value >>> 8)
  }

  return ~value >>> 0
}

/**
 * nodeDigestValue of a znode as a snapshot stores it, from the snapshot's bytes: its path's, its
 * data's, then its StatPersisted's (at `statAt`: czxid, mzxid, ctime, mtime, version, cversion,
 * aversion, ephemeralOwner, pzxid) in the order DigestCalculator writes them. Short ranges are
 * summed here: a call into zlib per range cost more than the bytes.
 */
export function storedNodeDigestValue(
  path: string,
  bytes: Uint8Array,
  pathAt: number,
  dataAt: number,
  dataLength: number,
  statAt: number,
): number {
  if (path.startsWith('/zookeeper/')) return 0
  let crc = crc32Range(0, bytes, pathAt, dataAt - 4)
  if (dataLength > NATIVE_CRC_FROM) crc = crc32(bytes.subarray(dataAt, dataAt + dataLength), crc)
  else if (dataLength > 0) crc = crc32Range(crc, bytes, dataAt, dataAt + dataLength)
  crc = crc32Range(crc, bytes, statAt, statAt + 16) // czxid, mzxid
  crc = crc32Range(crc, bytes, statAt + 52, statAt + 60) // pzxid
  return crc32Range(crc, bytes, statAt + 16, statAt + 52) // ctime .. ephemeralOwner
}

/** Data longer than this is summed by zlib. */
const NATIVE_CRC_FROM = 512
/** Slicing by four: table k holds the CRC of a byte followed by k zero bytes. */
const CRC_TABLES = crcTables()

/** zlib's crc32(bytes[start, end), crc): the CRC-32 of what `crc` covered followed by those bytes, four bytes a step. */
function crc32Range(crc: number, bytes: Uint8Array, start: number, end: number): number {
  const tables = CRC_TABLES
  let value = ~crc
  let index = start
  for (; index + 4 <= end; index += 4) {
    value ^= bytes[index] | (bytes[index + 1] << 8) | (bytes[index + 2] << 16) | (bytes[index + 3] << 24)
    value =
      tables[768 + (value & 0xff)] ^
      tables[512 + ((value >>> 8) & 0xff)] ^
      tables[256 + ((value >>> 16) & 0xff)] ^
      tables[value >>> 24]
  }

  for (; index < end; index++) value = tables[(value ^ bytes[index]) & 0xff] ^ (value >>> 8)
  return ~value >>> 0
}

function crcTables(): Int32Array {
  const tables = new Int32Array(4 * 256)
  for (let byte = 0; byte < 256; byte++) {
    let value = byte
    for (let bit = 0; bit < 8; bit++) value = value & 1 ? 0xed_b8_83_20 ^ (value >>> 1) : value >>> 1
    tables[byte] = value
  }

  for (let index = 256; index < tables.length; index++)
    tables[index] = (tables[index - 256] >>> 8) ^ tables[tables[index - 256] & 0xff]
  return tables
}

/** Past this, the pending sum is folded into the bigint: one more CRC-32 keeps it exact. */
const PENDING_LIMIT = 2 ** 52

/** The tree digest (NodeHashMapImpl's AdHash) as a running sum: CRC-32s add up as numbers until they near 2^53. */
export class DigestSum {
  private pending = 0

  constructor(private sum = 0n) {}

  /** The sum modulo 2^64. */
  get value(): bigint {
    return BigInt.asUintN(64, this.sum + BigInt(this.pending))
  }

  add(value: number): void {
    this.pending += value
    if (Math.abs(this.pending) < PENDING_LIMIT) return
    this.sum += BigInt(this.pending)
    this.pending = 0
  }
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
