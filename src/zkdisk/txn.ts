/**
 * The transactions of ZooKeeper's logs (zookeeper.jute, SerializeUtils.deserializeTxn): a TxnHeader,
 * the record of its type, then optionally a TxnDigest (the tree digest once it is applied).
 */
import type {Acl} from '../zk/session.js'

import {type JuteFailure, JuteReader} from '../jute/reader.js'
import {DiskFormatError, diskFormatFailure} from './errors.js'
import {OPEN_ACL} from './znode.js'

export const OpCode = {
  check: 13,
  closeSession: -11,
  create: 1,
  create2: 15,
  createContainer: 19,
  createSession: -10,
  createTTL: 21,
  delete: 2,
  deleteContainer: 20,
  error: -1,
  multi: 14,
  reconfig: 16,
  setACL: 7,
  setData: 5,
} as const

export interface TxnHeader {
  clientId: bigint
  cxid: number
  /** Milliseconds since the epoch: the ctime or mtime of what it creates or changes. */
  time: number
  type: number
  zxid: bigint
}

export interface CreateTxn {
  acl: Acl[]
  data: Buffer
  ephemeral: boolean
  kind: 'create'
  /** -1 (from pre-3.3 logs) means "the parent's cversion plus one". */
  parentCVersion: number
  path: string
}

export interface CreateContainerTxn {
  acl: Acl[]
  data: Buffer
  kind: 'createContainer'
  parentCVersion: number
  path: string
}

export interface CreateTtlTxn {
  acl: Acl[]
  data: Buffer
  kind: 'createTTL'
  parentCVersion: number
  path: string
  ttl: bigint
}

export interface DeleteTxn {
  kind: 'delete'
  path: string
}

export interface SetDataTxn {
  data: Buffer
  kind: 'setData'
  path: string
  version: number
}

export interface SetAclTxn {
  acl: Acl[]
  kind: 'setACL'
  path: string
  version: number
}

export interface CheckVersionTxn {
  kind: 'check'
  path: string
  version: number
}

export interface ErrorTxn {
  err: number
  kind: 'error'
}

export interface CreateSessionTxn {
  kind: 'createSession'
  timeout: number
}

export interface CloseSessionTxn {
  kind: 'closeSession'
  /** The session's ephemerals when it closed; null in logs written without it. */
  paths2Delete: null | string[]
}

/** A part of a multi: its type, and its record, or why it cannot be decoded. */
export interface SubTxn {
  problem?: string
  txn?: Txn
  type: number
}

export interface MultiTxn {
  kind: 'multi'
  ops: SubTxn[]
}

export type Txn =
  | CheckVersionTxn
  | CloseSessionTxn
  | CreateContainerTxn
  | CreateSessionTxn
  | CreateTtlTxn
  | CreateTxn
  | DeleteTxn
  | ErrorTxn
  | MultiTxn
  | SetAclTxn
  | SetDataTxn

export interface TxnDigest {
  treeDigest: bigint
  version: number
}

export interface DecodedTxn {
  digest?: TxnDigest
  header: TxnHeader
  txn: Txn
}

const EMPTY = Buffer.alloc(0)
const DIGEST_LENGTH = 12
const DISK_FORMAT = diskFormatFailure()

/** Decodes the transaction in bytes[start, end) of a log; `failure` makes its errors (offsets in `bytes` by default). */
export function decodeTxn(
  bytes: Buffer,
  file: string,
  start: number,
  end: number,
  failure: JuteFailure = DISK_FORMAT,
): DecodedTxn {
  const reader = new JuteReader(bytes, file, failure, start, end)
  const header = readTxnHeader(reader)
  const txn = readTopLevelRecord(reader, header.type)
  const digest = reader.remaining >= DIGEST_LENGTH ? {version: reader.int(), treeDigest: reader.ulong()} : undefined
  return {header, txn, ...(digest ? {digest} : {})}
}

function readTxnHeader(reader: JuteReader): TxnHeader {
  // In the order of the record's fields: the reads happen as the properties are listed.
  return {clientId: reader.ulong(), cxid: reader.int(), zxid: reader.ulong(), time: reader.time(), type: reader.int()}
}

/** What SerializeUtils tolerates at the top level: a create without parentCVersion, a closeSession without a record. */
function readTopLevelRecord(reader: JuteReader, type: number): Txn {
  const start = reader.offset
  try {
    return readRecord(reader, type)
  } catch (error) {
    if (!(error instanceof DiskFormatError && error.truncated)) throw error
    reader.offset = start
    if (type === OpCode.create) return readCreateV0(reader)
    if (type === OpCode.closeSession) return {kind: 'closeSession', paths2Delete: null}
    throw error
  }
}

function readCreateV0(reader: JuteReader): CreateTxn {
  const {acl, data, path} = readCreateCommon(reader)
  return {acl, data, ephemeral: reader.bool(), kind: 'create', parentCVersion: -1, path}
}

function readCreateCommon(reader: JuteReader): {acl: Acl[]; data: Buffer; path: string} {
  const path = reader.path()
  const data = reader.buffer(true) ?? EMPTY
  return {acl: reader.acls() ?? OPEN_ACL, data, path}
}

function readRecord(reader: JuteReader, type: number): Txn {
  switch (type) {
    case OpCode.create:
    case OpCode.create2: {
      const common = readCreateCommon(reader)
      const ephemeral = reader.bool()
      return {...common, ephemeral, kind: 'create', parentCVersion: reader.int()}
    }

    case OpCode.createContainer: {
      return {...readCreateCommon(reader), kind: 'createContainer', parentCVersion: reader.int()}
    }

    case OpCode.createTTL: {
      const common = readCreateCommon(reader)
      const parentCVersion = reader.int()
      return {...common, kind: 'createTTL', parentCVersion, ttl: reader.long()}
    }

    case OpCode.delete:
    case OpCode.deleteContainer: {
      return {kind: 'delete', path: reader.path()}
    }

    case OpCode.setData:
    case OpCode.reconfig: {
      const path = reader.path()
      const data = reader.buffer(true) ?? EMPTY
      return {data, kind: 'setData', path, version: reader.int()}
    }

    case OpCode.setACL: {
      const path = reader.path()
      const acl = reader.acls() ?? OPEN_ACL
      return {acl, kind: 'setACL', path, version: reader.int()}
    }

    case OpCode.check: {
      const path = reader.path()
      return {kind: 'check', path, version: reader.int()}
    }

    case OpCode.error: {
      return {err: reader.int(), kind: 'error'}
    }

    case OpCode.createSession: {
      return {kind: 'createSession', timeout: reader.int()}
    }

    case OpCode.closeSession: {
      return {kind: 'closeSession', paths2Delete: reader.vector(() => reader.path())}
    }

    case OpCode.multi: {
      return {kind: 'multi', ops: reader.vector(() => readSubTxn(reader)) ?? []}
    }

    default: {
      return reader.fail(`unknown transaction type ${type}`)
    }
  }
}

/** The types DataTree applies inside a multi; it stops applying a multi at any other. */
export const MULTI_OP_TYPES: ReadonlySet<number> = new Set([
  OpCode.create,
  OpCode.createTTL,
  OpCode.createContainer,
  OpCode.delete,
  OpCode.deleteContainer,
  OpCode.setData,
  OpCode.error,
  OpCode.check,
])

function readSubTxn(reader: JuteReader): SubTxn {
  const type = reader.int()
  const nested = reader.nested()
  if (!MULTI_OP_TYPES.has(type)) return {problem: `type ${type} is not applied inside a multi`, type}
  if (!nested) return {problem: 'a null record', type}
  try {
    return {txn: readRecord(nested, type), type}
  } catch (error) {
    if (error instanceof DiskFormatError) return {problem: error.message, type}
    throw error
  }
}
