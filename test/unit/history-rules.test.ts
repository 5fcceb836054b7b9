/** The rules of `zk history` that need no node: which txns touch a path, and the times --since/--until take. */
import {expect} from 'chai'

import type {DecodedTxn, Txn} from '../../src/zkdisk/txn.js'

import {touches} from '../../src/engine/history/index.js'
import {parseTime} from '../../src/engine/time.js'
import {UsageError} from '../../src/errors.js'
import {OpCode} from '../../src/zkdisk/txn.js'

const txn = (type: number, body: Txn): DecodedTxn => ({
  header: {clientId: 1n, cxid: 1, time: 0, type, zxid: 5n},
  txn: body,
})
const create = (path: string): Txn => ({
  acl: [],
  data: Buffer.alloc(0),
  ephemeral: false,
  kind: 'create',
  parentCVersion: 1,
  path,
})

describe('zk history rules', () => {
  it('a create touches its own path and what holds it, not a sibling whose parent it changes', () => {
    const created = txn(OpCode.create, create('/app/a/c'))
    expect(['/app/a/c', '/app/a', '/app', '/'].map((path) => touches(created, path))).to.deep.equal([
      true,
      true,
      true,
      true,
    ])
    expect(['/app/a/b', '/app/a/c2', '/app/b'].map((path) => touches(created, path))).to.deep.equal([
      false,
      false,
      false,
    ])
  })

  it('a multi touches through each op, and a failed one (error ops) touches nothing', () => {
    const ops = [
      {txn: create('/app/x'), type: OpCode.create},
      {txn: {data: Buffer.from('v'), kind: 'setData', path: '/app/a', version: 2} as Txn, type: OpCode.setData},
    ]
    expect(touches(txn(OpCode.multi, {kind: 'multi', ops}), '/app/a')).to.equal(true)
    const failed = [...ops, {txn: {err: -101, kind: 'error'} as Txn, type: OpCode.error}]
    expect(touches(txn(OpCode.multi, {kind: 'multi', ops: failed}), '/app/a')).to.equal(false)
  })

  it('a closeSession touches the ephemerals it deletes', () => {
    const closed = txn(OpCode.closeSession, {kind: 'closeSession', paths2Delete: ['/app/a/e']})
    expect([touches(closed, '/app/a'), touches(closed, '/other')]).to.deep.equal([true, false])
  })

  it('takes ISO 8601 times with their zone and "15m ago", and refuses a time without its zone', () => {
    const now = Date.UTC(2026, 11, 1, 14, 30)
    expect(parseTime('2026-12-01T14:02:59.123Z', now, 'since')).to.equal(Date.UTC(2026, 11, 1, 14, 2, 59, 123))
    expect(parseTime('2026-12-01T16:02:59+02:00', now, 'since')).to.equal(Date.UTC(2026, 11, 1, 14, 2, 59))
    expect(parseTime('2026-12-01T16:02:59+0200', now, 'since')).to.equal(Date.UTC(2026, 11, 1, 14, 2, 59))
    expect(parseTime('15m ago', now, 'since')).to.equal(Date.UTC(2026, 11, 1, 14, 15))
    expect(parseTime('2h ago', now, 'until')).to.equal(Date.UTC(2026, 11, 1, 12, 30))
    // Read as this machine's zone or as UTC, it would be hours off for someone.
    expect(() => parseTime('2026-12-01T14:02:59', now, 'since')).to.throw(UsageError, /--since .*with its zone/)
    expect(() => parseTime('yesterday', now, 'until')).to.throw(UsageError, /--until/)
  })
})
