/**
 * Seeds znode trees through ZkSession and snapshots live subtrees into plain objects that tests
 * compare znode by znode: {relative path -> {data (base64), acl, type, ttl}}.
 *
 * snapshotTree reads with the tool's own walk and session: to check what a backup or restore did,
 * read with the independent oracle (oracle.ts) instead, so that a bug both share cannot cancel out.
 */
import {randomBytes} from 'node:crypto'

import type {NodeType} from '../../src/archive/format.js'

import {walkTree} from '../../src/engine/znodes/read-tree.js'
import {type Acl, zkConstants, ZkSession} from '../../src/zk/session.js'
import {relativeZnodePath, resolveZnodePath} from '../../src/zk/uri.js'
import {eventually} from './wait.js'

export interface ZnodeSnapshot {
  acl: Acl[]
  data: string
  ttl: null | number
  type: NodeType
}

/** Keyed by the path relative to the snapshot's root ("/" for the root itself). */
export type TreeSnapshot = Record<string, ZnodeSnapshot>

export const {ZOO_PERM_ALL, ZOO_PERM_READ} = zkConstants
export const READ_ONLY: Acl[] = [{id: 'anyone', perms: ZOO_PERM_READ, scheme: 'world'}]

/** A unique top-level path for one test in the shared ensemble. */
export function uniquePath(label: string): string {
  return `/t-${label}-${randomBytes(4).toString('hex')}`
}

/** A session for the test itself; it waits longer than the tool would, for an ensemble busy re-electing under the suite's load. */
export function connect(hosts: string, auth?: {password: string; user: string}): Promise<ZkSession> {
  return ZkSession.connect({auth, connectTimeoutMs: 30_000, hosts: hosts.split(','), sessionTimeoutMs: 15_000})
}

export {digestId} from '../../src/zk/acl.js'

export interface SeedZnode {
  /** Set after every znode is created (deepest first). */
  acl?: Acl[]
  data?: Buffer | string
  /** Relative to the seeded root: "/" is the root itself. */
  path: string
  /** Created with the SEQUENCE flag: the server appends a 10-digit number to the name. */
  sequential?: boolean
  /** For type ttl. */
  ttl?: number
  type?: NodeType
}

// Create modes, not bit flags: each sequential mode has its own value (containers cannot be sequential).
const MODES: Record<NodeType, [plain: number, sequential?: number]> = {
  container: [zkConstants.ZOO_CONTAINER],
  ephemeral: [zkConstants.ZOO_EPHEMERAL, zkConstants.ZOO_EPHEMERAL_SEQUENTIAL],
  persistent: [zkConstants.ZOO_PERSISTENT, zkConstants.ZOO_PERSISTENT_SEQUENTIAL],
  ttl: [zkConstants.ZOO_PERSISTENT_WITH_TTL, zkConstants.ZOO_PERSISTENT_SEQUENTIAL_WITH_TTL],
}

const IN_FLIGHT = 500

/**
 * Creates `znodes` under `root` (parents listed before children), with the missing ancestors of
 * `root`. A session applies its requests in order, so a batch may hold a parent and its children.
 */
export async function seedTree(session: ZkSession, root: string, znodes: SeedZnode[]): Promise<void> {
  await session.createParents(root)
  for (let start = 0; start < znodes.length; start += IN_FLIGHT) {
    await Promise.all(
      znodes.slice(start, start + IN_FLIGHT).map((znode) => {
        const type = znode.type ?? 'persistent'
        const flags = MODES[type][znode.sequential ? 1 : 0]
        if (flags === undefined) throw new Error(`a ${type} znode cannot be sequential`)
        const data = typeof znode.data === 'string' ? Buffer.from(znode.data) : (znode.data ?? Buffer.alloc(0))
        return session.create(resolveZnodePath(root, znode.path), data, flags, type === 'ttl' ? znode.ttl : undefined)
      }),
    )
  }

  const restricted = znodes.filter((znode) => znode.acl && !znode.sequential).reverse()
  await Promise.all(restricted.map((znode) => session.setAcl(resolveZnodePath(root, znode.path), znode.acl!)))
}

/** Every znode under `root`, ephemerals included unless `ephemerals` is false. Empty when `root` is missing. */
export async function snapshotTree(session: ZkSession, root: string, {ephemerals = true} = {}): Promise<TreeSnapshot> {
  const tree: TreeSnapshot = {}
  await walkTree({
    includeEphemerals: ephemerals,
    // The walk derives type and ttl from each znode's stat with nodeTypeOf.
    onZnode({data, record, relativePath}) {
      tree[relativePath] = {acl: record.acl, data: data.toString('base64'), ttl: record.ttl ?? null, type: record.type}
    },
    root,
    session,
  })
  return sorted(tree)
}

/** The snapshot with keys in path order, for readable diffs. */
export function sorted<T>(tree: Record<string, T>): Record<string, T> {
  return Object.fromEntries(Object.entries(tree).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
}

/** The part of `tree` under `relativeRoot`, keyed relative to it. */
export function subtree<T>(tree: Record<string, T>, relativeRoot: string): Record<string, T> {
  const result: Record<string, T> = {}
  for (const [path, znode] of Object.entries(tree)) {
    const relative = relativeZnodePath(relativeRoot, path)
    if (relative !== undefined) result[relative] = znode
  }

  return result
}

export function withoutPaths<T>(tree: Record<string, T>, drop: (path: string) => boolean): Record<string, T> {
  return Object.fromEntries(Object.entries(tree).filter(([path]) => !drop(path)))
}

export function withoutEphemerals(tree: TreeSnapshot): TreeSnapshot {
  return Object.fromEntries(Object.entries(tree).filter(([, znode]) => znode.type !== 'ephemeral'))
}

/** Resolves once `path` does not exist (polled every `intervalMs`: 5 catches a restore half way). */
export function waitUntilGone(
  session: ZkSession,
  path: string,
  {intervalMs = 100, timeoutMs = 20_000} = {},
): Promise<true> {
  return eventually(
    `${path} to be gone`,
    async () => ((await session.exists(path)) ? undefined : true),
    timeoutMs,
    intervalMs,
  )
}
