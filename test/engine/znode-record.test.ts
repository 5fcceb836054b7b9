/**
 * recordOfNode reads a snapshot znode's record straight from the snapshot's bytes: it must equal, member
 * for member and in the same order (recordBody's encoding depends on it), the record built the long
 * way from the decoded stat, for every kind of znode and stat a snapshot can hold.
 */
import {expect} from 'chai'

import {isoTime, recordOfNode, toRecord} from '../../src/engine/znode-record.js'
import {loadState, OpCode} from '../../src/zkdisk/index.js'
import {StoredNode} from '../../src/zkdisk/stored-node.js'
import {childCount, childPath, CONTAINER_OWNER, toDiskZnode, ttlOwner} from '../../src/zkdisk/znode.js'
import {BASE_ZNODES, entry, logBytes, OPEN, record, snapshotBytes, txnBytes} from '../zkdisk/synthetic.js'

const SESSION = 0x1_00_00_00_00_00_00_01n
const READ = [{id: 'anyone', perms: 1, scheme: 'world'}]

describe('recordOfNode and DiskState.walk', () => {
  const snapshot = snapshotBytes({
    acls: [[3n, READ]],
    sessions: [[SESSION, 30_000]],
    znodes: [
      ...BASE_ZNODES,
      {
        data: 'a',
        path: '/a',
        // Zxids past 2^53 and past 2^32, a time before 1970 and one far ahead, a cversion that wraps when doubled.
        stat: {
          aversion: 7,
          ctime: -5,
          cversion: 0x7f_ff_ff_ff,
          czxid: 0x7f_ff_ff_ff_00_00_00_01n,
          mtime: 2 ** 42,
          mzxid: 0x1_00_00_00_0an,
          pzxid: 0x10n,
          version: -1,
        },
      },
      {acl: 3n, data: 'x'.repeat(600), path: '/a/job-0000000001', stat: {ctime: 1000, mtime: 1000, version: 2}},
      {path: '/a/\u00FC\u00F1\u00EE', stat: {cversion: 3, czxid: 5n, mzxid: 5n, pzxid: 9n}},
      {path: String.raw`/a/quote"back\slash`},
      // Out of name order, as a snapshot lists them: a walk sorts them ("B" < "b" < "b-1" < "b0").
      {path: '/a/b0'},
      {path: '/a/b-1'},
      {data: 'child', path: '/a/b-1/c'},
      {path: '/a/b'},
      {path: '/a/B'},
      {path: '/container', stat: {ephemeralOwner: CONTAINER_OWNER}},
      {path: '/ttl', stat: {ephemeralOwner: ttlOwner(5000n)}},
      {data: 'lock', path: '/ephemeral', stat: {ephemeralOwner: SESSION}},
      {data: 'changed later', path: '/changed'},
    ],
  })
  const log = logBytes([
    entry(txnBytes(OpCode.setData, {zxid: 0x11n}, record.setData('/changed', 'new', 1))),
    entry(txnBytes(OpCode.create, {zxid: 0x12n}, record.create('/created', {acl: OPEN, data: 'fresh'}))),
  ])
  const state = loadState([
    {bytes: snapshot, name: 'snapshot.10'},
    {bytes: log, name: 'log.11'},
  ])

  it('equals the record built from the decoded stat, in the same member order, for every znode', () => {
    const nodes = [...state.walk('/'), ...state.walk('/zookeeper')]
    expect(nodes.map(([path]) => path)).to.include.members(['/a/job-0000000001', '/changed', '/created', '/ttl'])
    for (const [path, node] of nodes) {
      const expected = toRecord(toDiskZnode(path, node))
      const actual = recordOfNode(path, node)
      expect(actual, path).to.deep.equal(expected)
      expect(JSON.stringify(actual), path).to.equal(JSON.stringify(expected))
    }
  })

  it('walks depth first in name order, each path with its own node, as a walk by sorted names does', () => {
    const walked = [...state.walk('/')]
    // The reference: the names sorted and each looked up (children() makes every Set of names: after the walk).
    const expected: string[] = []
    const visit = (path: string) => {
      expected.push(path)
      for (const name of state.children(path)) if (path !== '/' || name !== 'zookeeper') visit(childPath(path, name))
    }

    visit('/')
    expect(walked.map(([path]) => path)).to.deep.equal(expected)
    expect(expected.filter((path) => path.startsWith('/a/'))).to.deep.equal([
      '/a/B',
      '/a/b',
      '/a/b-1',
      '/a/b-1/c',
      '/a/b0',
      '/a/job-0000000001',
      String.raw`/a/quote"back\slash`,
      '/a/\u00FC\u00F1\u00EE',
    ])
    for (const [path, node] of walked) {
      expect(toDiskZnode(path, node), path).to.deep.equal(state.znodes.get(path))
      expect(childCount(node), path).to.equal(state.children(path).length)
    }

    // Once every Set is made, the same walk again.
    expect([...state.walk('/')].map(([path]) => path)).to.deep.equal(expected)
    expect([...state.walk('/a/b-1')].map(([path]) => path)).to.deep.equal(['/a/b-1', '/a/b-1/c'])
  })

  it("has the snapshot's stat bytes to read for unchanged znodes, not for changed or created ones", () => {
    const fromBytes = [...state.walk('/')]
      .filter(([, node]) => node instanceof StoredNode && node.storedStatOffset() >= 0)
      .map(([path]) => path)
    expect(fromBytes).to.include.members([
      '/a',
      '/a/job-0000000001',
      '/a/\u00FC\u00F1\u00EE',
      String.raw`/a/quote"back\slash`,
    ])
    expect(fromBytes).to.not.include.members(['/changed', '/created'])
  })

  it('formats times as toISOString does: before 1970, within and across seconds, far out, past the range', () => {
    const times = [
      0,
      -1,
      -5,
      -999,
      -1000,
      -1001,
      999,
      1000,
      1001,
      1_700_000_000_000,
      1_700_000_000_999,
      2 ** 42,
      -(2 ** 42),
    ]
    for (let step = 0; step < 2000; step++) times.push(1_700_000_000_000 + step * 37, -62_000_000_000_000 - step * 7)
    times.push(8.64e15, -8.64e15, 253_402_300_800_000)
    for (const ms of times) expect(isoTime(ms), String(ms)).to.equal(new Date(ms).toISOString())
    expect(() => isoTime(8.64e15 + 1)).to.throw(RangeError)
  })
})
