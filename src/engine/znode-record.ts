/**
 * A replayed or snapshot znode as the online archive's record: what convert, the AdminServer path,
 * inspect and a restore from a replayed state write or check. recordOfNode reads a snapshot znode's
 * stat straight from the snapshot's bytes: a record per znode, without the intermediate stat objects
 * and bigints that were most of a write's main-thread time and garbage.
 */
import {isSequentialName, type ZnodeRecord} from '../archive/format.js'
import {hexZxid} from '../zk/zxid.js'
import {StoredNode} from '../zkdisk/stored-node.js'
import {childCount, type DiskZnode, toDiskZnode, type TreeNode} from '../zkdisk/znode.js'

/** Where each field sits in a stored stat (StatPersisted, see readPersistedStat). */
const CZXID = 0
const MZXID = 8
const CTIME = 16
const MTIME = 24
const VERSION = 32
const CVERSION = 36
const AVERSION = 40
const OWNER = 44
const PZXID = 52

export function toRecord(znode: DiskZnode): ZnodeRecord {
  const {stat} = znode
  return {
    acl: znode.acl,
    nextSequence: znode.nextSequence,
    path: znode.path,
    sequential: isSequentialName(znode.path),
    stat: {
      aversion: stat.aversion,
      ctime: isoTime(stat.ctime),
      // As a client reads it (DataNode.copyStat), like an online archive's; the stored one is nextSequence.
      cversion: stat.cversion,
      czxid: zxidText(stat.czxid),
      dataLength: stat.dataLength,
      mtime: isoTime(stat.mtime),
      mzxid: zxidText(stat.mzxid),
      numChildren: stat.numChildren,
      pzxid: zxidText(stat.pzxid),
      version: stat.version,
    },
    type: znode.type,
    ...(znode.ttl === undefined ? {} : {ttl: znode.ttl}),
  }
}

/**
 * toRecord(toDiskZnode(path, node)), equal member for member. A persistent znode whose stat is still
 * the snapshot's (most of a loaded tree) is read from the bytes; any other goes the long way.
 */
export function recordOfNode(path: string, node: TreeNode): ZnodeRecord {
  const at = node instanceof StoredNode ? node.storedStatOffset() : -1
  if (at < 0) return toRecord(toDiskZnode(path, node))
  const {bytes} = node as StoredNode
  if (bytes.readUInt32BE(at + OWNER) !== 0 || bytes.readUInt32BE(at + OWNER + 4) !== 0)
    return toRecord(toDiskZnode(path, node))
  const numChildren = childCount(node)
  const cversion = bytes.readInt32BE(at + CVERSION)
  return {
    acl: node.acl,
    nextSequence: cversion,
    path,
    sequential: isSequentialName(path),
    stat: {
      aversion: bytes.readInt32BE(at + AVERSION),
      ctime: isoTime(timeAt(bytes, at + CTIME)),
      // eslint-disable-next-line unicorn/prefer-math-trunc -- Java int arithmetic, as toDiskZnode's
      cversion: (Math.imul(cversion, 2) - numChildren) | 0,
      czxid: zxidTextAt(bytes, at + CZXID),
      dataLength: (node as StoredNode).storedDataLength(),
      mtime: isoTime(timeAt(bytes, at + MTIME)),
      mzxid: zxidTextAt(bytes, at + MZXID),
      numChildren,
      pzxid: zxidTextAt(bytes, at + PZXID),
      version: bytes.readInt32BE(at + VERSION),
    },
    type: 'persistent',
  }
}

/** A Java long of milliseconds, as JuteReader.time reads it. */
function timeAt(bytes: Buffer, at: number): number {
  return bytes.readInt32BE(at) * 2 ** 32 + bytes.readUInt32BE(at + 4)
}

/** The last zxid formatted: a znode's czxid, mzxid and pzxid are often the same, and so are its neighbours'. */
let lastZxid = {text: '0x0', zxid: 0n}
let lastHalves = {high: 0, low: 0, text: '0x0'}

function zxidText(zxid: bigint): string {
  if (zxid !== lastZxid.zxid) lastZxid = {text: hexZxid(zxid), zxid}
  return lastZxid.text
}

/** An unsigned 64-bit zxid at `at`, as hexZxid prints it, from its two halves (no bigint). */
function zxidTextAt(bytes: Buffer, at: number): string {
  const high = bytes.readUInt32BE(at)
  const low = bytes.readUInt32BE(at + 4)
  if (high !== lastHalves.high || low !== lastHalves.low) {
    const text = high === 0 ? `0x${low.toString(16)}` : `0x${high.toString(16)}${low.toString(16).padStart(8, '0')}`
    lastHalves = {high, low, text}
  }

  return lastHalves.text
}

/** The farthest time from 1970 a Date holds, in milliseconds. */
const MAX_TIME = 8.64e15

/** The last time formatted: a znode's ctime and mtime are often the same, and so are its neighbours'. */
let lastTime = {iso: new Date(0).toISOString(), ms: 0}
/** The ISO text of the last second formatted, up to its milliseconds: neighbours are often in the same second. */
let lastSecond = {prefix: '1970-01-01T00:00:00.', second: 0}

/** new Date(ms).toISOString(), the Date made once a second. */
export function isoTime(ms: number): string {
  if (ms === lastTime.ms) return lastTime.iso
  // A snapshot's times are whole milliseconds; anything else (and a time out of range: it throws) goes the long way.
  if (!Number.isInteger(ms) || Math.abs(ms) > MAX_TIME) return new Date(ms).toISOString()
  const second = Math.floor(ms / 1000)
  if (second !== lastSecond.second) lastSecond = {prefix: new Date(second * 1000).toISOString().slice(0, -4), second}
  const millis = ms - second * 1000
  lastTime = {iso: `${lastSecond.prefix}${millis < 100 ? (millis < 10 ? '00' : '0') : ''}${millis}Z`, ms}
  return lastTime.iso
}
