import type {Acl} from '../../src/zk/session.js'

import {JuteWriter} from '../../src/jute/writer.js'
/**
 * Snapshots and transaction logs written byte by byte as ZooKeeper writes them, for the cases a
 * running server does not produce on demand: fuzzy snapshots, torn and corrupt logs, old formats.
 */
import {adler32} from '../../src/zkdisk/index.js'

export const OPEN: Acl[] = [{id: 'anyone', perms: 31, scheme: 'world'}]

export interface SyntheticStat {
  aversion?: number
  ctime?: number
  cversion?: number
  czxid?: bigint
  ephemeralOwner?: bigint
  mtime?: number
  mzxid?: bigint
  pzxid?: bigint
  version?: number
}

export interface SyntheticZnode {
  acl?: bigint
  data?: string
  /** "" for the root, as ZooKeeper writes it. */
  path: string
  stat?: SyntheticStat
}

export interface SyntheticSnapshot {
  acls?: Array<[bigint, Acl[]]>
  digest?: {digest: bigint; version: number; zxid: bigint}
  /** 3.9's last processed zxid, sealed after the digest (or alone when digests are off). */
  lastProcessedZxid?: bigint
  sessions?: Array<[bigint, number]>
  znodes: SyntheticZnode[]
}

/** The znodes of a new server: "", /zookeeper, /zookeeper/quota. */
export const BASE_ZNODES: SyntheticZnode[] = [{path: ''}, {path: '/zookeeper'}, {path: '/zookeeper/quota'}]

export function snapshotBytes(snapshot: SyntheticSnapshot): Buffer {
  const writer = new JuteWriter().int(0x5a_4b_53_4e).int(2).long(-1n)
  writer.int(snapshot.sessions?.length ?? 0)
  for (const [id, timeout] of snapshot.sessions ?? []) writer.long(BigInt.asIntN(64, id)).int(timeout)
  writer.int(snapshot.acls?.length ?? 0)
  for (const [index, acl] of snapshot.acls ?? []) writer.long(index).acl(acl)
  for (const znode of snapshot.znodes) writeZnode(writer, znode)
  let bytes = seal(writer.string('/').bytes())
  if (snapshot.digest) {
    const {digest, version, zxid} = snapshot.digest
    bytes = seal(
      Buffer.concat([bytes, new JuteWriter().long(zxid).int(version).long(BigInt.asIntN(64, digest)).bytes()]),
    )
  }

  if (snapshot.lastProcessedZxid !== undefined)
    bytes = seal(Buffer.concat([bytes, new JuteWriter().long(snapshot.lastProcessedZxid).bytes()]))

  return bytes
}

function writeZnode(writer: JuteWriter, {acl = -1n, data = '', path, stat = {}}: SyntheticZnode): void {
  writer.string(path).buffer(Buffer.from(data)).long(acl)
  writer
    .long(stat.czxid ?? 0n)
    .long(stat.mzxid ?? 0n)
    .long(BigInt(stat.ctime ?? 0))
    .long(BigInt(stat.mtime ?? 0))
  writer
    .int(stat.version ?? 0)
    .int(stat.cversion ?? 0)
    .int(stat.aversion ?? 0)
  writer.long(BigInt.asIntN(64, stat.ephemeralOwner ?? 0n)).long(stat.pzxid ?? 0n)
}

/** SnapStream.sealStream: the Adler-32 of everything so far, then "/". */
function seal(bytes: Buffer): Buffer {
  return Buffer.concat([
    bytes,
    new JuteWriter()
      .long(BigInt(adler32(bytes)))
      .string('/')
      .bytes(),
  ])
}

export interface Header {
  clientId?: bigint
  time?: number
  zxid: bigint
}

type RecordWriter = (writer: JuteWriter) => unknown

/** A transaction's bytes: TxnHeader, the record, and a digest if given. */
export function txnBytes(
  type: number,
  header: Header,
  record: RecordWriter,
  digest?: {treeDigest: bigint; version: number},
): Buffer {
  const writer = new JuteWriter()
    .long(header.clientId ?? 0x12_34n)
    .int(1)
    .long(header.zxid)
    .long(BigInt(header.time ?? 1000))
    .int(type)
  record(writer)
  if (digest) writer.int(digest.version).long(BigInt.asIntN(64, digest.treeDigest))
  return writer.bytes()
}

export const record = {
  check:
    (path: string, version: number): RecordWriter =>
    (writer) =>
      writer.string(path).int(version),
  closeSession:
    (paths: string[]): RecordWriter =>
    (writer) => {
      writer.int(paths.length)
      for (const path of paths) writer.string(path)
    },
  create:
    (path: string, {acl = OPEN, data = '', ephemeral = false, parentCVersion = -1} = {}): RecordWriter =>
    (writer) =>
      writer.string(path).buffer(Buffer.from(data)).acl(acl).bool(ephemeral).int(parentCVersion),
  createV0:
    (path: string, data = ''): RecordWriter =>
    (writer) =>
      writer.string(path).buffer(Buffer.from(data)).acl(OPEN).bool(false),
  createSession:
    (timeout: number): RecordWriter =>
    (writer) =>
      writer.int(timeout),
  delete:
    (path: string): RecordWriter =>
    (writer) =>
      writer.string(path),
  error:
    (err: number): RecordWriter =>
    (writer) =>
      writer.int(err),
  multi:
    (ops: Array<[type: number, record: RecordWriter]>): RecordWriter =>
    (writer) => {
      writer.int(ops.length)
      for (const [type, write] of ops) {
        const op = new JuteWriter()
        write(op)
        writer.int(type).buffer(op.bytes())
      }
    },
  none: (): RecordWriter => () => undefined,
  setData:
    (path: string, data: string, version: number): RecordWriter =>
    (writer) =>
      writer.string(path).buffer(Buffer.from(data)).int(version),
}

/** A log entry: Adler-32 of the transaction, its length, the bytes, 0x42. */
export function entry(txn: Buffer, checksum = BigInt(adler32(txn))): Buffer {
  return Buffer.concat([new JuteWriter().long(checksum).int(txn.length).bytes(), txn, Buffer.from([0x42])])
}

/** A log file: its header, the entries, then `padding` zero bytes (ZooKeeper preallocates). */
export function logBytes(entries: Buffer[], padding = 0): Buffer {
  return Buffer.concat([new JuteWriter().int(0x5a_4b_4c_47).int(2).long(0n).bytes(), ...entries, Buffer.alloc(padding)])
}
