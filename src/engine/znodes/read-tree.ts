import type {Stat, ZkSession} from '../../zk/session.js'
import type {PathMatcher} from '../exclude.js'

import {
  hexZxid,
  isSequentialName,
  nextSequenceOf,
  nodeTypeOf,
  toZnodeStat,
  type WalkCounts,
  type ZnodeRecord,
} from '../../archive/format.js'
import {joinZnodePath, relativeZnodePath} from '../../zk/uri.js'
import {type ReadZnode, singleRequestReader, type ZnodeReader} from './read-znodes.js'

export interface WalkedZnode {
  data: Buffer
  record: ZnodeRecord
  relativePath: string
}

export interface WalkOptions {
  /** Znodes read at once. The server answers a session's requests in order, so this is the pipeline depth. */
  concurrency?: number
  exclude?: PathMatcher
  includeEphemerals?: boolean
  /** Called once per znode, parents before children; the walk waits for the returned promise. */
  onZnode: (znode: WalkedZnode) => Promise<unknown> | void
  /** How znodes are read: by default one request each through `session` (see BulkAccess for batches). */
  reader?: ZnodeReader
  root: string
  session: ZkSession
  /** Znodes whose mzxid or pzxid is beyond it changed during the walk and are re-read. */
  zxidStart?: number
}

export interface WalkStats extends WalkCounts {
  rootExists: boolean
}

const DEFAULT_CONCURRENCY = 256
const MAX_LISTED_INCONSISTENT = 1000
const SETTLE_ATTEMPTS = 3

/**
 * Walks the subtree under `root` with many reads in flight, depth first (so the list of paths still
 * to visit stays small however wide the tree is), handing each znode to `onZnode` before any of its
 * children. ZooKeeper's own subtree under / is never included.
 */
export async function walkTree(options: WalkOptions): Promise<WalkStats> {
  const {session, root, zxidStart} = options
  const exclude = options.exclude ?? (() => false)
  const concurrency = options.concurrency ?? DEFAULT_CONCURRENCY
  const readZnode = options.reader ?? singleRequestReader(session)
  const stats: WalkStats = {
    changedDuringBackup: 0,
    dataBytes: 0,
    excluded: 0,
    inconsistent: [],
    inconsistentCount: 0,
    rootExists: true,
    skippedEphemerals: 0,
    vanished: 0,
    znodes: 0,
  }

  const changedSinceStart = (stat: Stat) =>
    zxidStart !== undefined && (stat.mzxid > zxidStart || stat.pzxid > zxidStart)

  const readSettled = async (path: string): Promise<ReadZnode | undefined> => {
    let current = await readZnode(path)
    if (!current || !changedSinceStart(current.stat)) return current
    stats.changedDuringBackup++
    for (let attempt = 1; attempt < SETTLE_ATTEMPTS; attempt++) {
      const again = await readZnode(path)
      if (!again) return undefined
      if (sameVersion(again.stat, current.stat)) return again
      current = again
    }

    stats.inconsistentCount++
    if (stats.inconsistent.length < MAX_LISTED_INCONSISTENT) {
      stats.inconsistent.push({
        path,
        reason: `still changing after ${SETTLE_ATTEMPTS} reads (mzxid ${hexZxid(current.stat.mzxid)})`,
      })
    }

    return current
  }

  const visit = async (path: string, pending: string[]): Promise<void> => {
    const znode = await readSettled(path)
    if (!znode) {
      if (path === root) stats.rootExists = false
      else stats.vanished++
      return
    }

    const {ttl, type} = nodeTypeOf(znode.stat)
    if (type === 'ephemeral' && !options.includeEphemerals) {
      stats.skippedEphemerals++
      return
    }

    const record: ZnodeRecord = {
      acl: znode.acl,
      nextSequence: nextSequenceOf(znode.stat),
      path,
      sequential: isSequentialName(path),
      stat: toZnodeStat(znode.stat),
      type,
      ...(ttl === undefined ? {} : {ttl}),
    }
    await options.onZnode({data: znode.data, record, relativePath: relativeZnodePath(root, path)!})
    stats.znodes++
    stats.dataBytes += znode.data.length

    const children = znode.children.filter((name) => !(path === '/' && name === 'zookeeper')).sort()
    for (let index = children.length - 1; index >= 0; index--) {
      const child = joinZnodePath(path, children[index])
      if (exclude(child)) stats.excluded++
      else pending.push(child)
    }
  }

  if (exclude(root)) {
    stats.excluded++
    return stats
  }

  await runPool([root], concurrency, visit)
  return stats
}

/** Runs `work` on items taken last-in first-out from a stack that `work` may push to, `limit` at a time. */
function runPool(
  initial: string[],
  limit: number,
  work: (item: string, pending: string[]) => Promise<void>,
): Promise<void> {
  const pending = [...initial]
  let active = 0
  let failed = false
  return new Promise((resolve, reject) => {
    const pump = () => {
      while (!failed && active < limit && pending.length > 0) {
        active++
        work(pending.pop()!, pending).then(
          () => {
            active--
            pump()
          },
          (error: unknown) => {
            failed = true
            reject(error)
          },
        )
      }

      if (!failed && active === 0 && pending.length === 0) resolve()
    }

    pump()
  })
}

function sameVersion(a: Stat, b: Stat): boolean {
  return a.mzxid === b.mzxid && a.pzxid === b.pzxid && a.aversion === b.aversion
}
