/**
 * The backup service killed (SIGKILL) mid-backup and mid-restore, then restarted: the job ends
 * STATUS_ERROR with a reason, its lock goes with its session, nothing half-written is listed, and
 * the safety backup of an interrupted restore brings the tree back.
 */
import {expect} from 'chai'
import {readdir, readFile} from 'node:fs/promises'
import {join} from 'node:path'

import type {ZkSession} from '../../src/zk/session.js'

import {type BackupInfo, BUSY_MESSAGE, type RestoreInfo} from '../../src/service/api.js'
import {sharedEnsemble} from '../harness/hooks.js'
import {removeDir, tempDir} from '../helpers/fixtures.js'
import {expectSameTree, oracleDiff, readTreeIndependently} from '../helpers/oracle.js'
import {api, killProcess, listedBackup, serveProcess, stopServeProcesses} from '../helpers/service.js'
import {connect, seedTree, uniquePath, waitUntilGone} from '../helpers/tree.js'
import {eventually} from '../helpers/wait.js'

describe('faults: the backup service killed mid-job', () => {
  let hosts: string
  let session: ZkSession
  let storage: string

  before(async () => {
    hosts = (await sharedEnsemble()).connectString
    session = await connect(hosts)
  })

  beforeEach(async () => {
    storage = await tempDir('killed-service')
  })

  afterEach(async () => {
    await stopServeProcesses()
    await removeDir(storage)
  })

  after(() => session?.close())

  it('ends a backup whose service was killed mid-way STATUS_ERROR after a restart; the lock frees and the next backup works', async function () {
    this.timeout(90_000)
    const root = uniquePath('killed')
    await seedTree(session, root, [
      {path: '/'},
      ...Array.from({length: 4000}, (_, index) => ({data: `app ${index}`.repeat(20), path: `/app-${index}`})),
    ])
    const args = [
      '--storage',
      storage,
      '--zk',
      hosts,
      '--component',
      `marathon=${root}`,
      '--lock-path',
      `${root}-lock`,
      '--session-timeout',
      '3',
    ]

    const first = await serveProcess(args)
    const created = await api(first.url, 'POST', '/create', {label: 'doomed'})
    await killProcess(first.child)
    const {id} = created.body.backup_info as BackupInfo
    const stored = JSON.parse(await readFile(join(storage, `${id}.json`), 'utf8')) as BackupInfo
    expect(stored.status, 'the backup was still running when the service died').to.equal('STATUS_BACKING_UP')

    const second = await serveProcess(args)
    const listedWhileStale = (await api(second.url, 'GET', '/list')).body.backup_info as BackupInfo[]
    expect(listedWhileStale.map((backup) => backup.id)).to.deep.equal([id])
    const failed = await eventually(
      'the interrupted backup to end STATUS_ERROR',
      async () => {
        const backup = ((await api(second.url, 'GET', '/list')).body.backup_info as BackupInfo[])[0]
        return backup.status === 'STATUS_ERROR' ? backup : undefined
      },
      30_000,
    )
    expect(failed.reason).to.match(/^interrupted/)
    expect((await readdir(storage)).filter((name) => name.startsWith(id) && name.endsWith('.tar.gz'))).to.deep.equal([])

    // The clean-up that failed the job holds the lock for a moment after writing it.
    const next = await eventually('the lock to be free', async () => {
      const answer = await api(second.url, 'POST', '/create', {label: 'after'})
      if (answer.status !== 200) expect(answer.body).to.deep.equal({errors: [BUSY_MESSAGE]})
      return answer.status === 200 ? answer : undefined
    })
    expect(next.status).to.equal(200)
    const ready = await eventually(
      'the next backup to be ready',
      async () => {
        const backups = (await api(second.url, 'GET', `/list?prefix=after`)).body.backup_info as
          BackupInfo[] | undefined
        return backups?.[0]?.status === 'STATUS_READY' ? backups[0] : undefined
      },
      30_000,
    )
    expect(ready.component_status.marathon.status).to.equal('STATUS_READY')
    expect(second.lines.some((line) => line.includes('interrupted jobs marked failed'))).to.equal(true)
  })

  it('ends a restore whose service was killed mid-way STATUS_ERROR after a restart, and its safety backup brings the tree back', async function () {
    this.timeout(120_000)
    const root = uniquePath('killed-restore')
    await seedTree(session, root, [
      {path: '/'},
      ...Array.from({length: 4000}, (_, index) => ({data: `app ${index}`.repeat(20), path: `/app-${index}`})),
    ])
    const args = [
      '--storage',
      storage,
      '--zk',
      hosts,
      '--component',
      `marathon=${root}`,
      '--lock-path',
      `${root}-lock`,
      '--session-timeout',
      '3',
    ]

    const first = await serveProcess(args)
    const backup = (await api(first.url, 'POST', '/create', {label: 'good'})).body.backup_info as BackupInfo
    await listedBackup(first.url, backup.id, (entry) => entry.status === 'STATUS_READY', 60_000)
    await Promise.all(
      Array.from({length: 4000}, (_, index) =>
        session.setData(`${root}/app-${index}`, Buffer.from('changed since the backup')),
      ),
    )
    const before = await readTreeIndependently(hosts, root)

    const restore = (await api(first.url, 'POST', '/restore', {id: backup.id})).body.backup_info as RestoreInfo
    await waitUntilGone(session, `${root}/app-2000`, {intervalMs: 5, timeoutMs: 60_000})
    await killProcess(first.child)
    expect(
      oracleDiff(before, await readTreeIndependently(hosts, root)),
      'the kill left the tree half restored',
    ).to.not.deep.equal([])

    const second = await serveProcess(args)
    const withFailed = await listedBackup(
      second.url,
      backup.id,
      (entry) => entry.restores.some((entry_) => entry_.id === restore.id && entry_.status === 'STATUS_ERROR'),
      60_000,
    )
    const failed = withFailed.restores.find((entry) => entry.id === restore.id)!
    expect(failed.reason).to.match(/^interrupted/)
    expect(failed.safety_backup_id, 'the interrupted restore names its safety backup').to.be.a('string')

    // The dead instance's lock goes with its session (3 s); then the safety backup is restored.
    const again = await eventually(
      'the lock to be free',
      async () => {
        const answer = await api(second.url, 'POST', '/restore', {id: failed.safety_backup_id})
        if (answer.status !== 200) expect(answer.body).to.deep.equal({errors: [BUSY_MESSAGE]})
        return answer.status === 200 ? (answer.body.backup_info as RestoreInfo) : undefined
      },
      30_000,
    )
    const safety = await listedBackup(
      second.url,
      failed.safety_backup_id!,
      (entry) => entry.restores.some((entry_) => entry_.id === again.id && entry_.status !== 'STATUS_RESTORING'),
      60_000,
    )
    expect(safety.restores.find((entry) => entry.id === again.id)).to.include({status: 'STATUS_READY'})
    await expectSameTree(before, hosts, root)
  })
})
