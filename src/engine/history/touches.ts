/**
 * What a transaction changed, znode by znode, and whether that is PATH or under it.
 *
 * A create, delete, setData or setACL changes its own path; a multi changes what each of its ops
 * changes (none, when it failed: ZooKeeper logs a failed multi as error ops and applies nothing); a
 * closeSession deletes the session's ephemerals it lists (logs of 3.6 and later; see history.ts for
 * older ones). A create or delete also bumps its parent's cversion and pzxid: that is not counted as
 * a change of the parent's subtree, only of the created or deleted path, so `/app/a` is touched by
 * a create of `/app/a/c` and not by one of its sibling `/app/b`.
 */
import type {Acl} from '../../zk/types.js'

import {isUnderZnode} from '../../zk/uri.js'
import {type DecodedTxn, OpCode, type SubTxn, type Txn} from '../../zkdisk/txn.js'

export interface Change {
  acl?: Acl[]
  dataSize?: number
  ephemeral?: boolean
  /** Inside a multi: the op's place (1-based) and the multi's count of ops. */
  multi?: {index: number; ops: number}
  op: string
  path: string
  ttl?: bigint
  /** The znode's version (setACL: its aversion) after the change. */
  version?: number
}

const OP_NAMES = new Map<number, string>(
  Object.entries(OpCode).map(([name, type]) => [type, name === 'create2' ? 'create' : name]),
)

/** Every znode change `decoded` made, in the order ZooKeeper applied them. */
export function changesOf({header, txn}: DecodedTxn): Change[] {
  if (txn.kind === 'multi') return multiChanges(txn.ops)
  if (txn.kind === 'closeSession') return (txn.paths2Delete ?? []).map((path) => ({op: 'closeSession', path}))
  const change = changeOf(header.type, txn)
  return change ? [change] : []
}

function multiChanges(ops: SubTxn[]): Change[] {
  if (ops.some((op) => op.txn?.kind === 'error')) return []
  return ops.flatMap((op, index) => {
    const change = op.txn && changeOf(op.type, op.txn)
    return change ? [{...change, multi: {index: index + 1, ops: ops.length}}] : []
  })
}

function changeOf(type: number, txn: Txn): Change | undefined {
  const op = OP_NAMES.get(type) ?? String(type)
  switch (txn.kind) {
    case 'create':
    case 'createContainer':
    case 'createTTL': {
      return {
        acl: txn.acl,
        dataSize: txn.data.length,
        op,
        path: txn.path,
        version: 0,
        ...(txn.kind === 'create' ? {ephemeral: txn.ephemeral} : {}),
        ...(txn.kind === 'createTTL' ? {ttl: txn.ttl} : {}),
      }
    }

    case 'delete': {
      return {op, path: txn.path}
    }

    case 'setData': {
      return {dataSize: txn.data.length, op, path: txn.path, version: txn.version}
    }

    case 'setACL': {
      return {acl: txn.acl, op, path: txn.path, version: txn.version}
    }

    default: {
      return undefined
    }
  }
}

/** Whether `decoded` changed PATH or anything under it (see the rules above). */
export function touches(decoded: DecodedTxn, path: string): boolean {
  return changesOf(decoded).some((change) => isUnderZnode(change.path, path))
}
