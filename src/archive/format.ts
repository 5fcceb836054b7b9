import {createHash} from 'node:crypto'

import type {Acl, Stat} from '../zk/session.js'

import {hexZxid} from '../zk/zxid.js'

/**
 * The archive: a gzip tar that `tar tzf` lists, read and written as a stream.
 *
 *   backup.json                   header: format, version, tool, source, options, zxid at start
 *   znodes/.znode.json            the root znode's record (path, type, ACL, stat, sha256)
 *   znodes/.data                  its data, when it has any
 *   znodes/<name>/.znode.json     every other znode, parents before children
 *   ...
 *   manifest.json                 the header plus everything known at the end (counts, zxid, digest)
 *   SHA256SUMS                    SHA-256 of backup.json and manifest.json, and the tree digest
 *
 * Each record carries the SHA-256 of its own remaining bytes plus its data, so an entry is verified
 * alone; the tree digest chains every record's hash, so a missing, extra or reordered entry is
 * caught; SHA256SUMS covers the metadata. Memory stays flat: nothing needs the whole list of entries.
 */
export const FORMAT_NAME = 'dcos-zk-backup'
export const FORMAT_VERSION = 1

export const HEADER_ENTRY = 'backup.json'
export const MANIFEST_ENTRY = 'manifest.json'
export const SUMS_ENTRY = 'SHA256SUMS'
export const ZNODES_DIR = 'znodes'
export const RECORD_NAME = '.znode.json'
export const DATA_NAME = '.data'
export const TREE_SUMS_NAME = 'znodes/'

export type NodeType = 'container' | 'ephemeral' | 'persistent' | 'ttl'

export interface ArchiveHeader {
  createdAt: string
  format: typeof FORMAT_NAME
  formatVersion: number
  options: {exclude: string[]; includeEphemerals: boolean}
  /** convertedFrom: the data-directory archive the state was read from (dcos zk convert). */
  source: {convertedFrom?: string; hosts: string[]; root: string}
  tool: string
  zxidStart: null | string
}

export interface InconsistentZnode {
  path: string
  reason: string
}

/** What a walk of the tree counted: recorded in the manifest. */
export interface WalkCounts {
  changedDuringBackup: number
  dataBytes: number
  excluded: number
  inconsistent: InconsistentZnode[]
  inconsistentCount: number
  skippedEphemerals: number
  vanished: number
  znodes: number
}

export interface Manifest extends ArchiveHeader, WalkCounts {
  /** Set when the state came from an AdminServer snapshot (zk backup --admin-url) rather than a walk. */
  adminSnapshot?: AdminSnapshotReport
  completedAt: string
  treeDigest: string
  zxidEnd: null | string
}

/** What an AdminServer snapshot held and what had to be read again through the client API. */
export interface AdminSnapshotReport {
  addedByReread: number
  /** The zxid the archived state is exactly that of; null when znodes had to be re-read (each then settled like the walk's). */
  consistentAtZxid: null | string
  /** The tree digest the snapshot carries against the one of what was read: matched means exact. */
  digest: 'absent' | 'matched' | 'mismatched'
  digestZxid: null | string
  /** The last zxid the server had processed when it had written the tree (3.9+). */
  lastProcessedZxid: null | string
  removedByReread: number
  /** Znodes read again through the client API (caught mid-change), those found new and those found gone. */
  reread: number
  rereadPaths: string[]
  /** The zxid serialization started at (the snapshot's name). */
  snapshotZxid: string
  /** The AdminServer, as scheme://host:port. */
  source: string
}

export interface ZnodeStat {
  aversion: number
  /** ISO 8601 */
  ctime: string
  cversion: number
  czxid: string
  dataLength: number
  /** ISO 8601 */
  mtime: string
  mzxid: string
  numChildren: number
  pzxid: string
  version: number
}

export interface ZnodeRecord {
  acl: Acl[]
  /**
   * The number the next sequential child gets: the parent's create count, which ZooKeeper stores
   * as cversion (clients read it as (cversion + numChildren) / 2). Absent in archives before it
   * was recorded; old readers ignore it, so the format version stays 1.
   */
  nextSequence?: number
  path: string
  /** The name ends in a 10-digit sequence number (informative: restore recreates the exact name). */
  sequential: boolean
  stat: ZnodeStat
  /** Set for TTL znodes: the time to live in milliseconds. */
  ttl?: number
  type: NodeType
}

export {hexZxid} from '../zk/zxid.js'

const CONTAINER_OWNER = '8000000000000000'

/** ZooKeeper encodes container and TTL node types in ephemeralOwner (see its EphemeralType). */
export function nodeTypeOf(stat: Pick<Stat, 'ephemeralOwner'>): {ttl?: number; type: NodeType} {
  const owner = stat.ephemeralOwner.toLowerCase()
  if (owner === '0') return {type: 'persistent'}
  if (owner === CONTAINER_OWNER) return {type: 'container'}
  if (owner.length === 16 && owner.startsWith('ff00')) return {ttl: Number.parseInt(owner.slice(4), 16), type: 'ttl'}
  return {type: 'ephemeral'}
}

export function isSequentialName(path: string): boolean {
  if (path.length < 10) return false
  for (let index = path.length - 10; index < path.length; index++) {
    const code = path.charCodeAt(index)
    if (code < 0x30 || code > 0x39) return false
  }

  return true
}

/** A parent's next sequential number from the stat a client reads (DataNode.copyStat reports cversion * 2 - numChildren). */
export function nextSequenceOf(stat: Pick<Stat, 'cversion' | 'numChildren'>): number {
  // In Java int arithmetic: past 2^30 creates the reported cversion wraps; its sum with numChildren is 2c modulo 2^32.
  return Math.floor(((stat.cversion + stat.numChildren) >>> 0) / 2)
}

export function toZnodeStat(stat: Stat): ZnodeStat {
  return {
    aversion: stat.aversion,
    ctime: stat.ctime.toISOString(),
    cversion: stat.cversion,
    czxid: hexZxid(stat.czxid),
    dataLength: stat.dataLength,
    mtime: stat.mtime.toISOString(),
    mzxid: hexZxid(stat.mzxid),
    numChildren: stat.numChildren,
    pzxid: hexZxid(stat.pzxid),
    version: stat.version,
  }
}

/**
 * Names inside `znodes/` mirror the znode's relative path. A name starting with "." or containing
 * "%" is percent-escaped, so no znode can collide with `.znode.json` or `.data`.
 */
export function entryDirectory(relativePath: string): string {
  if (relativePath === '/') return ZNODES_DIR
  if (!relativePath.includes('%') && !relativePath.includes('/.')) return `${ZNODES_DIR}${relativePath}`
  const names = relativePath
    .slice(1)
    .split('/')
    .map((name) => escapeName(name))
  return `${ZNODES_DIR}/${names.join('/')}`
}

function escapeName(name: string): string {
  const escaped = name.replaceAll('%', '%25')
  return escaped.startsWith('.') ? `%2E${escaped.slice(1)}` : escaped
}

export const SHA_PREFIX = '{"sha256":"'
/** The prefix, 64 hex digits, then `",`: the record's JSON is this many bytes, then its body without the body's `{`. */
export const SHA_PREFIX_LENGTH = SHA_PREFIX.length + 64 + 2

/**
 * The record's JSON starts with its own SHA-256, computed over the rest of the JSON (as if the
 * sha256 member were absent) followed by the data. The verifier hashes the very bytes it read.
 * `body` is the record's JSON when the caller has it already (recordBody's).
 */
export function encodeRecord(
  record: ZnodeRecord,
  data: Buffer,
  body = JSON.stringify(record),
): {json: Buffer; sha256: string} {
  const sha256 = createHash('sha256').update(body).update(data).digest('hex')
  return {json: Buffer.from(`${SHA_PREFIX}${sha256}",${body.slice(1)}`), sha256}
}

/** ACL lists encoded, by list: the snapshot reader shares one list between every znode with the same ACL (lists are never mutated). */
const aclJson = new WeakMap<Acl[], string>()

/**
 * JSON.stringify(record), byte for byte, for a record whose members are listed in ZnodeRecord's
 * order (as every writer builds them: acl, nextSequence, path, sequential, stat in alphabetical
 * order, type, ttl), in a third of the time: no walk of the object, ACL lists encoded once. A record
 * with any other member is left to JSON.stringify, so nothing it holds is ever dropped.
 */
export function recordBody(record: ZnodeRecord): string {
  if (!hasKnownShape(record)) return JSON.stringify(record)
  const {acl, stat} = record
  let aclText = aclJson.get(acl)
  if (aclText === undefined) aclJson.set(acl, (aclText = JSON.stringify(acl)))
  const nextSequence = record.nextSequence === undefined ? '' : `"nextSequence":${jsonNumber(record.nextSequence)},`
  const ttl = record.ttl === undefined ? '' : `,"ttl":${jsonNumber(record.ttl)}`
  return (
    `{"acl":${aclText},${nextSequence}"path":${jsonString(record.path)},"sequential":${record.sequential},"stat":{` +
    `"aversion":${jsonNumber(stat.aversion)},"ctime":${jsonString(stat.ctime)},"cversion":${jsonNumber(stat.cversion)},` +
    `"czxid":${jsonString(stat.czxid)},"dataLength":${jsonNumber(stat.dataLength)},"mtime":${jsonString(stat.mtime)},` +
    `"mzxid":${jsonString(stat.mzxid)},"numChildren":${jsonNumber(stat.numChildren)},"pzxid":${jsonString(stat.pzxid)},` +
    `"version":${jsonNumber(stat.version)}},"type":${jsonString(record.type)}${ttl}}`
  )
}

const RECORD_ORDER = ['acl', 'nextSequence', 'path', 'sequential', 'stat', 'type', 'ttl']
const STAT_ORDER = [
  'aversion',
  'ctime',
  'cversion',
  'czxid',
  'dataLength',
  'mtime',
  'mzxid',
  'numChildren',
  'pzxid',
  'version',
]

/** The record's members (and its stat's) are known ones, in the order recordBody writes them. */
function hasKnownShape(record: ZnodeRecord): boolean {
  return inOrder(record, RECORD_ORDER) && inOrder(record.stat, STAT_ORDER)
}

function inOrder(object: object, order: string[]): boolean {
  let at = 0
  for (const key of Object.keys(object)) {
    while (at < order.length && order[at] !== key) at++
    if (at === order.length) return false
    at++
  }

  return true
}

/** Printable ASCII but `"` and `\`: JSON.stringify writes such a string as it is, between quotes. */
const PLAIN_JSON = /^[\u0020\u0021\u0023-\u005B\u005D-\u007E]*$/

function jsonString(text: string): string {
  return PLAIN_JSON.test(text) ? `"${text}"` : JSON.stringify(text)
}

function jsonNumber(value: number): string {
  return Number.isFinite(value) ? `${value}` : 'null'
}

/** Returns the record and its claimed hash, or throws with what is wrong with the bytes. */
export function decodeRecord(json: Buffer): {body: Buffer; claimedSha256: string; record: ZnodeRecord} {
  const text = json.toString('utf8')
  if (!text.startsWith(SHA_PREFIX) || text[SHA_PREFIX_LENGTH - 1] !== ',')
    throw new Error('record has no leading sha256')
  const claimedSha256 = text.slice(SHA_PREFIX.length, SHA_PREFIX.length + 64)
  const body = Buffer.concat([Buffer.from('{'), json.subarray(SHA_PREFIX_LENGTH)])
  const record = JSON.parse(text) as ZnodeRecord
  if (typeof record.path !== 'string' || !Array.isArray(record.acl) || typeof record.type !== 'string') {
    throw new TypeError('record lacks path, type or acl')
  }

  return {body, claimedSha256, record}
}

export function recordSha256(body: Buffer, data: Buffer): string {
  return createHash('sha256').update(body).update(data).digest('hex')
}

/**
 * A short fingerprint of what a restore must reproduce and a client can check: type, TTL, ACL and
 * data. The server shows containers and TTL znodes to clients as persistent, so they count as such.
 */
export function contentKey(type: NodeType, ttl: number | undefined, acl: Acl[], data: Buffer): string {
  const visible = type === 'container' || type === 'ttl' ? 'persistent' : type
  const aclText = acl
    .map((entry) => `${entry.scheme}:${entry.id}:${entry.perms}`)
    .sort()
    .join(',')
  return createHash('sha256')
    .update(`${visible}|${visible === type ? (ttl ?? '') : ''}|${aclText}|`)
    .update(data)
    .digest('base64url')
    .slice(0, 22)
}

/**
 * An order-independent digest of a set of (relative path, content key) pairs: the sum of their
 * SHA-256 values modulo 2^256. Two trees have the same digest when they hold the same znodes with
 * the same content, whatever order they were walked in, in constant memory.
 */
export class TreeSetDigest {
  count = 0
  private sum = 0n

  get value(): string {
    return `${this.count}:${this.sum.toString(16)}`
  }

  add(relativePath: string, key: string): void {
    const hash = createHash('sha256').update(relativePath).update('\0').update(key).digest('hex')
    this.sum = (this.sum + BigInt(`0x${hash}`)) & ((1n << 256n) - 1n)
    this.count++
  }
}
