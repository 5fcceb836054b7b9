/**
 * The archive fuzzer: a small valid archive of a random tree, written by the real ArchiveWriter,
 * then mutated: record paths, order, duplicates, ACLs, types, TTLs, stats, sizes, member names,
 * trailing bytes (structured mutants are re-encoded with correct hashes, digests and sums, so they
 * reach the structural checks), and raw bytes. For every mutant the reader either refuses it with
 * an ArchiveError, or what it yields is a valid ZooKeeper tree by the independent check below
 * (written from ZooKeeper's rules, not from src/archive/validate.ts). Seeded: a failure names the
 * seed and the mutant that reproduce it.
 */
import {isIP as isIPAddress} from 'node:net'
import {Readable} from 'node:stream'
import {gunzipSync, gzipSync} from 'node:zlib'

import type {ArchiveHeader, NodeType, ZnodeRecord} from '../../src/archive/format.js'
import type {Acl} from '../../src/zk/session.js'

import {ArchiveError, readArchive} from '../../src/archive/reader.js'
import {ArchiveWriter} from '../../src/archive/writer.js'
import {
  type DecodedArchive,
  encodeArchiveMembers,
  type EncodedZnode,
  plainHeader,
  plainRecord,
  tarGz,
  type TarMember,
  tarMembers,
} from '../helpers/archive.js'

/** mulberry32: small, fast, good enough to pick mutations, and the same everywhere for a seed. */
export function prng(seed: number): Rng {
  let state = seed >>> 0
  const next = () => {
    state = (state + 0x6d_2b_79_f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296
  }

  const int = (below: number) => Math.floor(next() * below)
  return {chance: (p) => next() < p, int, next, pick: <T>(items: readonly T[]) => items[int(items.length)]}
}

export interface Rng {
  chance(p: number): boolean
  int(below: number): number
  next(): number
  pick<T>(items: readonly T[]): T
}

const OPEN: Acl = {id: 'anyone', perms: 31, scheme: 'world'}
/** ACLs a restore can write and the oracle can read back: each grants world:anyone everything. */
const ACLS: Acl[][] = [
  [OPEN],
  [OPEN],
  [OPEN, {id: 'ops:x8Lda3Dd0fwoH6e+QpsNTRRVFGY=', perms: 31, scheme: 'digest'}],
  [{id: '127.0.0.1', perms: 1, scheme: 'ip'}, OPEN],
]
const NAMES = [
  'a',
  'b',
  'app',
  'x-1',
  'seq-0000000007',
  '%25',
  '.hidden',
  'é',
  '日本',
  'with space',
  'zz',
  'data.json',
  '0',
]

export interface GeneratedTree {
  header: ArchiveHeader
  znodes: EncodedZnode[]
}

/** A random small tree under a random root, parents before children (some subtrees interleaved). */
export function randomTree(rng: Rng, root = rng.pick(['/', '/fuzz', '/a/b'])): GeneratedTree {
  const znodes: EncodedZnode[] = []
  const add = (path: string, type: NodeType = 'persistent') => {
    const data = rng.chance(0.3)
      ? Buffer.alloc(0)
      : Buffer.from(Array.from({length: rng.chance(0.1) ? 2000 : rng.int(40)}, () => rng.int(256)))
    const record = plainRecord(path, data, {acl: rng.pick(ACLS), type})
    if (type === 'ttl') record.ttl = 3_600_000 + rng.int(10_000_000) // an hour at least: the server reaps expired TTL znodes
    record.sequential = /\d{10}$/.test(path)
    znodes.push({data, record})
  }

  add(root)
  const paths = [root]
  const count = 2 + rng.int(12)
  for (let index = 0; index < count; index++) {
    const parent = rng.pick(
      paths.filter((path) => !znodes.some((znode) => znode.record.path === path && znode.record.type === 'ephemeral')),
    )
    const name = `${rng.pick(NAMES)}${rng.chance(0.3) ? index : ''}`
    const path = parent === '/' ? `/${name}` : `${parent}/${name}`
    if (paths.includes(path)) continue
    const type = rng.pick<NodeType>(['persistent', 'persistent', 'persistent', 'container', 'ttl', 'ephemeral'])
    add(path, type)
    paths.push(path)
  }

  return {header: {...plainHeader(root), options: {exclude: [], includeEphemerals: true}}, znodes}
}

/** The tree written by the real writer, as gzip bytes. */
export async function writeArchive(tree: GeneratedTree): Promise<Buffer> {
  const writer = new ArchiveWriter(tree.header)
  const chunks: Buffer[] = []
  writer.output.on('data', (chunk: Buffer) => chunks.push(chunk))
  const ended = new Promise((resolve) => writer.output.once('end', resolve))
  const {root} = tree.header.source
  for (const {data, record} of tree.znodes) {
    const relative = root === '/' ? record.path : record.path === root ? '/' : record.path.slice(root.length)
    await writer.addZnode(relative, record, data)
  }

  await writer.finish({
    changedDuringBackup: 0,
    completedAt: tree.header.createdAt,
    dataBytes: tree.znodes.reduce((sum, {data}) => sum + data.length, 0),
    excluded: 0,
    inconsistent: [],
    inconsistentCount: 0,
    skippedEphemerals: 0,
    vanished: 0,
    znodes: tree.znodes.length,
    zxidEnd: '0x10',
  })
  await ended
  return Buffer.concat(chunks)
}

export interface Mutant {
  bytes: Buffer
  /** What was done, to reproduce and report. */
  description: string
}

type RecordMutation = (rng: Rng, archive: DecodedArchive) => string

const clone = <T>(value: T): T => structuredClone(value)
const anyIndex = (rng: Rng, archive: DecodedArchive) => rng.int(archive.znodes.length)
const nonRoot = (rng: Rng, archive: DecodedArchive) =>
  archive.znodes.length > 1 ? 1 + rng.int(archive.znodes.length - 1) : 0
const setField = (record: ZnodeRecord, field: string, value: unknown) => {
  if (value === undefined) delete (record as unknown as Record<string, unknown>)[field]
  else (record as unknown as Record<string, unknown>)[field] = value
}

const HOSTILE_NAMES = [
  '.',
  '..',
  '',
  'a/',
  'a\u0000b',
  'a\nb',
  '\u001B[2J',
  'a\u007F',
  'a\u0085',
  '\uD800',
  '\uE000',
  '\uFFFE',
  'zookeeper',
  'ok',
  '%2E',
  'a b',
]
const VALUES: unknown[] = [
  null,
  undefined,
  -1,
  0,
  1,
  1.5,
  31,
  32,
  64,
  2 ** 31,
  -(2 ** 31) - 1,
  2 ** 40,
  2 ** 40 - 1,
  '1',
  '',
  'x',
  true,
  [],
  {},
  '0x10',
  '0xzz',
  '2026-01-01T00:00:00.000Z',
]

/** Mutations of the decoded records; each returns what it did. */
const RECORD_MUTATIONS: Record<string, RecordMutation> = {
  path(rng, archive) {
    const index = anyIndex(rng, archive)
    const {record} = archive.znodes[index]
    const name = rng.pick(HOSTILE_NAMES)
    const {root} = archive.header.source
    const variants = [
      `${record.path}/${name}`,
      `${record.path.replace(/\/[^/]*$/, '')}/${name}`,
      record.path.slice(1),
      `${record.path}/`,
      `/other${record.path}`,
      root === '/' ? `x${record.path}` : `${root}x`,
      record.path.replace(/^\/+/, '//'),
      name,
    ]
    record.path = rng.pick(variants)
    return `path of record ${index} -> ${JSON.stringify(record.path)}`
  },
  swap(rng, archive) {
    const [a, b] = [anyIndex(rng, archive), anyIndex(rng, archive)]
    ;[archive.znodes[a], archive.znodes[b]] = [archive.znodes[b], archive.znodes[a]]
    return `records ${a} and ${b} swapped`
  },
  duplicate(rng, archive) {
    const index = anyIndex(rng, archive)
    const copy = clone(archive.znodes[index])
    if (rng.chance(0.5)) copy.data = Buffer.from('other')
    copy.record.stat.dataLength = copy.data.length
    archive.znodes.splice(rng.int(archive.znodes.length + 1), 0, copy)
    return `record ${index} duplicated`
  },
  drop(rng, archive) {
    const index = anyIndex(rng, archive)
    archive.znodes.splice(index, 1)
    return `record ${index} dropped`
  },
  acl(rng, archive) {
    const index = anyIndex(rng, archive)
    const {record} = archive.znodes[index]
    const entry = {
      id: rng.pick(['anyone', 'x', 'u:h', 'u', '10.0.0.1/8', '10.0.0/8', '::1', '::1/129', '']),
      perms: rng.pick(VALUES),
      scheme: rng.pick(['world', 'auth', 'digest', 'ip', 'x509', 'sasl', 'super', 'magic', '', 'WORLD']),
    }
    const choices: unknown[] = [
      [],
      [entry],
      [OPEN, entry],
      [OPEN, OPEN],
      ['world:anyone:31'],
      [null],
      [{...OPEN, extra: 1}],
      [{id: 'anyone', scheme: 'world'}],
      null,
      'open',
    ]
    setField(record, 'acl', rng.pick(choices))
    return `ACL of record ${index} -> ${JSON.stringify(record.acl)}`
  },
  type(rng, archive) {
    const index = anyIndex(rng, archive)
    const {record} = archive.znodes[index]
    setField(record, 'type', rng.pick(['persistent', 'container', 'ttl', 'ephemeral', 'symlink', '', 1, null]))
    if (rng.chance(0.5)) setField(record, 'ttl', rng.pick(VALUES))
    return `type of record ${index} -> ${JSON.stringify(record.type)}, ttl ${JSON.stringify(record.ttl)}`
  },
  ttl(rng, archive) {
    const index = anyIndex(rng, archive)
    setField(archive.znodes[index].record, 'ttl', rng.pick(VALUES))
    return `ttl of record ${index} -> ${JSON.stringify(archive.znodes[index].record.ttl)}`
  },
  stat(rng, archive) {
    const index = anyIndex(rng, archive)
    const {record} = archive.znodes[index]
    if (rng.chance(0.15)) {
      setField(record, 'stat', rng.pick([null, undefined, 1, 'stat', []]))
      return `stat of record ${index} -> ${JSON.stringify(record.stat)}`
    }

    const field = rng.pick([
      'czxid',
      'mzxid',
      'pzxid',
      'ctime',
      'mtime',
      'version',
      'cversion',
      'aversion',
      'dataLength',
      'numChildren',
    ])
    const value = rng.pick(VALUES)
    setField(record.stat as unknown as ZnodeRecord, field, value)
    return `stat.${field} of record ${index} -> ${JSON.stringify(value)}`
  },
  size(rng, archive) {
    const index = anyIndex(rng, archive)
    const znode = archive.znodes[index]
    if (rng.chance(0.5)) znode.data = Buffer.concat([znode.data, Buffer.from('+')])
    else znode.record.stat.dataLength = Math.max(0, znode.record.stat.dataLength + rng.pick([-1, 1, 1000]))
    return `size of record ${index}: data ${znode.data.length}, dataLength ${znode.record.stat.dataLength}`
  },
  member(rng, archive) {
    const index = anyIndex(rng, archive)
    const znode = archive.znodes[index]
    const name = rng.pick([
      'znodes/.znode.json',
      'znodes/a/.znode.json',
      '/etc/.znode.json',
      'znodes/../x/.znode.json',
      'znodes//.znode.json',
      'other.json',
      `znodes/${rng.pick(HOSTILE_NAMES)}/.znode.json`,
    ])
    if (rng.chance(0.7)) znode.member = name
    else znode.dataMember = name.replace('.znode.json', '.data')
    return `member of record ${index} -> ${znode.member ?? znode.dataMember}`
  },
  header(rng, archive) {
    const field = rng.pick(['formatVersion', 'root', 'format'])
    if (field === 'formatVersion') archive.header.formatVersion = rng.pick(VALUES) as number
    else if (field === 'format') archive.header.format = rng.pick(['dcos-zk-backup', 'other', '']) as never
    else
      archive.header.source = {
        ...archive.header.source,
        root: rng.pick(['/', '', 'fuzz', '/fuzz/', '/a/b', '/a//b', '/x']),
      }
    return `header.${field} changed`
  },
  siblingsInterleaved(rng, archive) {
    // A valid reordering: move a record to just after its parent (what a concurrent walk may do).
    const index = nonRoot(rng, archive)
    const [znode] = archive.znodes.splice(index, 1)
    const parentPath = znode.record.path.replace(/\/[^/]*$/, '') || '/'
    const parent = archive.znodes.findIndex(({record}) => record.path === parentPath)
    archive.znodes.splice(parent + 1, 0, znode)
    return `record ${index} moved after its parent`
  },
  aclValid(rng, archive) {
    const index = anyIndex(rng, archive)
    archive.znodes[index].record.acl = rng.pick(ACLS)
    return `ACL of record ${index} replaced by a valid one`
  },
}

/** Mutations of the tar members or the bytes. */
const BYTE_MUTATIONS: Record<string, (rng: Rng, members: TarMember[], good: Buffer) => Buffer | string> = {
  flip(rng, _members, good) {
    const bytes = Buffer.from(good)
    for (let count = 1 + rng.int(3); count > 0; count--) bytes[rng.int(bytes.length)] ^= 1 << rng.int(8)
    return bytes
  },
  flipPlain(rng, _members, good) {
    const plain = gunzipSync(good)
    for (let count = 1 + rng.int(3); count > 0; count--) plain[rng.int(plain.length)] ^= 1 << rng.int(8)
    return gzipSync(plain)
  },
  truncate(rng, _members, good) {
    return good.subarray(0, rng.int(good.length))
  },
  trailing(rng, _members, good) {
    const plain = gunzipSync(good)
    const extra = rng.pick([
      Buffer.alloc(rng.int(12_000)),
      Buffer.alloc(10_240),
      Buffer.alloc(10_241),
      Buffer.from('x'),
      Buffer.from([0, 0, 0, 1]),
    ])
    return rng.chance(0.5)
      ? gzipSync(Buffer.concat([plain, extra]))
      : Buffer.concat([good, rng.chance(0.5) ? gzipSync(extra) : extra])
  },
  plain(_rng, _members, good) {
    return gunzipSync(good)
  },
  memberOrder(rng, members) {
    const list = [...members]
    const [a, b] = [rng.int(list.length), rng.int(list.length)]
    ;[list[a], list[b]] = [list[b], list[a]]
    return tarGz(list)
  },
  memberDropped(rng, members) {
    return tarGz(members.filter((_, index) => index !== rng.int(members.length)))
  },
  memberDuplicated(rng, members) {
    const index = rng.int(members.length)
    return tarGz([...members.slice(0, index + 1), members[index], ...members.slice(index + 1)])
  },
  memberRenamed(rng, members) {
    const list = [...members]
    const index = rng.int(list.length)
    list[index] = {
      ...list[index],
      path: rng.pick(['x', 'znodes/.data', '../x', '/abs', `${list[index].path}x`, 'znodes/a/.znode.json']),
    }
    return tarGz(list)
  },
}

/** One mutant of `tree` (archive bytes `good`, its members `members`). */
export function mutate(rng: Rng, tree: GeneratedTree, good: Buffer, members: TarMember[]): Mutant {
  if (rng.chance(0.25)) {
    const name = rng.pick(Object.keys(BYTE_MUTATIONS))
    const bytes = BYTE_MUTATIONS[name](rng, members, good)
    return {bytes: bytes as Buffer, description: `bytes: ${name}`}
  }

  const archive: DecodedArchive = clone({header: tree.header, znodes: tree.znodes})
  for (const znode of archive.znodes) znode.data = Buffer.from(znode.data)
  const done: string[] = []
  for (let count = 1 + (rng.chance(0.3) ? rng.int(3) : 0); count > 0; count--) {
    const name = rng.pick(Object.keys(RECORD_MUTATIONS))
    try {
      done.push(`${name}: ${RECORD_MUTATIONS[name](rng, archive)}`)
    } catch {
      // An earlier mutation left nothing this one applies to (no records, a stat that is no object).
      done.push(`${name}: not applicable`)
    }
  }

  let encoded: TarMember[]
  try {
    encoded = encodeArchiveMembers(archive)
  } catch (error) {
    // A record that JSON cannot encode the way the writer does: its members with the text as is.
    return {
      bytes: tarGz(members),
      description: `${done.join('; ')} (not encodable: ${(error as Error).message}; the good archive)`,
    }
  }

  return {bytes: tarGz(encoded), description: done.join('; ')}
}

/** What a reader made of a mutant. */
export interface Outcome {
  accepted: boolean
  error?: unknown
  root?: string
  /** When accepted: what the archive describes, by path relative to its root. */
  tree?: Map<string, {data: Buffer; record: ZnodeRecord}>
}

export async function readMutant(bytes: Buffer): Promise<Outcome> {
  const tree = new Map<string, {data: Buffer; record: ZnodeRecord}>()
  let root: string | undefined
  const order: string[] = []
  try {
    for await (const item of readArchive(Readable.from([bytes]), 'mutant')) {
      if (item.kind === 'header') root = item.header.source.root
      if (item.kind === 'znode') {
        order.push(item.relativePath)
        tree.set(item.relativePath, {data: item.data, record: item.record})
      }
    }
  } catch (error) {
    return {accepted: false, error}
  }

  // The order matters to the tree check: keep it in the map's insertion order, duplicates shown.
  if (order.length !== tree.size)
    return {accepted: true, root, tree: new Map([...tree, ['<duplicate>', tree.values().next().value!]])}
  return {accepted: true, root, tree}
}

// ---------------------------------------------------------------------------------------------
// The independent check: ZooKeeper's rules, written again from its source.

const SCHEMES = new Set(['world', 'auth', 'digest', 'ip', 'x509', 'sasl'])

/** PathUtils.validatePath, character by character. */
function validZnodePath(path: unknown): boolean {
  if (typeof path !== 'string' || path.length === 0 || path[0] !== '/') return false
  if (path.length === 1) return true
  if (path.endsWith('/')) return false
  for (let index = 1; index < path.length; index++) {
    const code = path.charCodeAt(index)
    const last = path[index - 1]
    if (code === 0) return false
    if (path[index] === '/' && last === '/') return false
    if (path[index] === '.' && last === '/' && (index + 1 === path.length || path[index + 1] === '/')) return false
    if (
      path[index] === '.' &&
      last === '.' &&
      path[index - 2] === '/' &&
      (index + 1 === path.length || path[index + 1] === '/')
    )
      return false
    if (
      (code > 0 && code <= 0x1f) ||
      (code >= 0x7f && code <= 0x9f) ||
      (code >= 0xd8_00 && code <= 0xf8_ff) ||
      (code >= 0xff_f0 && code <= 0xff_ff)
    )
      return false
  }

  return true
}

function validAcl(acl: unknown): boolean {
  if (!Array.isArray(acl) || acl.length === 0) return false
  const keys = new Set<string>()
  for (const entry of acl as unknown[]) {
    if (!entry || typeof entry !== 'object') return false
    const {id, perms, scheme} = entry as Record<string, unknown>
    if (Object.keys(entry).sort().join(',') !== 'id,perms,scheme') return false
    if (typeof scheme !== 'string' || !SCHEMES.has(scheme) || typeof id !== 'string') return false
    if (typeof perms !== 'number' || !Number.isInteger(perms) || perms < 1 || perms > 31) return false
    if (scheme === 'world' && id !== 'anyone') return false
    if (scheme === 'digest' && id.replace(/:+$/, '').split(':').length !== 2) return false
    if (scheme === 'ip' && !validIp(id)) return false
    const key = `${scheme}\u0000${id}\u0000${perms}`
    if (keys.has(key)) return false
    keys.add(key)
  }

  return true
}

const isIP6 = (address: string) => isIPAddress(address) === 6

/** IPAuthenticationProvider.isValid: an IPv4 or IPv6 address, optionally /bits. */
function validIp(id: string): boolean {
  const [address, bits, ...rest] = id.split('/')
  if (rest.length > 0 && bits !== undefined) return false
  const v6 = address.includes(':')
  if (
    v6
      ? !isIP6(address)
      : !/^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.test(address) ||
        address.split('.').some((part) => Number(part) > 255)
  )
    return false
  return bits === undefined || (/^\d+$/.test(bits) && Number(bits) <= (v6 ? 128 : 32))
}

function validStat(stat: unknown, dataLength: number): boolean {
  if (!stat || typeof stat !== 'object' || Array.isArray(stat)) return false
  const fields = stat as Record<string, unknown>
  const zxid = (value: unknown) => typeof value === 'string' && /^0x[0-9a-f]+$/.test(value)
  const time = (value: unknown) => typeof value === 'string' && !Number.isNaN(new Date(value).getTime())
  const int = (value: unknown, min: number) =>
    typeof value === 'number' && Number.isInteger(value) && value >= min && value < 2 ** 31
  return (
    zxid(fields.czxid) &&
    zxid(fields.mzxid) &&
    zxid(fields.pzxid) &&
    time(fields.ctime) &&
    time(fields.mtime) &&
    int(fields.version, -(2 ** 31)) &&
    int(fields.cversion, -(2 ** 31)) &&
    int(fields.aversion, -(2 ** 31)) &&
    int(fields.numChildren, 0) &&
    fields.dataLength === dataLength
  )
}

/** Why the accepted tree is not one ZooKeeper could hold, or undefined when it is. */
export function invalidTreeReason(outcome: Outcome): string | undefined {
  const {root, tree} = outcome
  if (!tree || root === undefined || !validZnodePath(root)) return `root ${JSON.stringify(root)}`
  const seen = new Map<string, NodeType>()
  let first = true
  for (const [relative, {data, record}] of tree) {
    if (relative === '<duplicate>') return 'a path yielded twice'
    if (first && relative !== '/') return `first record ${JSON.stringify(relative)} is not the root`
    first = false
    const absolute = relative === '/' ? root : root === '/' ? relative : `${root}${relative}`
    if (record.path !== absolute) return `record path ${JSON.stringify(record.path)} is not ${JSON.stringify(absolute)}`
    if (!validZnodePath(absolute) || !validZnodePath(relative)) return `invalid path ${JSON.stringify(absolute)}`
    if (relative !== '/') {
      const parent = relative.slice(0, relative.lastIndexOf('/')) || '/'
      if (!seen.has(parent)) return `${JSON.stringify(relative)} before its parent`
      if (seen.get(parent) === 'ephemeral') return `${JSON.stringify(relative)} under an ephemeral`
    }

    if (!['container', 'ephemeral', 'persistent', 'ttl'].includes(record.type))
      return `type ${JSON.stringify(record.type)}`
    if (
      record.type === 'ttl'
        ? !(Number.isInteger(record.ttl) && record.ttl! >= 1 && record.ttl! < 2 ** 40)
        : record.ttl !== undefined
    )
      return `ttl ${JSON.stringify(record.ttl)} on ${record.type}`
    if (!validAcl(record.acl)) return `ACL ${JSON.stringify(record.acl)}`
    if (!validStat(record.stat, data.length)) return `stat ${JSON.stringify(record.stat)}`
    seen.set(relative, record.type)
  }

  return undefined
}

/** Whether a restore can write this tree and the oracle read it back: every ACL grants world:anyone everything. */
export function restorable(outcome: Outcome): boolean {
  return [...(outcome.tree?.values() ?? [])].every(
    ({record}) =>
      record.acl.some((entry) => entry.scheme === 'world' && entry.perms === 31) &&
      !record.acl.some((entry) => entry.scheme === 'auth') &&
      (record.ttl === undefined || record.ttl >= 3_600_000),
  )
}

export interface FuzzReport {
  accepted: number
  /** Accepted mutants, kept for restores. */
  acceptedMutants: Array<{bytes: Buffer; description: string; mutant: number; outcome: Outcome}>
  /** Mutants the reader mishandled: accepted an invalid tree, or failed with something other than an ArchiveError. */
  findings: Array<{description: string; mutant: number; problem: string}>
  mutants: number
  /** Refusals by the first words of their reason. */
  reasons: Map<string, number>
  refused: number
  refusedMutants: Array<{bytes: Buffer; description: string; mutant: number}>
  seed: number
}

/** Runs `count` reader-only mutants from `seed` (a new random tree every 10 mutants). */
export async function fuzzReader(seed: number, count: number, keep = 20): Promise<FuzzReport> {
  const rng = prng(seed)
  const report: FuzzReport = {
    accepted: 0,
    acceptedMutants: [],
    findings: [],
    mutants: 0,
    reasons: new Map(),
    refused: 0,
    refusedMutants: [],
    seed,
  }
  let tree: GeneratedTree | undefined
  let good: Buffer = Buffer.alloc(0)
  let members: TarMember[] = []
  for (let index = 0; index < count; index++) {
    if (index % 10 === 0) {
      tree = randomTree(rng)
      good = await writeArchive(tree)
      members = await tarMembers(gunzipSync(good))
      const outcome = await readMutant(good)
      const reason = outcome.accepted ? invalidTreeReason(outcome) : errorText(outcome.error)
      if (reason)
        report.findings.push({description: 'the unmutated archive', mutant: index, problem: `good archive: ${reason}`})
    }

    const mutant = mutate(rng, tree!, good, members)
    const outcome = await readMutant(mutant.bytes)
    report.mutants++
    if (outcome.accepted) {
      report.accepted++
      const reason = invalidTreeReason(outcome)
      if (reason)
        report.findings.push({
          description: mutant.description,
          mutant: index,
          problem: `accepted an invalid tree: ${reason}`,
        })
      else if (report.acceptedMutants.length < keep)
        report.acceptedMutants.push({bytes: mutant.bytes, description: mutant.description, mutant: index, outcome})
    } else {
      report.refused++
      if (!(outcome.error instanceof ArchiveError))
        report.findings.push({
          description: mutant.description,
          mutant: index,
          problem: `failed with ${errorText(outcome.error)}`,
        })
      const reason = errorText(outcome.error)
        .replace(/^mutant failed verification: /, '')
        .replaceAll(/"[^"]*"|\d+/g, '…')
        .split(':')
        .at(-1)!
        .trim()
        .slice(0, 60)
      report.reasons.set(reason, (report.reasons.get(reason) ?? 0) + 1)
      if (report.refusedMutants.length < keep)
        report.refusedMutants.push({bytes: mutant.bytes, description: mutant.description, mutant: index})
    }
  }

  return report
}

function errorText(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error)
}

/** What a restore of an accepted mutant must produce, in the oracle's terms (ephemerals are not restored). */
export function expectedLiveTree(
  outcome: Outcome,
): Record<string, {acl: string[]; data: string; ephemeralOwner: string}> {
  const expected: Record<string, {acl: string[]; data: string; ephemeralOwner: string}> = {}
  for (const [relative, {data, record}] of outcome.tree!) {
    if (record.type === 'ephemeral') continue
    // The server shows containers and TTL znodes to clients as persistent (ephemeralOwner 0).
    expected[relative] = {
      acl: record.acl.map((entry) => `${entry.scheme}:${entry.id}:${entry.perms}`).sort(),
      data: data.toString('base64'),
      ephemeralOwner: '0000000000000000',
    }
  }

  return expected
}
