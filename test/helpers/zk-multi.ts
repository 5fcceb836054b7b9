/**
 * Multi transactions for tests, in the shape the zkdisk tests write them, sent through our wire
 * client (src/zk/wire): the `zookeeper` npm client has no multi.
 */
import {type Acl, OPEN_ACL as OPEN, zkConstants} from '../../src/zk/session.js'
import {MultiFailed, type WriteOp} from '../../src/zk/wire/protocol.js'
import {WireSession} from '../../src/zk/wire/session.js'

export type MultiOp =
  | {acl?: Acl[]; data?: Buffer | string; flags?: number; path: string; ttl: number; type: 'createTTL'}
  | {acl?: Acl[]; data?: Buffer | string; flags?: number; path: string; type: 'create'}
  | {acl?: Acl[]; data?: Buffer | string; path: string; type: 'createContainer'}
  | {data: Buffer | string; path: string; type: 'setData'; version?: number}
  | {path: string; type: 'check'; version: number}
  | {path: string; type: 'delete'; version?: number}

export interface MultiResult {
  /** 0 when every op was applied. */
  err: number
  /** Per op: its type and created path, or (when the multi failed) its error, 0 for ops rolled back. */
  results: Array<{err?: number; path?: string; type: number}>
}

/** Opens a session on `hostPort`, sends one multi, then closes the session (or, with close: false, abandons it). */
export async function sendMulti(hostPort: string, ops: MultiOp[], {close = true} = {}): Promise<MultiResult> {
  const session = await WireSession.connect({hosts: [hostPort]})
  try {
    const results = await session.multi(ops.map((op) => toWriteOp(op)))
    return {err: 0, results}
  } catch (error) {
    if (!(error instanceof MultiFailed)) throw error
    return {err: error.code, results: error.codes.map((code) => ({err: code, type: -1}))}
  } finally {
    await (close ? session.close() : session.abandon())
  }
}

function toWriteOp(op: MultiOp): WriteOp {
  const data = (value: Buffer | string | undefined) =>
    typeof value === 'string' ? Buffer.from(value) : (value ?? Buffer.alloc(0))
  switch (op.type) {
    case 'create': {
      return {acl: op.acl ?? OPEN, data: data(op.data), flags: op.flags ?? 0, kind: 'create', path: op.path}
    }

    case 'createContainer': {
      return {acl: op.acl ?? OPEN, data: data(op.data), flags: zkConstants.ZOO_CONTAINER, kind: 'create', path: op.path}
    }

    case 'createTTL': {
      return {
        acl: op.acl ?? OPEN,
        data: data(op.data),
        flags: op.flags ?? zkConstants.ZOO_PERSISTENT_WITH_TTL,
        kind: 'create',
        path: op.path,
        ttlMs: op.ttl,
      }
    }

    case 'delete': {
      return {kind: 'delete', path: op.path, version: op.version}
    }

    case 'setData': {
      return {data: data(op.data), kind: 'setData', path: op.path, version: op.version}
    }

    case 'check': {
      return {kind: 'check', path: op.path, version: op.version}
    }
  }
}
