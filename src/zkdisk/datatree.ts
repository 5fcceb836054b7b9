/**
 * ZooKeeper's DataTree as far as its persisted state goes: what it loads from a snapshot, and how
 * processTxn applies each logged transaction, mirrored from ZooKeeper 3.8 including its tolerance of
 * fuzzy snapshots (a create that finds the znode, a delete that does not, are ignored, but still move
 * the parent's cversion and pzxid as ZooKeeper moves them). It keeps the tree digest up to date.
 */
import type {Acl} from '../zk/session.js'
import type {SnapshotContent} from './snapshot.js'

import {hexZxid} from '../zk/zxid.js'
import {DigestSum, nodeDigestValue} from './digest.js'
import {StoredNode} from './stored-node.js'
import {type MultiTxn, OpCode, type Txn, type TxnHeader} from './txn.js'
import {
  addChild,
  childCount,
  CONTAINER_OWNER,
  isSessionOwner,
  OPEN_ACL,
  type PersistedStat,
  READ_ACL,
  removeChild,
  splitPath,
  type TreeNode,
  ttlOwner,
} from './znode.js'

/** KeeperException codes that processTxn returns. */
export const Code = {nodeExists: -110, noNode: -101, ok: 0} as const

const EMPTY = Buffer.alloc(0)
/** Distinct ACLs shared (DataTree.sharedAcl); past it, each znode keeps its own, as before. */
const MAX_SHARED_ACLS = 10_000

export class DataTree {
  /** Snapshot znodes whose ACL the snapshot's cache lacked (SnapshotContent.aclsToResolve), until a transaction sets it. */
  readonly aclsToResolve = new Map<string, bigint>()
  /** What ZooKeeper would only log: a multi it stops applying part-way, a closed session's unlisted ephemerals. */
  readonly anomalies: string[] = []
  /** Session id to the paths of its ephemeral znodes. */
  readonly ephemerals = new Map<bigint, Set<string>>()
  lastProcessedZxid = 0n
  /** Whether a znode may be in `nodes` that no walk from "/" reaches: a znode with children was deleted. */
  orphansPossible = false
  /** The ACLs transactions gave znodes, one array each (ZooKeeper's ReferenceCountedACLCache): each create decodes its own. */
  private readonly aclCache = new Map<string, Acl[]>()
  private readonly digestSum: DigestSum

  /** `loaded`: the digest and owned znodes a snapshot's reader gathered, or else computed over `nodes` here. */
  private constructor(
    readonly nodes: Map<string, TreeNode>,
    loaded?: {digest: bigint; ownedPaths: string[]},
  ) {
    this.digestSum = new DigestSum(loaded?.digest)
    if (loaded) {
      for (const path of loaded.ownedPaths) this.trackEphemeral(path, nodes.get(path)!.stat.ephemeralOwner)
      return
    }

    for (const [path, node] of nodes) {
      this.addDigest(nodeDigestValue(path, node))
      if (path !== '/' && node.stat.ephemeralOwner !== 0n) this.trackEphemeral(path, node.stat.ephemeralOwner)
    }
  }

  /** The tree of a server that never had a snapshot: /, /zookeeper, /zookeeper/quota, /zookeeper/config. */
  static empty(): DataTree {
    const node = (acl: Acl[], children: string[]): TreeNode => ({
      acl,
      children: children.length === 0 ? undefined : new Set(children),
      data: EMPTY,
      stat: zeroStat(),
    })
    const config = node(READ_ACL, [])
    config.stat.aversion = -1 // DataTree sets its ACL with setACL(..., version -1)
    return new DataTree(
      new Map([
        ['/', node(OPEN_ACL, ['zookeeper'])],
        ['/zookeeper', node(OPEN_ACL, ['quota', 'config'])],
        ['/zookeeper/quota', node(OPEN_ACL, [])],
        ['/zookeeper/config', config],
      ]),
    )
  }

  static fromSnapshot(snapshot: SnapshotContent): DataTree {
    const tree = new DataTree(snapshot.nodes, {digest: snapshot.treeDigest, ownedPaths: snapshot.ownedPaths})
    tree.lastProcessedZxid = snapshot.zxid
    for (const [path, index] of snapshot.aclsToResolve) tree.aclsToResolve.set(path, index)
    return tree
  }

  /** The tree digest (NodeHashMapImpl's AdHash): the sum of every znode's digest modulo 2^64. */
  get digest(): bigint {
    return this.digestSum.value
  }

  /** Deletes a closed or dead session's ephemerals: those the transaction lists, then any others the tree knows of. */
  killSession(session: bigint, zxid: bigint, pathsInTxn: null | string[]): void {
    const known = this.ephemerals.get(session)
    this.ephemerals.delete(session)
    for (const path of pathsInTxn ?? []) this.deleteNode(path, zxid)
    if (!known) return
    for (const path of pathsInTxn ?? []) known.delete(path)
    if (pathsInTxn && known.size > 0) {
      this.anomalies.push(
        `closing session ${hexZxid(session)} at zxid ${hexZxid(zxid)} also deleted ${[...known].join(', ')}, which its transaction did not list`,
      )
    }

    for (const path of known) this.deleteNode(path, zxid)
  }

  /** DataTree.processTxn: returns the error code ZooKeeper gets (ignored when replaying). */
  processTxn(header: TxnHeader, txn: Txn, isSubTxn = false): number {
    const err = this.apply(header, txn)
    // A create that finds its znode, left over from a fuzzy snapshot, still sets the parent's cversion and pzxid.
    if (header.type === OpCode.create && err === Code.nodeExists && txn.kind === 'create') {
      this.setCversionPzxid(splitPath(txn.path).parent, txn.parentCVersion, header.zxid)
    }

    if (!isSubTxn && header.zxid > this.lastProcessedZxid) this.lastProcessedZxid = header.zxid
    return err
  }

  private addDigest(value: number): void {
    this.digestSum.add(value)
  }

  private apply(header: TxnHeader, txn: Txn): number {
    const {clientId, time, zxid} = header
    switch (txn.kind) {
      case 'create': {
        return this.createNode(txn, txn.ephemeral ? clientId : 0n, zxid, time)
      }

      case 'createContainer': {
        return this.createNode(txn, CONTAINER_OWNER, zxid, time)
      }

      case 'createTTL': {
        return this.createNode(txn, ttlOwner(txn.ttl), zxid, time)
      }

      case 'delete': {
        return this.deleteNode(txn.path, zxid)
      }

      case 'setData': {
        return this.change(txn.path, (node) => {
          node.data = txn.data
          node.stat.mtime = time
          node.stat.mzxid = zxid
          node.stat.version = txn.version
        })
      }

      case 'setACL': {
        return this.change(txn.path, (node) => {
          node.acl = this.sharedAcl(txn.acl)
          node.stat.aversion = txn.version
          this.aclsToResolve.delete(txn.path)
        })
      }

      case 'closeSession': {
        this.killSession(clientId, zxid, txn.paths2Delete)
        return Code.ok
      }

      case 'error': {
        return txn.err
      }

      case 'multi': {
        return this.applyMulti(header, txn)
      }

      default: {
        return Code.ok
      }
    }
  }

  /**
   * A multi whose ops include an error (it failed as a whole) changes nothing: every op becomes an
   * error. ZooKeeper stops at an op it cannot decode, keeping what the ops before it did.
   */
  private applyMulti(header: TxnHeader, multi: MultiTxn): number {
    const failed = multi.ops.some((op) => op.type === OpCode.error)
    let err: number = Code.ok
    for (const op of multi.ops) {
      if (!op.txn) {
        this.anomalies.push(
          `multi at zxid ${hexZxid(header.zxid)}: ${op.problem ?? 'an op without a record'}; ZooKeeper stops applying the multi there`,
        )
        return err
      }

      const type = failed ? OpCode.error : op.type
      const txn: Txn = failed && op.type !== OpCode.error ? {err: Code.ok, kind: 'error'} : op.txn
      const opErr = this.processTxn({...header, type}, txn, true)
      if (opErr !== Code.ok && err === Code.ok) err = opErr
    }

    return err
  }

  private change(path: string, mutate: (node: TreeNode) => void): number {
    const node = this.nodes.get(path)
    if (!node) return Code.noNode
    this.changeNode(path, node, () => mutate(node))
    return Code.ok
  }

  private changeNode(path: string, node: TreeNode, mutate: () => void): void {
    // A snapshot znode's stat is decoded once and kept (the change needs it): the digest before reads the same one.
    if (node instanceof StoredNode) node.keepStat()
    this.addDigest(-nodeDigestValue(path, node))
    mutate()
    this.addDigest(nodeDigestValue(path, node))
  }

  private createNode(
    txn: {acl: Acl[]; data: Buffer; parentCVersion: number; path: string},
    ephemeralOwner: bigint,
    zxid: bigint,
    time: number,
  ): number {
    const {name, parent: parentPath} = splitPath(txn.path)
    const parent = this.nodes.get(parentPath)
    if (!parent) return Code.noNode
    if (parent.children?.has(name)) {
      this.resolveAcl(txn.path, txn.acl, zxid)
      return Code.nodeExists
    }

    this.changeNode(parentPath, parent, () => {
      const parentCVersion = txn.parentCVersion === -1 ? parent.stat.cversion + 1 : txn.parentCVersion
      // A create replayed after the znode was created and deleted within the fuzzy range must not lower them.
      if (parentCVersion > parent.stat.cversion) {
        parent.stat.cversion = parentCVersion
        parent.stat.pzxid = zxid
      }

      addChild(parent, name)
    })
    const node: TreeNode = {
      acl: this.sharedAcl(txn.acl),
      children: undefined,
      data: txn.data,
      stat: {...zeroStat(), ctime: time, czxid: zxid, ephemeralOwner, mtime: time, mzxid: zxid, pzxid: zxid},
    }
    this.put(txn.path, node)
    this.trackEphemeral(txn.path, ephemeralOwner)
    return Code.ok
  }

  /** The parent loses the child and gets the pzxid even when the znode is gone already (a fuzzy snapshot). */
  private deleteNode(path: string, zxid: bigint): number {
    const {name, parent: parentPath} = splitPath(path)
    const parent = this.nodes.get(parentPath)
    if (!parent) return Code.noNode
    this.changeNode(parentPath, parent, () => {
      removeChild(parent, name)
      if (zxid > parent.stat.pzxid) parent.stat.pzxid = zxid
    })
    const node = this.nodes.get(path)
    if (!node) return Code.noNode
    this.remove(path, node)
    // ZooKeeper keeps the children of a znode deleted under them (a fuzzy snapshot's replay), unreachable.
    if (childCount(node) > 0 || path === '/') this.orphansPossible = true
    this.aclsToResolve.delete(path)
    if (isSessionOwner(node.stat.ephemeralOwner)) this.ephemerals.get(node.stat.ephemeralOwner)?.delete(path)
    return Code.ok
  }

  private put(path: string, node: TreeNode): void {
    const previous = this.nodes.get(path)
    if (previous) this.addDigest(-nodeDigestValue(path, previous))
    this.nodes.set(path, node)
    this.addDigest(nodeDigestValue(path, node))
  }

  private remove(path: string, node: TreeNode): void {
    this.nodes.delete(path)
    this.addDigest(-nodeDigestValue(path, node))
  }

  /** The create that made a snapshot znode whose ACL the snapshot's cache lacked: it holds that ACL. */
  private resolveAcl(path: string, acl: Acl[], zxid: bigint): void {
    const node = this.nodes.get(path)
    if (!node || !this.aclsToResolve.has(path) || node.stat.czxid !== zxid) return
    node.acl = acl
    this.aclsToResolve.delete(path)
  }

  private setCversionPzxid(path: string, cversion: number, zxid: bigint): number {
    const node = this.nodes.get(path)
    if (!node) return Code.noNode
    const newCversion = cversion === -1 ? node.stat.cversion + 1 : cversion
    if (newCversion > node.stat.cversion) {
      this.changeNode(path, node, () => {
        node.stat.cversion = newCversion
        node.stat.pzxid = zxid
      })
    }

    return Code.ok
  }

  /** `acl`, or the equal array a znode already holds: a tree of znodes created alike holds one. */
  private sharedAcl(acl: Acl[]): Acl[] {
    const key = JSON.stringify(acl.map(({id, perms, scheme}) => [perms, scheme, id]))
    const shared = this.aclCache.get(key)
    if (shared) return shared
    if (this.aclCache.size < MAX_SHARED_ACLS) this.aclCache.set(key, acl)
    return acl
  }

  private trackEphemeral(path: string, owner: bigint): void {
    if (!isSessionOwner(owner)) return
    const paths = this.ephemerals.get(owner) ?? new Set<string>()
    this.ephemerals.set(owner, paths.add(path))
  }
}

function zeroStat(): PersistedStat {
  return {aversion: 0, ctime: 0, cversion: 0, czxid: 0n, ephemeralOwner: 0n, mtime: 0, mzxid: 0n, pzxid: 0n, version: 0}
}
