/**
 * `dcos zk history` and firstChangeAfter against a running standalone 3.8 node whose logs roll
 * often: a tree written and changed through the independent client (node-zookeeper-client: a
 * setData, a setACL, a multi, an ephemeral whose session closes, then a recursive delete), archived
 * by `zk archive --once` (a base in the middle of the writes, segments after) and by
 * `zk backup --data-dir --all-files`. Every zxid expected is one the other client saw: a create's
 * czxid, a setData's mzxid, a delete's or a closed session's the parent's pzxid after it, and for
 * the setACL (no stat field holds it) the one between two setData of /other by the same session.
 */
import {expect} from 'chai'
import zookeeper from 'node-zookeeper-client'
import {createHash} from 'node:crypto'
import {appendFile, cp, readdir, readFile, writeFile} from 'node:fs/promises'
import {join} from 'node:path'

import type {Ensemble} from '../../harness/ensemble.js'

import {firstChangeAfter} from '../../../src/engine/history/index.js'
import {resolveLocation} from '../../../src/providers/index.js'
import {dcos, expectExit} from '../../helpers/cli.js'
import {removeDir, tempDir} from '../../helpers/fixtures.js'
import {call, permsOf, withOracleClient} from '../../helpers/oracle.js'
import {startRollingNode} from '../../helpers/rolling-node.js'
import {eventually} from '../../helpers/wait.js'

interface Expected {
  op: string
  path: string
  session: string
  zxid: bigint
}

interface Event {
  acl?: string[]
  dataSize?: number
  multi?: {index: number; ops: number}
  op: string
  path: string
  session: string
  sessionTimeoutMs?: number
  time: string
  version?: number
  zxid: string
}

interface Session {
  created?: string
  ops: number
  session: string
  timeoutMs?: number
}

/** The library has them (removeRecursive deletes the listSubTreeBFS list in reverse); its type declarations do not. */
interface RecursiveClient {
  listSubTreeBFS(path: string, done: (error: unknown, paths: string[]) => void): void
  removeRecursive(path: string, done: (error: unknown, value: unknown) => void): void
}

const hex = (zxid: bigint) => `0x${zxid.toString(16)}`
const pause = (ms: number) =>
  new Promise((resolve) => {
    setTimeout(resolve, ms)
  })

describe('dcos zk history', function () {
  this.timeout(180_000)
  let node: Ensemble
  let dir: string
  let repo: string
  let archive: string
  const expected: Expected[] = []
  let owner: {id: string; timeoutMs: number}
  let setDataTime: Date
  let beforeDelete: {time: Date; zxid: bigint}
  let aclAfterSet: string[]

  before(async () => {
    node = await startRollingNode()
    dir = await tempDir('history')
    repo = join(dir, 'repo')
    archive = join(dir, 'datadir.tar.gz')
    const hosts = node.nodeConnectString(1)
    const [from] = node.nodes
    const dirs = ['--data-dir', from.dataDir, '--log-dir', from.dataLogDir, '--zk-config', from.configFile]
    const archiveOnce = async () => expectExit(await dcos(['zk', 'archive', repo, ...dirs, '--once']), 0)

    await withOracleClient(hosts, undefined, async (client) => {
      const session = hex(client.getSessionId().readBigUInt64BE(0))
      owner = {id: session, timeoutMs: client.getSessionTimeout()}
      const stat = (path: string) => call<zookeeper.Stat>((done) => client.exists(path, done))
      const zxidOf = (value: Buffer) => value.readBigUInt64BE(0)
      const create = async (path: string, data = '') => {
        await call((done) => client.create(path, Buffer.from(data), zookeeper.CreateMode.PERSISTENT, done))
        return zxidOf((await stat(path)).czxid)
      }

      const setData = async (path: string, data: string) =>
        call<zookeeper.Stat>((done) => client.setData(path, Buffer.from(data), -1, done))

      await create('/app')
      await create('/other')
      const seeded = [await create('/app/a', 'a'), await create('/app/a/b', 'bee')]
      expected.push(
        {op: 'create', path: '/app/a', session, zxid: seeded[0]},
        {op: 'create', path: '/app/a/b', session, zxid: seeded[1]},
      )
      await archiveOnce()

      const changed = await setData('/app/a/b', 'b2')
      setDataTime = new Date(Number(changed.mtime.readBigUInt64BE(0)))
      expected.push({op: 'setData', path: '/app/a/b', session, zxid: zxidOf(changed.mzxid)})

      const bracket = zxidOf((await setData('/other', 'before setACL')).mzxid)
      const acl = [
        new zookeeper.ACL(zookeeper.Permission.READ, new zookeeper.Id('world', 'anyone')),
        new zookeeper.ACL(zookeeper.Permission.ALL, new zookeeper.Id('ip', '127.0.0.1')),
      ]
      await call((done) => client.setACL('/app/a/b', acl, -1, done))
      expect(zxidOf((await setData('/other', 'after setACL')).mzxid), 'nothing else between').to.equal(bracket + 2n)
      expected.push({op: 'setACL', path: '/app/a/b', session, zxid: bracket + 1n})
      aclAfterSet = (await call<zookeeper.ACL[]>((done) => client.getACL('/app/a/b', done)))
        .map((entry) => `${entry.id.scheme}:${entry.id.id}:${permsText(permsOf(entry))}`)
        .sort()

      await call((done) =>
        client
          .transaction()
          .create('/app/x', Buffer.from('x'))
          .setData('/app/a', Buffer.from('a2'))
          .create('/app/a/m', Buffer.from('m'))
          .commit(done),
      )
      const multi = zxidOf((await stat('/app/a')).mzxid)
      expect(zxidOf((await stat('/app/x')).czxid)).to.equal(multi)
      expected.push(
        {op: 'setData', path: '/app/a', session, zxid: multi},
        {op: 'create', path: '/app/a/m', session, zxid: multi},
      )

      const ephemeral = await withOracleClient(hosts, undefined, async (other) => {
        const id = hex(other.getSessionId().readBigUInt64BE(0))
        await call((done) => other.create('/app/a/e', Buffer.alloc(0), zookeeper.CreateMode.EPHEMERAL, done))
        return {id, zxid: zxidOf((await stat('/app/a/e')).czxid)}
      })
      // The close is sent, not awaited: the ephemeral is gone once the server applied it.
      await eventually('the ephemeral deleted with its session', async () =>
        (await stat('/app/a/e')) ? undefined : true,
      )
      const closed = zxidOf((await stat('/app/a')).pzxid)
      expected.push(
        {op: 'create', path: '/app/a/e', session: ephemeral.id, zxid: ephemeral.zxid},
        {op: 'closeSession', path: '/app/a/e', session: ephemeral.id, zxid: closed},
      )

      for (let index = 0; index < 150; index++) await create(`/other/${index}`, `filler ${index}`)

      // Nothing under /app/a shares the millisecond of the last write before the delete.
      await pause(20)
      const last = await setData('/other', 'before deleteall')
      beforeDelete = {time: new Date(Number(last.mtime.readBigUInt64BE(0))), zxid: zxidOf(last.mzxid)}
      const recursive = client as unknown as RecursiveClient
      const order = (await call<string[]>((done) => recursive.listSubTreeBFS('/app/a', done))).reverse()
      await call((done) => recursive.removeRecursive('/app/a', done))
      const lastDelete = zxidOf((await stat('/app')).pzxid)
      expect(lastDelete - beforeDelete.zxid, 'one delete per znode, nothing between').to.equal(BigInt(order.length))
      for (const [index, path] of order.entries())
        expected.push({op: 'delete', path, session, zxid: beforeDelete.zxid + 1n + BigInt(index)})
      await setData('/other', 'after deleteall')
    })

    await archiveOnce()
    expectExit(await dcos(['zk', 'backup', archive, ...dirs, '--all-files', '--force']), 0)
  })

  after(async () => {
    await node?.stop()
    await removeDir(dir)
  })

  async function history(...args: string[]): Promise<{events: Event[]; sessions: Session[]}> {
    return JSON.parse(expectExit(await dcos(['zk', 'history', ...args, '--json']), 0).stdout)
  }

  const shape = (events: Event[]) => events.map(({op, path, session, zxid}) => ({op, path, session, zxid}))
  const wanted = (from = 0) => expected.slice(from).map((event) => ({...event, zxid: hex(event.zxid)}))

  function expectFullHistory({events, sessions}: {events: Event[]; sessions: Session[]}): void {
    expect(shape(events)).to.deep.equal(wanted())
    expect(events.some((event) => event.path.startsWith('/other') || event.path === '/app/x')).to.equal(false)
    const setData = events.find((event) => event.op === 'setData' && event.path === '/app/a/b')!
    expect([setData.dataSize, setData.version]).to.deep.equal([2, 1])
    expect([...events.find((event) => event.op === 'setACL')!.acl!].sort()).to.deep.equal(aclAfterSet)
    expect(events.filter((event) => event.multi).map((event) => event.multi)).to.deep.equal([
      {index: 2, ops: 3},
      {index: 3, ops: 3},
    ])
    const ours = sessions.find((session) => session.session === owner.id)!
    expect(ours.ops).to.equal(expected.filter((event) => event.session === owner.id).length)
    expect(ours.timeoutMs, 'the negotiated timeout, from its createSession').to.equal(owner.timeoutMs)
    expect(sessions.map((session) => session.session).sort()).to.deep.equal(
      [...new Set(expected.map((event) => event.session))].sort(),
    )
  }

  it('lists every change under the path from a repository, in order, with the zxids the other client saw', async () => {
    expect((await readdir(join(repo, 'segments'))).filter((name) => name.endsWith('.seg')).length).to.be.greaterThan(1)
    expectFullHistory(await history(repo, '/app/a'))
  })

  it('lists the same from the data directory and from the data-directory archive', async () => {
    const [{dataDir, dataLogDir}] = node.nodes
    expectFullHistory(await history('--data-dir', dataDir, '--log-dir', dataLogDir, '/app/a'))
    expectFullHistory(await history(archive, '/app/a'))
  })

  it('--since filters by the txn time; the plain output starts each line with the zxid', async () => {
    const since = await history(repo, '/app/a', '--since', setDataTime.toISOString())
    expect(shape(since.events)).to.deep.equal(wanted(2))
    const plain = expectExit(await dcos(['zk', 'history', repo, '/app/a', '--since', setDataTime.toISOString()]), 0)
    const lines = plain.stdout.split('\n').filter((line) => line.startsWith('0x'))
    expect(lines.map((line) => line.split(/\s+/)[0])).to.deep.equal(wanted(2).map((event) => event.zxid))
    expect(plain.stdout).to.include(`session ${owner.id}:`)
  })

  it('firstChangeAfter finds the recursive delete and the zxid before it', async () => {
    const found = await firstChangeAfter(resolveLocation(repo), '/app/a', beforeDelete.time)
    const firstDelete = expected.find((event) => event.op === 'delete')!
    expect(found?.change).to.include({op: 'delete', path: firstDelete.path, zxid: hex(firstDelete.zxid)})
    expect(found?.before).to.equal(beforeDelete.zxid)
  })

  it('refuses a segment whose bytes do not match its sidecar, naming the file (exit 1)', async () => {
    const damaged = join(dir, 'damaged')
    await cp(repo, damaged, {recursive: true})
    const segment = (await readdir(join(damaged, 'segments'))).find((name) => name.endsWith('.seg'))!
    // A zero byte more: still a log that reads, but not the bytes the sidecar hashed.
    await appendFile(join(damaged, 'segments', segment), Buffer.alloc(1))
    const result = expectExit(await dcos(['zk', 'history', damaged, '/app/a']), 1)
    const errors = result.stderr.trim().split('\n')
    expect(errors).to.have.length(1)
    expect(errors[0]).to.include(segment).and.to.include('SHA-256')
    // --json writes its document as it reads: cut short by the failure, it must not parse as a whole one.
    const json = expectExit(await dcos(['zk', 'history', damaged, '/app/a', '--json']), 1)
    expect(json.stderr.trim().split('\n')).to.deep.equal(errors)
    expect(() => JSON.parse(json.stdout)).to.throw()
  })

  it('refuses a segment of another size than its sidecar records, even with the SHA-256 of its bytes (exit 1)', async () => {
    const resized = join(dir, 'resized')
    await cp(repo, resized, {recursive: true})
    const segment = (await readdir(join(resized, 'segments'))).find((name) => name.endsWith('.seg'))!
    const path = join(resized, 'segments', segment)
    await appendFile(path, Buffer.alloc(1))
    const sidecar = path.replace(/\.seg$/, '.json')
    const record = JSON.parse(await readFile(sidecar, 'utf8')) as {sha256: string}
    record.sha256 = createHash('sha256')
      .update(await readFile(path))
      .digest('hex')
    await writeFile(sidecar, JSON.stringify(record))
    const result = expectExit(await dcos(['zk', 'history', resized, '/app/a']), 1)
    const errors = result.stderr.trim().split('\n')
    expect(errors).to.have.length(1)
    expect(errors[0])
      .to.include(segment)
      .and.to.match(/ bytes; recorded .* bytes\)/)
  })
})

/** ZooKeeper's permission bits (READ 1, WRITE 2, CREATE 4, DELETE 8, ADMIN 16) as letters. */
function permsText(perms: number): string {
  return ['r', 'w', 'c', 'd', 'a'].filter((_, bit) => perms & (1 << bit)).join('')
}
