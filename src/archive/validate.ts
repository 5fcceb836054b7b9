/**
 * Structural checks of an archive's records: that they describe a tree ZooKeeper could hold, so an
 * archive that passes verification can be restored. The checksums prove the bytes are the ones
 * written; these prove that what was written makes sense. One function per concern; each returns
 * the problem as a sentence, or undefined. Paths in problems are escaped (see quote).
 */
import {isIPv6} from 'node:net'

import type {ArchiveHeader, NodeType, ZnodeRecord} from './format.js'

import {escapeText, parentZnodePath, znodePathProblem} from '../zk/uri.js'

/** The ACL schemes a ZooKeeper server accepts in setACL/create (PrepRequestProcessor.fixupACL and its providers). */
export const ACL_SCHEMES: ReadonlySet<string> = new Set(['world', 'auth', 'digest', 'ip', 'x509', 'sasl'])
export const NODE_TYPES: ReadonlySet<NodeType> = new Set<NodeType>(['persistent', 'container', 'ttl', 'ephemeral'])
/** ZooKeeper's EphemeralType.TTL.maxValue(): 40 bits of milliseconds, about 34 years. */
export const MAX_TTL = 2 ** 40 - 1
const INT32 = {max: 2 ** 31 - 1, min: -(2 ** 31)}
const ZXID = /^0x[0-9a-f]{1,16}$/
/** As Date.toISOString writes it (years 0000-9999). */
const ISO_TIME = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/

/** A string as it may be shown: JSON-quoted, with control, bidi and other invisible characters escaped. */
export function quote(text: string): string {
  return `"${escapeText(text)}"`
}

/** Any JSON value as it may be shown (a string quoted, escaped like quote). */
export function shown(value: unknown): string {
  return typeof value === 'string' ? quote(value) : escapeText(String(JSON.stringify(value)))
}

export function headerProblem(header: ArchiveHeader, formatVersion: number): string | undefined {
  const version = header.formatVersion as unknown
  if (typeof version !== 'number' || !Number.isInteger(version) || version < 1)
    return `format version ${shown(version)} is not a positive integer`
  if (version > formatVersion)
    return `format version ${version} is newer than this tool reads (${formatVersion}): upgrade dcos-backup`
  const root = header.source?.root as unknown
  if (typeof root !== 'string') return 'the header has no root path'
  const problem = znodePathProblem(root)
  if (problem) return `the header's root path ${quote(root)} is invalid: ${problem}`
  return undefined
}

export function pathProblem(path: unknown): string | undefined {
  if (typeof path !== 'string') return 'its path is not a string'
  const problem = znodePathProblem(path)
  return problem ? `path ${quote(path)} is invalid: ${problem}` : undefined
}

export function typeProblem(record: ZnodeRecord): string | undefined {
  const {ttl, type} = record
  if (typeof type !== 'string' || !NODE_TYPES.has(type)) return `unknown type ${shown(type)}`
  if (type !== 'ttl')
    return ttl === undefined ? undefined : `a TTL on ${type === 'ephemeral' ? 'an' : 'a'} ${type} znode`
  if (ttl === undefined) return 'a TTL znode without a TTL'
  if (typeof ttl !== 'number' || !Number.isInteger(ttl)) return `TTL ${shown(ttl)} is not an integer`
  if (ttl < 1 || ttl > MAX_TTL) return `TTL ${ttl} outside 1-${MAX_TTL}`
  return undefined
}

export function sequentialProblem(record: ZnodeRecord): string | undefined {
  return typeof record.sequential === 'boolean' ? undefined : '"sequential" is not a boolean'
}

export function aclProblem(acl: unknown): string | undefined {
  if (!Array.isArray(acl)) return 'its ACL is not a list'
  if (acl.length === 0) return 'its ACL is empty'
  const seen = acl.length > 1 ? new Set<string>() : undefined
  for (const [index, item] of acl.entries()) {
    const entry: unknown = item
    const problem = aclEntryProblem(entry)
    if (problem) return `ACL entry ${index + 1}: ${problem}`
    if (!seen) continue
    const {id, perms, scheme} = entry as {id: string; perms: number; scheme: string}
    // The server drops duplicates, so the restored ACL would not be the archive's.
    const key = `${scheme}\0${id}\0${perms}`
    if (seen.has(key)) return `ACL entry ${index + 1} repeats an earlier one`
    seen.add(key)
  }

  return undefined
}

function aclEntryProblem(entry: unknown): string | undefined {
  if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) return 'not an object'
  const {id, perms, scheme} = entry as Record<string, unknown>
  if (Object.keys(entry).length !== 3) return 'not exactly scheme, id and perms'
  if (typeof scheme !== 'string' || !ACL_SCHEMES.has(scheme)) return `unknown scheme ${shown(scheme)}`
  if (typeof id !== 'string') return 'its id is not a string'
  if (typeof perms !== 'number' || !Number.isInteger(perms)) return 'perms is not an integer'
  if (perms < 1 || perms > 31) return `ACL perms ${perms} outside 1-31`
  return aclIdProblem(scheme, id)
}

/** What the server's fixupACL and its providers' isValid accept as ids (x509, sasl and auth take any). */
function aclIdProblem(scheme: string, id: string): string | undefined {
  if (scheme === 'world' && id !== 'anyone') return `world id ${quote(id)} is not "anyone"`
  if (scheme === 'digest') {
    // Java's id.split(":") drops trailing empty strings, and must leave two parts.
    const parts = id.split(':')
    while (parts.length > 0 && parts.at(-1) === '') parts.pop()
    if (parts.length !== 2) return `digest id ${quote(id)} is not user:hash`
  }

  if (scheme === 'ip' && !validIpId(id)) return `ip id ${quote(id)} is not an address or address/bits`
  return undefined
}

function validIpId(id: string): boolean {
  const slash = id.indexOf('/')
  const address = slash === -1 ? id : id.slice(0, slash)
  let bits: number
  if (address.includes(':')) {
    if (!isIPv6(address)) return false
    bits = 128
  } else if (address.includes('.')) {
    const parts = address.split('.')
    if (
      parts.length !== 4 ||
      !parts.every((part) => /^[+-]?\d{1,10}$/.test(part) && Number(part) >= 0 && Number(part) <= 255)
    )
      return false
    bits = 32
  } else {
    return false
  }

  if (slash === -1) return true
  const mask = id.slice(slash + 1)
  return /^[+-]?\d{1,10}$/.test(mask) && Number(mask) >= 0 && Number(mask) <= bits
}

export function statProblem(stat: unknown, maxDataLength: number): string | undefined {
  if (typeof stat !== 'object' || stat === null || Array.isArray(stat)) return 'its stat is not an object'
  const fields = stat as Record<string, unknown>
  for (const name of ['czxid', 'mzxid', 'pzxid']) {
    const value = fields[name]
    if (typeof value !== 'string' || !ZXID.test(value)) return `stat.${name} is not a zxid (0x...)`
  }

  for (const name of ['ctime', 'mtime']) {
    const value = fields[name]
    if (typeof value !== 'string' || !ISO_TIME.test(value)) return `stat.${name} is not a time`
  }

  for (const name of ['version', 'cversion', 'aversion']) {
    const value = fields[name]
    if (typeof value !== 'number' || !Number.isInteger(value) || value < INT32.min || value > INT32.max)
      return `stat.${name} is not a 32-bit integer`
  }

  for (const name of ['dataLength', 'numChildren']) {
    const value = fields[name]
    if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > INT32.max)
      return `stat.${name} is not a count`
  }

  if ((fields.dataLength as number) > maxDataLength)
    return `stat.dataLength ${fields.dataLength as number} is larger than a member may be`
  return undefined
}

/**
 * The create count can't be below the children still there, and ZooKeeper keeps it in an int. The
 * root's count misses /zookeeper, which the server makes without a create.
 */
export function nextSequenceProblem(record: ZnodeRecord): string | undefined {
  const next = record.nextSequence as unknown
  if (next === undefined) return undefined
  if (typeof next !== 'number' || !Number.isInteger(next)) return `nextSequence ${shown(next)} is not an integer`
  const least = record.path === '/' ? record.stat.numChildren - 1 : record.stat.numChildren
  if (next < least) return `nextSequence ${next} is below stat.numChildren ${record.stat.numChildren}`
  if (next > INT32.max) return `nextSequence ${next} is not below 2^31`
  return undefined
}

/** Every check of one record on its own, in the order a reader would want to hear of them. */
export function recordProblem(record: ZnodeRecord, maxDataLength: number): string | undefined {
  return (
    pathProblem(record.path) ??
    typeProblem(record) ??
    aclProblem(record.acl) ??
    statProblem(record.stat, maxDataLength) ??
    sequentialProblem(record) ??
    nextSequenceProblem(record)
  )
}

/**
 * The records' paths together: the first is the archive's root, every other one's parent came
 * before it, none twice, and no znode under an ephemeral.
 *
 * The walk that writes archives reads many znodes at once, so siblings and subtrees interleave
 * (parents still come before their children): there is no canonical order to check with a stack of
 * ancestors. The paths seen are kept in a Set instead, about 100 bytes a znode (10 MB for 100,000).
 */
export class TreeShape {
  private readonly ephemerals = new Set<string>()
  private readonly seen = new Set<string>()

  /** `relativePath` is the record's path relative to the archive's root ("/" for the root). */
  add(relativePath: string, type: NodeType): string | undefined {
    if (this.seen.size === 0) {
      if (relativePath !== '/') return `the first record is ${quote(relativePath)}, not the archive's root`
    } else {
      if (this.seen.has(relativePath)) return `${quote(relativePath)} is recorded twice`
      const parent = parentZnodePath(relativePath)
      if (relativePath === '/' || !this.seen.has(parent))
        return `the parent of ${quote(relativePath)} is not recorded before it`
      if (this.ephemerals.has(parent)) return `${quote(relativePath)} is the child of an ephemeral znode`
    }

    this.seen.add(relativePath)
    if (type === 'ephemeral') this.ephemerals.add(relativePath)
    return undefined
  }
}
