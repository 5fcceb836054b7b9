/**
 * A backup's state from one AdminServer snapshot. The snapshot is fuzzy: serialized while the server
 * went on writing, it ends with the tree digest ZooKeeper computed for the zxid it had reached. When
 * the digest of what was read matches, the tree is exact at that zxid. When not, the znodes the
 * serialization may have caught mid-change (mzxid or pzxid past the zxid it started at) are read
 * again through the client API, their children listed again, as the online walk fences its own.
 */
import type {AdminSnapshotReport, WalkCounts} from '../archive/format.js'
import type {AdminSnapshotFile} from '../zk/admin.js'
import type {Stat} from '../zk/session.js'
import type {PathMatcher} from './exclude.js'
import type {WalkedZnode} from './znodes/read-tree.js'
import type {ReadZnode, ZnodeReader} from './znodes/read-znodes.js'

import {isUnderZnode, joinZnodePath, relativeZnodePath} from '../zk/uri.js'
import {hexZxid} from '../zk/zxid.js'
import {
  addChild,
  childNames,
  DIGEST_VERSION,
  readSnapshot,
  type SnapshotContent,
  statOf,
  type TreeNode,
} from '../zkdisk/index.js'
import {isSnappyStream} from '../zkdisk/snappy.js'
import {walkTree} from '../zkdisk/view.js'
import {recordOfNode} from './znode-record.js'

const MAX_LISTED_REREADS = 1000
const REREADS_IN_FLIGHT = 256

export interface SettledSnapshot {
  nodes: Map<string, TreeNode>
  report: AdminSnapshotReport
}

/** The streamed file as readSnapshot takes it: named after its zxid, compressed as its first bytes say. */
export function parseAdminSnapshot(file: AdminSnapshotFile): SnapshotContent {
  const suffix = file.bytes[0] === 0x1f && file.bytes[1] === 0x8b ? '.gz' : isSnappyStream(file.bytes) ? '.snappy' : ''
  return readSnapshot({bytes: file.bytes, name: `snapshot.${file.zxid.toString(16)}${suffix}`})
}

export interface SettleOptions {
  exclude: PathMatcher
  /** Reads a znode through the client API, brought up to date with the snapshot's node. */
  reader: () => Promise<ZnodeReader>
  root: string
  snapshot: SnapshotContent
  source: string
}

/** Checks the snapshot's digest and, when it does not match, re-reads the znodes it may have caught mid-change. */
export async function settleSnapshot(options: SettleOptions): Promise<SettledSnapshot> {
  const {snapshot} = options
  const {nodes} = snapshot
  const digest = usableDigest(snapshot)
  // The reader summed the tree digest as it read the znodes (DataTree.fromSnapshot starts from it too).
  const matched = digest !== undefined && snapshot.treeDigest === digest.digest
  const report: AdminSnapshotReport = {
    addedByReread: 0,
    consistentAtZxid: matched ? hexZxid(digest.zxid) : null,
    digest: digest === undefined ? 'absent' : matched ? 'matched' : 'mismatched',
    digestZxid: digest === undefined ? null : hexZxid(digest.zxid),
    lastProcessedZxid: snapshot.lastProcessedZxid === undefined ? null : hexZxid(snapshot.lastProcessedZxid),
    removedByReread: 0,
    reread: 0,
    rereadPaths: [],
    snapshotZxid: hexZxid(snapshot.zxid),
    source: options.source,
  }
  const suspects = matched ? [...snapshot.aclsToResolve.keys()] : fuzzyPaths(snapshot, options.root, options.exclude)
  if (suspects.length === 0) return {nodes, report}
  const read = await options.reader()
  const rereader = new Rereader(nodes, read, report)
  if (matched) {
    await resolveAcls(suspects, nodes, rereader, report)
    return {nodes, report}
  }

  // Parents before children, many reads in flight: the re-read of a parent may drop a child's subtree.
  for (let start = 0; start < suspects.length;) {
    const level = depth(suspects[start])
    const batch: string[] = []
    while (start < suspects.length && depth(suspects[start]) === level && batch.length < REREADS_IN_FLIGHT)
      batch.push(suspects[start++])

    await Promise.all(batch.filter((path) => nodes.has(path)).map((path) => rereader.reread(path)))
  }

  return {nodes, report}
}

/**
 * An exact snapshot's znodes whose ACL its cache lacked: each takes only its ACL from the client API,
 * when its aversion shows it unchanged since, so the tree stays exactly at the digest's zxid. One
 * whose ACL changed since (or that is gone) is read again whole, and the state is no longer exact.
 */
async function resolveAcls(
  paths: string[],
  nodes: Map<string, TreeNode>,
  rereader: Rereader,
  report: AdminSnapshotReport,
): Promise<void> {
  for (const path of paths) {
    if (!nodes.has(path)) continue
    if (await rereader.readAcl(path)) continue
    report.consistentAtZxid = null
    await rereader.reread(path)
  }
}

/** The digest, when the server wrote one it had computed (3.9 writes zeros before its first transaction). */
function usableDigest(snapshot: SnapshotContent): undefined | {digest: bigint; zxid: bigint} {
  const {digest} = snapshot
  if (!digest || digest.version !== DIGEST_VERSION || (digest.zxid === 0n && digest.digest === 0n)) return undefined
  return digest
}

/** Znodes of the subtree that changed once serialization had begun, or whose ACL the snapshot lacks; parents first. */
function fuzzyPaths(snapshot: SnapshotContent, root: string, exclude: PathMatcher): string[] {
  const {nodes, zxid} = snapshot
  const paths: string[] = []
  const pending = [root]
  while (pending.length > 0) {
    const path = pending.pop()!
    const node = nodes.get(path)
    if (!node || exclude(path)) continue
    const stat = statOf(node)
    if (stat.mzxid > zxid || stat.pzxid > zxid || snapshot.aclsToResolve.has(path)) paths.push(path)
    for (const name of childNames(node))
      if (!(path === '/' && name === 'zookeeper')) pending.push(joinZnodePath(path, name))
  }

  return paths.sort(byDepthThenName)
}

function byDepthThenName(a: string, b: string): number {
  return depth(a) - depth(b) || (a < b ? -1 : a > b ? 1 : 0)
}

const depth = (path: string) => (path === '/' ? 0 : path.split('/').length - 1)

/** Replaces snapshot znodes by what the client API reads now, children listed again (new subtrees read whole). */
class Rereader {
  constructor(
    private readonly nodes: Map<string, TreeNode>,
    private readonly read: ZnodeReader,
    private readonly report: AdminSnapshotReport,
  ) {}

  /** Takes the znode's ACL as the client API reads it now, if its aversion is the snapshot's; false otherwise. */
  async readAcl(path: string): Promise<boolean> {
    const known = this.nodes.get(path)!
    const current = await this.read(path)
    if (!current || current.stat.aversion !== statOf(known).aversion) return false
    this.note(path)
    known.acl = current.acl
    return true
  }

  async reread(path: string): Promise<void> {
    const current = await this.read(path)
    this.note(path)
    const known = this.nodes.get(path)
    if (!known) return
    if (!current) {
      this.removeSubtree(path)
      return
    }

    known.data = current.data
    known.acl = current.acl
    known.stat = persistedStat(current, known)
    const listed = new Set(current.children)
    for (const name of childNames(known)) {
      if (!listed.has(name)) this.removeSubtree(joinZnodePath(path, name))
    }

    for (const name of listed) {
      if (!known.children?.has(name)) await this.addSubtree(path, name)
    }
  }

  /** A znode the snapshot lacks, and everything under it, as the client API shows them. */
  private async addSubtree(parent: string, name: string): Promise<void> {
    const path = joinZnodePath(parent, name)
    const current = await this.read(path)
    this.note(path)
    if (!current) return
    addChild(this.nodes.get(parent)!, name)
    this.nodes.set(path, {
      acl: current.acl,
      children: undefined,
      data: current.data,
      stat: persistedStat(current, undefined),
    })
    this.report.addedByReread++
    for (const child of current.children) {
      await this.addSubtree(path, child)
    }
  }

  private note(path: string): void {
    this.report.reread++
    if (this.report.rereadPaths.length < MAX_LISTED_REREADS) this.report.rereadPaths.push(path)
  }

  private removeSubtree(path: string): void {
    const node = this.nodes.get(path)
    if (!node) return
    for (const name of childNames(node)) this.removeSubtree(joinZnodePath(path, name))
    this.nodes.delete(path)
    const slash = path.lastIndexOf('/')
    this.nodes.get(slash === 0 ? '/' : path.slice(0, slash))?.children?.delete(path.slice(slash + 1))
    this.report.removedByReread++
  }
}

/**
 * The stored stat of what a client read: cversion back to the count of creates (clients see it as
 * creates plus deletes, see znode.ts), and the snapshot's container or TTL encoding kept for the same
 * znode, which clients are shown as owner 0.
 */
function persistedStat({children, stat}: ReadZnode, known: TreeNode | undefined): TreeNode['stat'] {
  const clientOwner = BigInt(`0x${stat.ephemeralOwner}`)
  const sameZnode = known !== undefined && known.stat.czxid === BigInt(stat.czxid)
  return {
    aversion: stat.aversion,
    ctime: stat.ctime.getTime(),
    cversion: storedCversion(stat, children.length),
    czxid: BigInt(stat.czxid),
    ephemeralOwner: clientOwner === 0n && sameZnode ? known.stat.ephemeralOwner : clientOwner,
    mtime: stat.mtime.getTime(),
    mzxid: BigInt(stat.mzxid),
    pzxid: BigInt(stat.pzxid),
    version: stat.version,
  }
}

function storedCversion(stat: Stat, children: number): number {
  // eslint-disable-next-line unicorn/prefer-math-trunc -- Java int arithmetic: the result wraps to 32 bits as ZooKeeper's does
  return ((stat.cversion + children) / 2) | 0
}

export type SnapshotCounts = Pick<WalkCounts, 'dataBytes' | 'excluded' | 'skippedEphemerals' | 'znodes'>

/**
 * The subtree under `root` as an online walk hands it over: parents before children, children in
 * name order, /zookeeper left out, excluded subtrees and (unless asked for) ephemerals counted, not given.
 */
export function* snapshotZnodes(
  nodes: Map<string, TreeNode>,
  root: string,
  options: {counts: SnapshotCounts; exclude: PathMatcher; includeEphemerals?: boolean},
): Generator<WalkedZnode> {
  const {counts, exclude} = options
  if (exclude(root)) {
    counts.excluded++
    return
  }

  const skip = (path: string) => {
    if (!exclude(path)) return false
    counts.excluded++
    return true
  }

  /** The last ephemeral left out: anything under it (no server makes such a thing) goes with it. */
  let leftOut: string | undefined
  for (const [path, node] of walkTree(nodes, root, skip)) {
    if (leftOut !== undefined && isUnderZnode(path, leftOut)) continue
    const record = recordOfNode(path, node)
    if (record.type === 'ephemeral' && !options.includeEphemerals) {
      counts.skippedEphemerals++
      leftOut = path
      continue
    }

    const {data} = node
    yield {data, record, relativePath: relativeTo(root, path)}
    counts.znodes++
    counts.dataBytes += data.length
  }
}

function relativeTo(root: string, path: string): string {
  return relativeZnodePath(root, path)!
}
