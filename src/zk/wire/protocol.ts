import type {JuteFailure, JuteReader} from '../../jute/reader.js'

/**
 * ZooKeeper's client protocol: opcodes, special xids, and the records of the requests and answers
 * the bulk jobs use. Every packet is an int length, then a Jute record: requests start with
 * RequestHeader(xid, type), answers with ReplyHeader(xid, zxid, err).
 */
import {OperationError} from '../../errors.js'
import {JuteWriter} from '../../jute/writer.js'
import {type Acl, type Stat, zkConstants, ZkError} from '../types.js'

export const OP = {
  auth: 100,
  check: 13,
  closeSession: -11,
  create: 1,
  create2: 15,
  createContainer: 19,
  createTTL: 21,
  delete: 2,
  error: -1,
  exists: 3,
  getACL: 6,
  getChildren: 8,
  getAllChildrenNumber: 104,
  getData: 4,
  multi: 14,
  multiRead: 22,
  ping: 11,
  sasl: 102,
  setACL: 7,
  setData: 5,
  sync: 9,
} as const

/** A server's answer that breaks the protocol: a malformed record, or a packet over the cap (see frames.ts). */
export class ProtocolError extends OperationError {
  constructor(message: string) {
    super(message)
    this.name = 'ProtocolError'
  }
}

/** How an answer's reader fails: "the answer of host:port at byte N: problem". */
export const protocolFailure: JuteFailure = (source, at, problem) =>
  new ProtocolError(`${source} at byte ${at}: ${problem}`)

export const XID = {auth: -4, notification: -1, ping: -2} as const

export interface ReplyHeader {
  err: number
  xid: number
  zxid: bigint
}

export interface ConnectResponse {
  password: Buffer
  sessionId: bigint
  timeoutMs: number
}

export function connectRequest(lastZxidSeen: bigint, timeoutMs: number, sessionId: bigint, password: Buffer): Buffer {
  return new JuteWriter().int(0).long(lastZxidSeen).int(timeoutMs).long(sessionId).buffer(password).bool(false).packet()
}

export function readConnectResponse(reader: JuteReader): ConnectResponse {
  reader.int() // protocol version
  const timeoutMs = reader.int()
  const sessionId = reader.ulong()
  const password = reader.buffer(true) ?? Buffer.alloc(0)
  return {password, sessionId, timeoutMs}
}

export function readReplyHeader(reader: JuteReader): ReplyHeader {
  return {xid: reader.int(), zxid: reader.long(), err: reader.int()}
}

export function readStat(reader: JuteReader): Stat {
  return {
    czxid: Number(reader.long()),
    mzxid: Number(reader.long()),
    ctime: new Date(reader.time()),
    mtime: new Date(reader.time()),
    version: reader.int(),
    cversion: reader.int(),
    aversion: reader.int(),
    // As the C client formats it (%llx), so records match those of the single-request path.
    ephemeralOwner: reader.ulong().toString(16),
    dataLength: reader.int(),
    numChildren: reader.int(),
    pzxid: Number(reader.long()),
  }
}

export function readStrings(reader: JuteReader): string[] {
  return reader.vector(() => reader.ustring() ?? '') ?? []
}

export type ReadOp = {kind: 'getChildren'; path: string} | {kind: 'getData'; path: string}

export type ReadResult = {children: string[]; kind: 'getChildren'} | {data: Buffer; kind: 'getData'; stat: Stat}

export type WriteOp =
  | {acl: Acl[]; data?: Buffer; flags?: number; kind: 'create'; path: string; ttlMs?: number}
  | {data: Buffer; kind: 'setData'; path: string; version?: number}
  | {kind: 'check'; path: string; version: number}
  | {kind: 'delete'; path: string; version?: number}

export interface WriteResult {
  /** The created path (with its sequence number), for creates. */
  path?: string
  type: number
}

const MULTI_END = (writer: JuteWriter) => writer.int(-1).bool(true).int(-1)

export function multiReadRequest(ops: ReadOp[]): JuteWriter {
  const writer = new JuteWriter()
  for (const op of ops) writer.int(OP[op.kind]).bool(false).int(-1).string(op.path).bool(false)
  return MULTI_END(writer)
}

export function writeOpType(op: WriteOp): number {
  if (op.kind !== 'create') return OP[op.kind]
  if (op.ttlMs !== undefined) return OP.createTTL
  return (op.flags ?? 0) === zkConstants.ZOO_CONTAINER ? OP.createContainer : OP.create
}

export function writeOpBody(writer: JuteWriter, op: WriteOp): JuteWriter {
  switch (op.kind) {
    case 'create': {
      writer
        .string(op.path)
        .buffer(op.data ?? Buffer.alloc(0))
        .acl(op.acl)
        .int(op.flags ?? 0)
      return op.ttlMs === undefined ? writer : writer.long(BigInt(op.ttlMs))
    }

    case 'delete': {
      return writer.string(op.path).int(op.version ?? -1)
    }

    case 'setData': {
      return writer
        .string(op.path)
        .buffer(op.data)
        .int(op.version ?? -1)
    }

    case 'check': {
      return writer.string(op.path).int(op.version)
    }
  }
}

export function multiRequest(ops: WriteOp[]): JuteWriter {
  const writer = new JuteWriter()
  for (const op of ops) writeOpBody(writer.int(writeOpType(op)).bool(false).int(-1), op)
  return MULTI_END(writer)
}

const OPERATION_NAMES: Record<string, string> = {
  check: 'check the version of',
  create: 'create',
  delete: 'delete',
  getChildren: 'list children of',
  getData: 'read',
  setData: 'write',
}

export function operationName(kind: string): string {
  return OPERATION_NAMES[kind] ?? kind
}

/** A multi-read answer: one result or one error per op, in order; an error is never read as data. */
export function readMultiReadResults(reader: JuteReader, ops: ReadOp[]): Array<ReadResult | ZkError> {
  const results: Array<ReadResult | ZkError> = []
  for (const [type, done] of multiHeaders(reader)) {
    if (done) break
    const op = ops[results.length]
    if (op === undefined) reader.fail('more results than requests in a multi-read answer')
    switch (type) {
      case OP.error: {
        results.push(new ZkError(reader.int(), op.path, operationName(op.kind)))
        break
      }

      case OP.getData: {
        results.push({data: reader.buffer(true) ?? Buffer.alloc(0), kind: 'getData', stat: readStat(reader)})
        break
      }

      case OP.getChildren: {
        results.push({children: readStrings(reader), kind: 'getChildren'})
        break
      }

      default: {
        reader.fail(`unexpected result type ${type} in a multi-read answer`)
      }
    }
  }

  if (results.length !== ops.length)
    reader.fail(`${results.length} results for ${ops.length} requests in a multi-read answer`)
  return results
}

/** A failed multi: nothing of it was applied. `index` is the op that failed, `codes` every op's error (0 for those rolled back). */
export class MultiFailed extends ZkError {
  constructor(
    code: number,
    readonly index: number,
    readonly codes: number[],
    path: string,
    operation: string,
  ) {
    super(code, path, operation)
    this.name = 'MultiFailed'
  }
}

export function readMultiResults(reader: JuteReader, ops: WriteOp[]): WriteResult[] {
  const results: WriteResult[] = []
  const codes: number[] = []
  for (const [type, done] of multiHeaders(reader)) {
    if (done) break
    if (type === OP.error) {
      codes.push(reader.int())
      continue
    }

    codes.push(0)
    results.push(readWriteResult(reader, type))
  }

  const index = codes.findIndex((code) => code !== 0 && code !== zkConstants.ZRUNTIMEINCONSISTENCY)
  if (index !== -1) {
    const op = ops[index]
    throw new MultiFailed(codes[index], index, codes, op?.path ?? '?', operationName(op?.kind ?? 'write'))
  }

  if (results.length !== ops.length)
    reader.fail(`${results.length} results for ${ops.length} requests in a multi answer`)
  return results
}

export function readWriteResult(reader: JuteReader, type: number): WriteResult {
  switch (type) {
    case OP.create: {
      return {path: reader.path(), type}
    }

    case OP.create2:
    case OP.createContainer:
    case OP.createTTL: {
      const path = reader.path()
      readStat(reader)
      return {path, type}
    }

    case OP.setData: {
      readStat(reader)
      return {type}
    }

    default: {
      return {type}
    }
  }
}

function* multiHeaders(reader: JuteReader): Generator<[type: number, done: boolean]> {
  for (;;) {
    const type = reader.int()
    const done = reader.bool()
    reader.int() // the header's err; an error result carries it again
    yield [type, done]
    if (done) return
  }
}
