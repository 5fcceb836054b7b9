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
import {Adler32} from './adler32.js'
import {diskFormatFailure, DiskFormatError} from './errors.js'
import {type DiskFile, hex, parseSnapshotName, type SnapshotCompression} from './files.js'
import {JuteReader} from '../jute/reader.js'
import {isSnappyStream, snappyStreamDecompress} from './snappy.js'
import {OPEN_ACL, type PersistedStat, splitPath, type TreeNode} from './znode.js'

export const SNAPSHOT_MAGIC = 0x5a_4b_53_4e // "ZKSN"
const EMPTY = Buffer.alloc(0)

/** The tree digest ZooKeeper wrote after the tree: the digest of the tree once `zxid` is applied. */
export interface SnapshotDigest {
  zxid: bigint
  version: number
  digest: bigint
}

export interface SnapshotContent {
  name: string
  /** From the name: every transaction up to it is in the snapshot (and maybe some later ones: snapshots are fuzzy). */
  zxid: bigint
  compression: SnapshotCompression
  dbid: bigint
  /** Session id to timeout (ms). */
  sessions: Map<bigint, number>
  /** Every znode by path, "/" for the root, with its children's names. */
  nodes: Map<string, TreeNode>
  digest?: SnapshotDigest
  /**
   * Znodes whose ACL index is not in the snapshot's ACL cache, with that index: ZooKeeper writes the
   * cache before the znodes, so a znode created (or given a new ACL) in between refers to an entry
   * the file lacks. Its create or setACL transaction, after the snapshot's zxid, holds the ACL.
   */
  aclsToResolve: Map<string, bigint>
  /** 3.9+: the last zxid the server had processed once the snapshot was written (DataTree.lastProcessedZxid). */
  lastProcessedZxid?: bigint
}

export function readSnapshot(file: DiskFile): SnapshotContent {
  const parsed = parseSnapshotName(file.name)
  if (!parsed) throw new DiskFormatError(file.name, undefined, 'not a snapshot name (snapshot.<hex zxid>[.gz|.snappy])')
  const bytes = decompress(file, parsed.compression)
  const reader = new JuteReader(bytes, file.name, diskFormatFailure(parsed.compression === 'none' ? '' : ' of the decompressed stream'))
  const seal: Seal = {checksum: new Adler32(), end: 0}
  const dbid = readHeader(reader, bytes)
  const sessions = readSessions(reader)
  const aclsToResolve = new Map<string, bigint>()
  const nodes = readNodes(reader, readAclCache(reader), aclsToResolve)
  readSeal(reader, bytes, seal)
  const digest = reader.remaining > 0 && digestFollows(reader, bytes) ? readDigest(reader, bytes, seal) : undefined
  const lastProcessedZxid = reader.remaining > 0 ? readLastProcessedZxid(reader, bytes, seal) : undefined
  if (reader.remaining > 0) reader.fail(`${reader.remaining} unexpected bytes after the last seal`)
  return {
    aclsToResolve,
    compression: parsed.compression,
    dbid,
    name: file.name,
    nodes,
    sessions,
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
    throw new DiskFormatError(file.name, undefined, `cannot decompress the ${compression} stream: ${(error as Error).message}`)
  }
}

function readHeader(reader: JuteReader, bytes: Buffer): bigint {
  const magic = reader.int()
  if (magic !== SNAPSHOT_MAGIC) reader.fail(`bad magic 0x${(magic >>> 0).toString(16)}, not a ZooKeeper snapshot ("ZKSN")${compressionHint(bytes)}`, 0)
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

function readAclCache(reader: JuteReader): Map<bigint, Acl[]> {
  const cache = new Map<bigint, Acl[]>()
  for (let count = reader.int(); count > 0; count--) {
    const index = reader.long()
    const at = reader.offset
    const acl = reader.acls()
    if (acl === null) reader.fail(`ACL cache entry ${index} has no ACL list`, at)
    cache.set(index, acl)
  }

  return cache
}

/** Mirrors DataTree.deserialize: every znode's parent comes before it. */
function readNodes(reader: JuteReader, aclCache: Map<bigint, Acl[]>, aclsToResolve: Map<string, bigint>): Map<string, TreeNode> {
  const nodes = new Map<string, TreeNode>()
  for (;;) {
    const at = reader.offset
    const path = reader.path()
    if (path === '/') {
      if (!nodes.has('/')) reader.fail('the end marker "/" comes before the root znode', at)
      return nodes
    }

    const {aclIndex, node} = readNode(reader, aclCache)
    if (aclIndex !== undefined) aclsToResolve.set(path === '' ? '/' : path, aclIndex)
    if (path === '') {
      nodes.set('/', node)
      continue
    }

    if (!path.startsWith('/')) reader.fail(`invalid znode path ${JSON.stringify(path)}`, at)
    const {name, parent} = splitPath(path)
    const parentNode = nodes.get(parent)
    if (!parentNode) reader.fail(`${path} comes before its parent ${parent}`, at)
    parentNode.children.add(name)
    nodes.set(path, node)
  }
}

/** A znode, and its ACL index when the cache lacks it (its ACL is then empty until the logs tell it). */
function readNode(reader: JuteReader, aclCache: Map<bigint, Acl[]>): {node: TreeNode; aclIndex?: bigint} {
  const data = reader.buffer() ?? EMPTY
  const aclIndex = reader.long()
  const acl = aclIndex === -1n ? OPEN_ACL : aclCache.get(aclIndex)
  const node = {acl: acl ?? [], children: new Set<string>(), data, stat: readPersistedStat(reader)}
  return acl ? {node} : {aclIndex, node}
}

export function readPersistedStat(reader: JuteReader): PersistedStat {
  // In the order of the record's fields: the reads happen as the properties are listed.
  return {
    czxid: reader.ulong(),
    mzxid: reader.ulong(),
    ctime: reader.time(),
    mtime: reader.time(),
    version: reader.int(),
    cversion: reader.int(),
    aversion: reader.int(),
    ephemeralOwner: reader.ulong(),
    pzxid: reader.ulong(),
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
  if (stored !== computed) reader.fail(`Adler-32 checksum mismatch: stored ${hex(stored)}, computed ${hex(computed)} over the bytes before it`, at)
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
