/**
 * The replayed tree as DiskState shows it: znodes as clients read them, made when asked for rather
 * than copied up front (a copy per znode was most of a load's time and memory). Only the znodes a
 * walk from "/" reaches are in it, as in the snapshot ZooKeeper would write next.
 */
import {isUnderZnode} from '../zk/uri.js'
import {StoredNode} from './stored-node.js'
import {
  childCount,
  childNames,
  childPath,
  dataLength,
  type DiskZnode,
  isSessionOwner,
  ownerOf,
  toDiskZnode,
  type TreeNode,
} from './znode.js'

export interface TreeCensus {
  dataBytes: number
  ephemerals: number
  znodes: number
}

export class ZnodeView implements ReadonlyMap<string, DiskZnode> {
  private readonly nodes: Map<string, TreeNode>

  /** `orphansPossible`: whether a znode can be in `nodes` without its parent listing it (a fuzzy replay deleted a parent). */
  constructor(nodes: Map<string, TreeNode>, orphansPossible: boolean) {
    this.nodes = orphansPossible ? reachable(nodes) : nodes
  }

  get size(): number {
    return this.nodes.size
  }

  get [Symbol.toStringTag](): string {
    return 'ZnodeView'
  }

  /**
   * What a walk from "/" without ZooKeeper's own /zookeeper subtree counts: its znodes ("/"
   * included), their data's bytes and how many are ephemeral; without a DiskZnode made per znode.
   */
  census(): TreeCensus {
    const census: TreeCensus = {dataBytes: 0, ephemerals: 0, znodes: 0}
    for (const [path, node] of this.nodes) {
      if (isUnderZnode(path, '/zookeeper')) continue
      census.znodes++
      census.dataBytes += dataLength(node)
      if (isSessionOwner(ownerOf(node))) census.ephemerals++
    }

    return census
  }

  /** The names of a znode's children, sorted. */
  children(path: string): string[] {
    const node = this.nodes.get(path)
    return node === undefined ? [] : sortedChildNames(node)
  }

  /** Depth first from "/", children by name: parents before children. */
  *entries(): MapIterator<[string, DiskZnode]> {
    const pending = ['/']
    while (pending.length > 0) {
      const path = pending.pop()!
      const node = this.nodes.get(path)
      if (!node) continue
      yield [path, toDiskZnode(path, node)]
      const names = this.children(path)
      for (let index = names.length - 1; index >= 0; index--) pending.push(childPath(path, names[index]))
    }
  }

  forEach(
    callback: (value: DiskZnode, key: string, map: ReadonlyMap<string, DiskZnode>) => void,
    thisArg?: unknown,
  ): void {
    for (const [path, znode] of this.entries()) callback.call(thisArg, znode, path, this)
  }

  get(path: string): DiskZnode | undefined {
    const node = this.nodes.get(path)
    return node === undefined ? undefined : toDiskZnode(path, node)
  }

  has(path: string): boolean {
    return this.nodes.has(path)
  }

  *keys(): MapIterator<string> {
    for (const [path] of this.entries()) yield path
  }

  [Symbol.iterator](): MapIterator<[string, DiskZnode]> {
    return this.entries()
  }

  *values(): MapIterator<DiskZnode> {
    for (const [, znode] of this.entries()) yield znode
  }

  /** The user's tree under `root` (walkTree). */
  walk(root: string): Generator<[string, TreeNode]> {
    return walkTree(this.nodes, root)
  }
}

/**
 * The znodes under `root` ("/" or any path), depth first, children by name, without ZooKeeper's own
 * /zookeeper below "/": the user's tree, as a walk sees it, each with the tree's own node (to read,
 * not to change). A child for which `skip` says true is left out with its subtree.
 */
export function* walkTree(
  nodes: ReadonlyMap<string, TreeNode>,
  root: string,
  skip?: (path: string) => boolean,
): Generator<[string, TreeNode]> {
  const paths = [root]
  /** The node of each pending path when it is known already (a snapshot's linked children), undefined to look it up. */
  const known: Array<TreeNode | undefined> = [undefined]
  const push = (path: string, node: TreeNode | undefined) => {
    if (skip?.(path)) return
    paths.push(path)
    known.push(node)
  }

  while (paths.length > 0) {
    const path = paths.pop()!
    const node = known.pop() ?? nodes.get(path)
    if (!node) continue
    yield [path, node]
    const linked = node instanceof StoredNode ? node.linkedChildren() : undefined
    if (linked) {
      // Siblings share their parent's path: in path order they are in name order.
      linked.sort(byPath)
      for (let index = linked.length - 1; index >= 0; index--) {
        if (path !== '/' || linked[index].path !== '/zookeeper') push(linked[index].path, linked[index])
      }

      continue
    }

    if (childCount(node) === 0) continue
    const names = sortedChildNames(node)
    for (let index = names.length - 1; index >= 0; index--) {
      if (path !== '/' || names[index] !== 'zookeeper') push(childPath(path, names[index]), undefined)
    }
  }
}

/** A znode's children's names, sorted (for a leaf, as most znodes are: no Set or sort made). */
function sortedChildNames(node: TreeNode): string[] {
  return childCount(node) === 0 ? [] : [...childNames(node)].sort()
}

const byPath = (a: StoredNode, b: StoredNode): number => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0)

/** The znodes a walk from "/" reaches. */
function reachable(nodes: Map<string, TreeNode>): Map<string, TreeNode> {
  const found = new Map<string, TreeNode>()
  const pending = ['/']
  while (pending.length > 0) {
    const path = pending.pop()!
    const node = nodes.get(path)
    if (!node) continue
    found.set(path, node)
    for (const name of childNames(node)) pending.push(childPath(path, name))
  }

  return found
}
