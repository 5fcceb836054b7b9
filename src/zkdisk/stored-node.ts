/**
 * A znode loaded from a snapshot, kept as offsets into the snapshot's bytes: its data and stat are
 * decoded when asked for. Most znodes of a loaded tree are never changed by the logs after it, and
 * a view and a stat of bigints per znode were most of a load's memory and time.
 */
import type {Acl} from '../zk/session.js'
import type {PersistedStat, TreeNode} from './znode.js'

import {JuteReader} from '../jute/reader.js'
import {diskFormatFailure} from './errors.js'

const EMPTY = Buffer.alloc(0)
/** The stat's bytes were read whole when the snapshot was: a failure here is a bug, reported as the disk format's. */
const DISK_FORMAT = diskFormatFailure()
/** StatPersisted's size: 4 longs, 2 longs of time, 3 ints. */
export const STORED_STAT_BYTES = 60
/** Where ephemeralOwner is in a stored stat: after czxid, mzxid, ctime, mtime (longs), version, cversion, aversion (ints). */
const OWNER_OFFSET = 44

export class StoredNode implements TreeNode {
  private childSet: Set<string> | undefined = undefined
  /** The children read after it, in order, until their names are first asked for: no name or Set per znode while loading. */
  private firstChild: StoredNode | undefined = undefined
  private lastChild: StoredNode | undefined = undefined
  private nextSibling: StoredNode | undefined = undefined
  private ownData: Buffer | undefined = undefined
  /** Set once the stat was asked for to be changed (or replaced): from then on, the node's own. */
  private ownStat: PersistedStat | undefined = undefined

  constructor(
    public acl: Acl[],
    /** Its path, the key it is stored under: its name is cut from it only when its parent's children are asked for. */
    readonly path: string,
    /** The snapshot's bytes, shared by every znode read from it. */
    readonly bytes: Buffer,
    /** Where the data starts; the stat follows it and the ACL index (8 bytes). */
    private readonly dataAt: number,
    /** -1 for a null buffer. */
    private readonly dataLength: number,
  ) {}

  get children(): Set<string> | undefined {
    if (this.firstChild !== undefined) {
      this.childSet ??= new Set()
      for (let child: StoredNode | undefined = this.firstChild; child !== undefined; child = child.nextSibling)
        this.childSet.add(child.path.slice(child.path.lastIndexOf('/') + 1))
      this.firstChild = undefined
      this.lastChild = undefined
    }

    return this.childSet
  }

  set children(children: Set<string> | undefined) {
    this.firstChild = undefined
    this.lastChild = undefined
    this.childSet = children
  }

  get data(): Buffer {
    if (this.ownData !== undefined) return this.ownData
    return this.dataLength <= 0 ? EMPTY : this.bytes.subarray(this.dataAt, this.dataAt + this.dataLength)
  }

  set data(data: Buffer) {
    this.ownData = data
  }

  /** The stat to change in place: decoded once, then kept. Readers use storedStat (statOf). */
  get stat(): PersistedStat {
    return this.keepStat()
  }

  set stat(stat: PersistedStat) {
    this.ownStat = stat
  }

  /** A child read from the snapshot: listed by name once the children are asked for. */
  appendChild(child: StoredNode): void {
    if (this.childSet !== undefined) this.childSet.add(child.path.slice(child.path.lastIndexOf('/') + 1))
    else if (this.lastChild === undefined) this.firstChild = child
    else this.lastChild.nextSibling = child
    if (this.childSet === undefined) this.lastChild = child
  }

  /** How many children it has, without making the Set of their names (counted along the links: no field per znode for it). */
  childCount(): number {
    if (this.childSet !== undefined) return this.childSet.size
    let count = 0
    for (let child = this.firstChild; child !== undefined; child = child.nextSibling) count++
    return count
  }

  /** Decodes the stat to be changed, once: from then on it is the node's own. */
  keepStat(): PersistedStat {
    this.ownStat ??= this.storedStat()
    return this.ownStat
  }

  /**
   * Its children, while they are still the ones read after it from the snapshot (no name asked for,
   * none added or removed: any of those makes the Set first), each the very node stored under its
   * path; undefined otherwise. A walk in name order then needs neither the names nor a lookup per child.
   */
  linkedChildren(): StoredNode[] | undefined {
    if (this.firstChild === undefined) return undefined
    const children: StoredNode[] = []
    for (let child: StoredNode | undefined = this.firstChild; child !== undefined; child = child.nextSibling)
      children.push(child)
    return children
  }

  storedDataLength(): number {
    return this.ownData === undefined ? Math.max(this.dataLength, 0) : this.ownData.length
  }

  /** The stat's ephemeralOwner as stored, or as changed since. */
  storedOwner(): bigint {
    if (this.ownStat !== undefined) return this.ownStat.ephemeralOwner
    const at = this.statAt() + OWNER_OFFSET
    // Most znodes are persistent: no BigInt made for a zero owner.
    if (this.bytes.readUInt32BE(at) === 0 && this.bytes.readUInt32BE(at + 4) === 0) return 0n
    return this.bytes.readBigUInt64BE(at)
  }

  /** The stat as stored, or as changed since: a new object each time until it was changed. */
  storedStat(): PersistedStat {
    if (this.ownStat !== undefined) return this.ownStat
    const at = this.statAt()
    return readPersistedStat(new JuteReader(this.bytes, '', DISK_FORMAT, at, at + STORED_STAT_BYTES))
  }

  /** Where the stat (STORED_STAT_BYTES) starts in `bytes`, or -1 once the node has a stat of its own. */
  storedStatOffset(): number {
    return this.ownStat === undefined ? this.statAt() : -1
  }

  /** The stat follows the data and the ACL index (8 bytes). */
  private statAt(): number {
    return this.dataAt + Math.max(this.dataLength, 0) + 8
  }
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
