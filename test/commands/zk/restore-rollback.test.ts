import {expect} from 'chai'
import {existsSync} from 'node:fs'
import {join} from 'node:path'

import type {ZkSession} from '../../../src/zk/session.js'

import {sharedEnsemble} from '../../harness/hooks.js'
import {dcos, expectExit, zkUri} from '../../helpers/cli.js'
import {removeDir, tempDir} from '../../helpers/fixtures.js'
import {createSequentialIndependently, oracleDiff, readTreeIndependently} from '../../helpers/oracle.js'
import {
  connect,
  digestId,
  READ_ONLY,
  seedTree,
  type SeedZnode,
  uniquePath,
  ZOO_PERM_ALL,
  ZOO_PERM_READ,
} from '../../helpers/tree.js'

const USER = {password: 'rollback-pw', user: 'restorer'}
const AUTH = `${USER.user}:${USER.password}`
const OURS = [{id: digestId(USER.user, USER.password), perms: ZOO_PERM_ALL, scheme: 'digest'}]

/** Enough znodes that every failpoint lands half way, with ACLs a rollback must put back too. */
function archivedTree(): SeedZnode[] {
  const apps = Array.from({length: 40}, (_, index) => ({
    data: `app ${index}`,
    path: `/apps/app-${String(index).padStart(2, '0')}`,
  }))
  return [
    {data: 'root', path: '/'},
    {path: '/apps'},
    ...apps,
    {acl: OURS, data: 'ours only', path: '/private'},
    {acl: [...OURS, ...READ_ONLY], data: 'state', path: '/state'},
    {path: '/queue'},
    {data: 'first', path: '/queue/job-', sequential: true},
    {data: 'second', path: '/queue/job-', sequential: true},
  ]
}

/** /queue's next sequential number once archivedTree is seeded and a child created and deleted twice: a restore raises it with 2 pairs. */
const QUEUE_NEXT = 4

/** Where each failpoint stops the restore: half way through deleting, half way through creating, before the ACLs, at the final check. */
const FAILPOINTS = ['restore.delete=10', 'restore.create=20', 'restore.counters', 'restore.acl', 'restore.check']

describe('dcos zk restore: a restore that fails half way rolls back by itself', function () {
  this.timeout(120_000)
  let hosts: string
  let session: ZkSession
  let dir: string

  before(async () => {
    hosts = (await sharedEnsemble()).connectString
    session = await connect(hosts, USER)
    dir = await tempDir('rollback')
  })

  after(async () => {
    await session?.close()
    await removeDir(dir)
  })

  /** An archive of the tree, then the live tree changed: data, znodes gone and new ones, an ACL. Returns the live tree as the other client sees it. */
  async function archiveThenDiverge(
    label: string,
  ): Promise<{archive: string; before: Awaited<ReturnType<typeof readTreeIndependently>>; root: string}> {
    const root = uniquePath(label)
    await seedTree(session, root, archivedTree())
    for (let round = 0; round < QUEUE_NEXT - 2; round++) {
      await session.create(`${root}/queue/gone`, Buffer.alloc(0), 0)
      await session.delete(`${root}/queue/gone`)
    }

    const archive = join(dir, `${label}.tar.gz`)
    expectExit(await dcos(['zk', 'backup', archive, '--zk', zkUri(hosts, root)], {env: {DCOS_ZK_AUTH: AUTH}}), 0)
    await session.setData(`${root}/apps/app-03`, Buffer.from('changed since'))
    await session.delete(`${root}/apps/app-07`)
    await session.create(`${root}/apps/new-one`, Buffer.from('new'), 0)
    await session.create(`${root}/extra`, Buffer.from('extra'), 0)
    await session.setAcl(`${root}/state`, [
      ...OURS,
      {id: 'anyone', perms: ZOO_PERM_READ, scheme: 'world'},
      {id: '127.0.0.1', perms: ZOO_PERM_READ, scheme: 'ip'},
    ])
    return {archive, before: await readTreeIndependently(hosts, root, {auth: AUTH}), root}
  }

  for (const batch of ['on', 'off']) {
    for (const point of FAILPOINTS) {
      it(`fails at ${point} with --batch ${batch}: exit 1 naming cause and rollback, and the tree is exactly as before (read by another client)`, async () => {
        const {archive, before, root} = await archiveThenDiverge(`rb-${batch}-${point.split(/[.=]/)[1]}`)
        const safety = join(dir, `${root.slice(1)}-safety.tar.gz`)
        const env = {DCOS_BACKUP_FAILPOINTS: point, DCOS_ZK_AUTH: AUTH}
        const result = await dcos(
          ['zk', 'restore', archive, '--zk', zkUri(hosts, root), '--yes', '--batch', batch, '--safety-backup', safety],
          {env},
        )
        expectExit(result, 1)
        const lines = result.stderr.trim().split('\n')
        expect(lines, result.stderr).to.have.length(1)
        expect(lines[0]).to.match(
          new RegExp(
            `^Error: Restore failed: failpoint ${point.split('=')[0]} reached .*\\. Rolled back: ${root} is as it was before the restore \\(from the safety backup ${safety}, verified\\)$`,
          ),
        )
        expect(oracleDiff(before, await readTreeIndependently(hosts, root, {auth: AUTH}))).to.deep.equal([])
        // The counters are back too: the rollback is a restore of the safety backup.
        expect(await createSequentialIndependently(hosts, `${root}/queue`, AUTH)).to.equal(
          `${root}/queue/next-${String(QUEUE_NEXT).padStart(10, '0')}`,
        )
        // The lock went with the restore.
        expect(await session.exists('/dcos-backup/lock')).to.equal(undefined)
      })
    }
  }

  it('into a path that did not exist: the rollback deletes what it created, and the parents it made', async () => {
    const {archive} = await archiveThenDiverge('rb-fresh-src')
    const parent = uniquePath('rb-fresh')
    const target = `${parent}/deeper/copy`
    const result = await dcos(['zk', 'restore', archive, '--zk', zkUri(hosts, target), '--yes'], {
      env: {DCOS_BACKUP_FAILPOINTS: 'restore.create=30', DCOS_ZK_AUTH: AUTH},
    })
    expectExit(result, 1)
    expect(result.stderr).to.match(/Rolled back: .* is as it was before the restore \(what it created was deleted\)/)
    expect(await readTreeIndependently(hosts, parent)).to.deep.equal({})
  })

  it('--no-rollback leaves the tree half restored and names the safety backup, which brings it back', async () => {
    const {archive, before, root} = await archiveThenDiverge('rb-none')
    const safety = join(dir, 'rb-none-safety.tar.gz')
    const env = {DCOS_BACKUP_FAILPOINTS: 'restore.create=20', DCOS_ZK_AUTH: AUTH}
    const result = await dcos(
      ['zk', 'restore', archive, '--zk', zkUri(hosts, root), '--yes', '--no-rollback', '--safety-backup', safety],
      {env},
    )
    expectExit(result, 1)
    expect(result.stderr).to.include('Not rolled back (--no-rollback)')
    expect(result.stderr).to.include(`The tree as it was is saved at ${safety}`)
    expect(oracleDiff(before, await readTreeIndependently(hosts, root, {auth: AUTH}))).to.not.deep.equal([])
    expect(existsSync(safety)).to.equal(true)
    expectExit(
      await dcos(['zk', 'restore', safety, '--zk', zkUri(hosts, root), '--yes', '--no-safety-backup'], {
        env: {DCOS_ZK_AUTH: AUTH},
      }),
      0,
    )
    expect(oracleDiff(before, await readTreeIndependently(hosts, root, {auth: AUTH}))).to.deep.equal([])
  })

  it('without a safety backup (--no-safety-backup) it cannot roll back, and says so', async () => {
    const {archive, root} = await archiveThenDiverge('rb-nosafety')
    const env = {DCOS_BACKUP_FAILPOINTS: 'restore.create=20', DCOS_ZK_AUTH: AUTH}
    const result = await dcos(['zk', 'restore', archive, '--zk', zkUri(hosts, root), '--yes', '--no-safety-backup'], {
      env,
    })
    expectExit(result, 1)
    expect(result.stderr).to.include('Cannot roll back without a safety backup')
  })
})
