import type {NodeType} from '../archive/format.js'
import type {Acl} from '../zk/session.js'

import {StoredNode} from './stored-node.js'

/** StatPersisted: the stat fields ZooKeeper stores with each znode. */
export interface PersistedStat {
  aversion: number
  /** Milliseconds since the epoch. */
  ctime: number
  /** As stored: the number of children ever created (clients see creates plus deletes, see toDiskStat). */
  cversion: number
  czxid: bigint
  /** Unsigned 64 bits: a session id, or the container or TTL encoding (see nodeTypeOfOwner). */
  ephemeralOwner: bigint
  mtime: number
  mzxid: bigint
  pzxid: bigint
  version: number
}

/** A znode as ZooKeeper's DataTree holds it. */
export interface TreeNode {
  acl: Acl[]
  /** Its children's names, undefined while it has never had one (most znodes are leaves: no Set for them). */
  children: Set<string> | undefined
  /** A view of the snapshot's bytes for znodes loaded from one (no copy: the tree keeps the snapshot's buffer). */
  data: Buffer
  stat: PersistedStat
}

/** A znode's stat to read, not to change: a snapshot znode's is decoded again rather than kept. */
export function statOf(node: TreeNode): PersistedStat {
  return node instanceof StoredNode ? node.storedStat() : node.stat
}

/** A znode's ephemeralOwner, without decoding the rest of a snapshot znode's stat. */
export function ownerOf(node: TreeNode): bigint {
  return node instanceof StoredNode ? node.storedOwner() : node.stat.ephemeralOwner
}

/** The length of a znode's data, without a view made of a snapshot znode's. */
export function dataLength(node: TreeNode): number {
  return node instanceof StoredNode ? node.storedDataLength() : node.data.length
}

const NO_CHILDREN: ReadonlySet<string> = new Set()

/** The names of a znode's children, in the order they were added. */
export function childNames(node: TreeNode): ReadonlySet<string> {
  return node.children ?? NO_CHILDREN
}

export function childCount(node: TreeNode): number {
  if (node instanceof StoredNode) return node.childCount()
  return node.children === undefined ? 0 : node.children.size
}

export function addChild(node: TreeNode, name: string): void {
  if (node.children === undefined) node.children = new Set([name])
  else node.children.add(name)
}

export function removeChild(node: TreeNode, name: string): void {
  node.children?.delete(name)
}

/**
 * The stat a client reads (DataNode.copyStat), with zxids and the owner as unsigned bigints: cversion
 * as clients see it; ephemeralOwner as stored (containers and TTL znodes keep their encoding, which
 * clients are shown as 0).
 */
export interface DiskStat extends PersistedStat {
  dataLength: number
  numChildren: number
}

export interface DiskZnode {
  acl: Acl[]
  data: Buffer
  /** The stored cversion: the number its next sequential child gets. */
  nextSequence: number
  path: string
  stat: DiskStat
  /** TTL znodes: the time to live in milliseconds. */
  ttl?: number
  type: NodeType
}

export const CONTAINER_OWNER = 0x80_00_00_00_00_00_00_00n
const EXTENDED_MASK = 0xff_00_00_00_00_00_00_00n
const EXTENDED_FEATURE_BITS = 0x00_ff_ff_00_00_00_00_00n
const TTL_VALUE_MASK = 0x00_00_00_ff_ff_ff_ff_ffn

export const PERM_READ = 1
export const PERM_ALL = 31
/** What an ACL index of -1 stands for (ZooKeeper's OPEN_ACL_UNSAFE). ACL lists are shared between znodes: never mutated. */
export const OPEN_ACL: Acl[] = [{id: 'anyone', perms: PERM_ALL, scheme: 'world'}]
export const READ_ACL: Acl[] = [{id: 'anyone', perms: PERM_READ, scheme: 'world'}]

/**
 * The node type an ephemeralOwner encodes, as ZooKeeper's EphemeralType reads it with extended types
 * enabled: 0x8000000000000000 is a container; a high byte of 0xff followed by two zero bytes is a TTL
 * node whose low 40 bits are the TTL; any other non-zero value is the owning session.
 */
export function nodeTypeOfOwner(owner: bigint): {ttl?: number; type: NodeType} {
  if (owner === 0n) return {type: 'persistent'}
  if (owner === CONTAINER_OWNER) return {type: 'container'}
  if ((owner & EXTENDED_MASK) === EXTENDED_MASK && (owner & EXTENDED_FEATURE_BITS) === 0n) {
    return {ttl: Number(owner & TTL_VALUE_MASK), type: 'ttl'}
  }

  return {type: 'ephemeral'}
}

export function ttlOwner(ttl: bigint): bigint {
  return BigInt.asUintN(64, EXTENDED_MASK | ttl)
}

export function isSessionOwner(owner: bigint): boolean {
  return nodeTypeOfOwner(owner).type === 'ephemeral'
}

/** The parent's path ("/" for a top-level znode) and the last name, as DataTree splits a path. */
export function splitPath(path: string): {name: string; parent: string} {
  const slash = path.lastIndexOf('/')
  return {name: path.slice(slash + 1), parent: slash <= 0 ? '/' : path.slice(0, slash)}
}

export function childPath(parent: string, name: string): string {
  return parent === '/' ? `/${name}` : `${parent}/${name}`
}

export function toDiskZnode(path: string, node: TreeNode): DiskZnode {
  const stored = statOf(node)
  const {data} = node
  const stat = toDiskStat(stored, data, childCount(node))
  if (stored.ephemeralOwner === 0n)
    return {acl: node.acl, data, nextSequence: stored.cversion, path, stat, type: 'persistent'}
  const {ttl, type} = nodeTypeOfOwner(stored.ephemeralOwner)
  return {acl: node.acl, data, nextSequence: stored.cversion, path, stat, type, ...(ttl === undefined ? {} : {ttl})}
}

/**
 * The stored cversion counts creates only; ZooKeeper reports cversion * 2 - numChildren (every
 * create but those of the children still present was followed by a delete), in Java int arithmetic.
 */
function toDiskStat(stat: PersistedStat, data: Buffer, numChildren: number): DiskStat {
  // Listed, not spread: one object shape for every znode, built without copying property by property.
  return {
    aversion: stat.aversion,
    ctime: stat.ctime,
    // eslint-disable-next-line unicorn/prefer-math-trunc -- Java int arithmetic: the result wraps to 32 bits as ZooKeeper's does
    cversion: (Math.imul(stat.cversion, 2) - numChildren) | 0,
    czxid: stat.czxid,
    dataLength: data.length,
    ephemeralOwner: stat.ephemeralOwner,
    mtime: stat.mtime,
    mzxid: stat.mzxid,
    numChildren,
    pzxid: stat.pzxid,
    version: stat.version,
  }
}
