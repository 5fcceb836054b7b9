/**
 * ZooKeeper's snapshot files (FileSnap, SnapStream), optionally gzip or snappy compressed as the name
 * says (snapshot.<zxid>.gz / .snappy). The decompressed stream is:
 *
 *   FileHeader      int magic "ZKSN", int version, long dbid
 *   sessions        int count; per session: long id, int timeout
 *   ACL cache       int count; per entry: long index, vector<ACL>
 *   znodes          (ustring path, buffer data, long ACL index, StatPersisted) ... until the path "/";
 *                   the root comes first, written with the path ""
 *   seal            long Adler-32 of every byte before it, ustring "/"
 *   digest          3.6+, optional: long zxid, int version, long digest (a hex ustring before version 2); seal
 *   last zxid       3.9+, optional: long, the last zxid the server had processed when it finished; seal
 *
 * The server's settings (zookeeper.digest.enabled, zookeeper.serializeLastProcessedZxid.enabled)
 * decide which of the optional sections it writes; they are told apart by their shape.
 */
import {gunzipSync} from 'node:zlib'

import type {Acl} from '../zk/session.js'

import {JuteReader} from '../jute/reader.js'
import {hexZxid} from '../zk/zxid.js'
import {Adler32} from './adler32.js'
import {DigestSum, nodeDigestValue, storedNodeDigestValue} from './digest.js'
import {DiskFormatError, diskFormatFailure} from './errors.js'
import {type DiskFile, parseSnapshotName, type SnapshotCompression} from './files.js'
import {isSnappyStream, snappyStreamDecompress} from './snappy.js'
import {readPersistedStat, STORED_STAT_BYTES, StoredNode} from './stored-node.js'
import {OPEN_ACL, type TreeNode} from './znode.js'

export const SNAPSHOT_MAGIC = 0x5a_4b_53_4e // "ZKSN"

/** The tree digest ZooKeeper wrote after the tree: the digest of the tree once `zxid` is applied. */
export interface SnapshotDigest {
  digest: bigint
  version: number
  zxid: bigint
}

export interface SnapshotContent {
  /**
   * Znodes whose ACL index is not in the snapshot's ACL cache, with that index: ZooKeeper writes the
   * cache before the znodes, so a znode created (or given a new ACL) in between refers to an entry
   * the file lacks. Its create or setACL transaction, after the snapshot's zxid, holds the ACL.
   */
  aclsToResolve: Map<string, bigint>
  compression: SnapshotCompression
  dbid: bigint
  digest?: SnapshotDigest
  /** The highest zxid the znodes are stamped with (czxid, mzxid, pzxid). */
  highestStamp: bigint
  /** 3.9+: the last zxid the server had processed once the snapshot was written (DataTree.lastProcessedZxid). */
  lastProcessedZxid?: bigint
  name: string
  /** Every znode by path, "/" for the root, with its children's names. */
  nodes: Map<string, TreeNode>
  /** Znodes other than the root with a non-zero ephemeralOwner: sessions', containers, TTL znodes. */
  ownedPaths: string[]
  /** Session id to timeout (ms). */
  sessions: Map<bigint, number>
  /** The digest of `nodes` as read (DataTree's, before any transaction). */
  treeDigest: bigint
  /** From the name: every transaction up to it is in the snapshot (and maybe some later ones: snapshots are fuzzy). */
  zxid: bigint
}

export function readSnapshot(file: DiskFile): SnapshotContent {
  const parsed = parseSnapshotName(file.name)
  if (!parsed) throw new DiskFormatError(file.name, undefined, 'not a snapshot name (snapshot.<hex zxid>[.gz|.snappy])')
  const bytes = decompress(file, parsed.compression)
  const reader = new JuteReader(
    bytes,
    file.name,
    diskFormatFailure(parsed.compression === 'none' ? '' : ' of the decompressed stream'),
  )
  const seal: Seal = {checksum: new Adler32(), end: 0}
  const dbid = readHeader(reader, bytes)
  const sessions = readSessions(reader)
  const aclsToResolve = new Map<string, bigint>()
  const {highestStamp, nodes, ownedPaths, treeDigest} = readNodes(reader, bytes, readAclCache(reader), aclsToResolve)
  readSeal(reader, bytes, seal)
  const digest = reader.remaining > 0 && digestFollows(reader, bytes) ? readDigest(reader, bytes, seal) : undefined
  const lastProcessedZxid = reader.remaining > 0 ? readLastProcessedZxid(reader, bytes, seal) : undefined
  if (reader.remaining > 0) reader.fail(`${reader.remaining} unexpected bytes after the last seal`)
  return {
    aclsToResolve,
    compression: parsed.compression,
    dbid,
    highestStamp,
    name: file.name,
    nodes,
    ownedPaths,
    sessions,
    treeDigest,
    zxid: parsed.zxid,
    ...(digest ? {digest} : {}),
    ...(lastProcessedZxid === undefined ? {} : {lastProcessedZxid}),
  }
}

function decompress(file: DiskFile, compression: SnapshotCompression): Buffer {
  try {
    if (compression === 'gzip') return gunzipSync(file.bytes)
    if (compression === 'snappy') return snappyStreamDecompress(file.bytes)
    return file.bytes
  } catch (error) {
    throw new DiskFormatError(
      file.name,
      undefined,
      `cannot decompress the ${compression} stream: ${(error as Error).message}`,
    )
  }
}

function readHeader(reader: JuteReader, bytes: Buffer): bigint {
  const magic = reader.int()
  if (magic !== SNAPSHOT_MAGIC)
    reader.fail(
      `bad magic 0x${(magic >>> 0).toString(16)}, not a ZooKeeper snapshot ("ZKSN")${compressionHint(bytes)}`,
      0,
    )
  reader.int() // the version: FileSnap does not check it either
  return reader.long()
}

function compressionHint(bytes: Buffer): string {
  if (bytes[0] === 0x1f && bytes[1] === 0x8b) return ': it looks gzip-compressed, which its name should then end in .gz'
  if (isSnappyStream(bytes)) return ': it looks snappy-compressed, which its name should then end in .snappy'
  return ''
}

function readSessions(reader: JuteReader): Map<bigint, number> {
  const sessions = new Map<bigint, number>()
  for (let count = reader.int(); count > 0; count--) {
    const id = reader.ulong()
    sessions.set(id, reader.int())
  }

  return sessions
}

/** ACL cache indices as the znodes' are looked up: numbers, bigints only past 2^53. */
type AclCache = Map<bigint | number, Acl[]>

function readAclCache(reader: JuteReader): AclCache {
  const cache: AclCache = new Map()
  for (let count = reader.int(); count > 0; count--) {
    const index = reader.long()
    const at = reader.offset
    const acl = reader.acls()
    if (acl === null) reader.fail(`ACL cache entry ${index} has no ACL list`, at)
    cache.set(aclKey(index), acl)
  }

  return cache
}

/** What the pass over the znodes gathers besides them, so that nothing walks the tree again. */
interface NodesRead {
  highestStamp: bigint
  nodes: Map<string, TreeNode>
  ownedPaths: string[]
  treeDigest: bigint
}

/**
 * Mirrors DataTree.deserialize: every znode's parent comes before it. ZooKeeper writes the tree
 * depth first, so the parent is found on the stack of the last znode's ancestors without a lookup
 * (a snapshot in another order is read through the map).
 */
function readNodes(
  reader: JuteReader,
  bytes: Buffer,
  aclCache: AclCache,
  aclsToResolve: Map<string, bigint>,
): NodesRead {
  const nodes = new Map<string, StoredNode>()
  const digest = new DigestSum()
  const ownedPaths: string[] = []
  const stamps = new HighestZxid()
  let duplicated = false
  // The ancestors of the last znode read, [0, depth): not truncated, only overwritten.
  const stackPaths: string[] = []
  const stackNodes: StoredNode[] = []
  let depth = 0
  for (;;) {
    const at = reader.offset
    const path = reader.path()
    if (path === '/') {
      if (!nodes.has('/')) reader.fail('the end marker "/" comes before the root znode', at)
      // A path written twice replaced its first znode, whose share of the digest is then unknown here.
      return {
        highestStamp: stamps.value,
        nodes,
        ownedPaths,
        treeDigest: duplicated ? treeDigestOf(nodes) : digest.value,
      }
    }

    const key = path === '' ? '/' : path
    const dataAt = reader.offset + 4
    const dataLength = reader.skipBuffer()
    const aclAt = reader.offset
    const aclNumber = reader.time() // a double: indices are small, and the rare one past 2^53 is read again
    const aclIndex = Number.isSafeInteger(aclNumber) ? aclNumber : bytes.readBigInt64BE(aclAt)
    const statAt = reader.offset
    if (reader.remaining < STORED_STAT_BYTES) readPersistedStat(reader) // fails as the reads would
    reader.offset += STORED_STAT_BYTES
    const acl = aclIndex === -1 ? OPEN_ACL : aclCache.get(aclIndex)
    const node = new StoredNode(acl ?? [], key, bytes, dataAt, dataLength)
    if (!acl) aclsToResolve.set(key, BigInt(aclIndex))
    digest.add(storedNodeDigestValue(key, bytes, at + 4, dataAt, dataLength, statAt))
    stamps.add(bytes, statAt)
    stamps.add(bytes, statAt + 8)
    stamps.add(bytes, statAt + 52)
    const known = nodes.size
    nodes.set(key, node)
    if (nodes.size === known) duplicated = true
    if (path === '') {
      stackPaths[0] = ''
      stackNodes[0] = node
      depth = 1
      continue
    }

    if (!path.startsWith('/')) reader.fail(`invalid znode path ${JSON.stringify(path)}`, at)
    const slash = path.lastIndexOf('/')
    while (depth > 0 && !isParentPath(stackPaths[depth - 1], path, slash)) depth--
    let parent: StoredNode | undefined
    if (depth > 0) parent = stackNodes[depth - 1]
    else {
      const parentPath = slash === 0 ? '/' : path.slice(0, slash)
      parent = nodes.get(parentPath)
      if (!parent) reader.fail(`${path} comes before its parent ${parentPath}`, at)
    }

    parent.appendChild(node)
    if (bytes.readInt32BE(statAt + 44) !== 0 || bytes.readInt32BE(statAt + 48) !== 0) ownedPaths.push(path)
    stackPaths[depth] = path
    stackNodes[depth] = node
    depth++
  }
}

function treeDigestOf(nodes: Map<string, TreeNode>): bigint {
  const sum = new DigestSum()
  for (const [path, node] of nodes) sum.add(nodeDigestValue(path, node))
  return sum.value
}

/** Whether `parent` ("" for the root) is the path of `path` up to its last slash, at `slash`. */
function isParentPath(parent: string, path: string, slash: number): boolean {
  return parent.length === slash && path.startsWith(parent)
}

function aclKey(index: bigint): bigint | number {
  const number = Number(index)
  return Number.isSafeInteger(number) ? number : index
}

/** The highest of unsigned 64-bit values read from bytes, kept as two 32-bit halves: no bigint per value. */
class HighestZxid {
  private high = 0
  private low = 0

  get value(): bigint {
    return (BigInt(this.high) << 32n) | BigInt(this.low)
  }

  add(bytes: Buffer, at: number): void {
    const high = bytes.readUInt32BE(at)
    if (high < this.high) return
    const low = bytes.readUInt32BE(at + 4)
    if (high > this.high || low > this.low) {
      this.high = high
      this.low = low
    }
  }
}

/** The running checksum of a snapshot stream and how far it has been computed. */
interface Seal {
  checksum: Adler32
  end: number
}

/** SnapStream.checkSealIntegrity: the Adler-32 of the whole stream before it, then the string "/". */
function readSeal(reader: JuteReader, bytes: Buffer, seal: Seal): void {
  const at = reader.offset
  const computed = BigInt(seal.checksum.update(bytes, seal.end, at).value)
  seal.end = at
  const stored = reader.ulong()
  reader.ustring()
  if (stored !== computed)
    reader.fail(
      `Adler-32 checksum mismatch: stored ${hexZxid(stored)}, computed ${hexZxid(computed)} over the bytes before it`,
      at,
    )
}

/**
 * Whether the next section is the digest rather than 3.9's last zxid (written alone when digests are
 * off). Both start with a long; then the digest has its version (1 or 2), the zxid its seal, whose
 * Adler-32 is a 32-bit value: its high half is zero.
 */
function digestFollows(reader: JuteReader, bytes: Buffer): boolean {
  return reader.remaining < 12 || bytes.readInt32BE(reader.offset + 8) !== 0
}

function readLastProcessedZxid(reader: JuteReader, bytes: Buffer, seal: Seal): bigint {
  const zxid = reader.ulong()
  readSeal(reader, bytes, seal)
  return zxid
}

function readDigest(reader: JuteReader, bytes: Buffer, seal: Seal): SnapshotDigest {
  const zxid = reader.ulong()
  const version = reader.int()
  const at = reader.offset
  const digest = version < 2 ? parseHexLong(reader.ustring() ?? '0') : reader.ulong()
  if (digest === undefined) reader.fail('invalid digest', at)
  readSeal(reader, bytes, seal)
  return {digest, version, zxid}
}

/** Long.parseLong(text, 16), as unsigned 64 bits. */
function parseHexLong(text: string): bigint | undefined {
  const negative = text.startsWith('-')
  const digits = negative ? text.slice(1) : text
  if (!/^[0-9a-f]{1,16}$/i.test(digits)) return undefined
  const value = BigInt(`0x${digits}`)
  return BigInt.asUintN(64, negative ? -value : value)
}
