import {expect} from 'chai'
import {copyFile, readdir, readFile, rm, stat, writeFile} from 'node:fs/promises'
import {request} from 'node:http'
import {join} from 'node:path'

import type {ZkSession} from '../../src/zk/session.js'

import {inspectArchive} from '../../src/engine/inspect.js'
import {resolveLocation} from '../../src/providers/index.js'
import {type BackupInfo, BUSY_MESSAGE, type RestoreInfo} from '../../src/service/api.js'
import {createHttpServer, listen} from '../../src/service/http.js'
import {sharedEnsemble} from '../harness/hooks.js'
import {type S3Server, startS3} from '../harness/s3.js'
import {gunzipSync, tarGz, tarMembers} from '../helpers/archive.js'
import {dcos, expectExit, zkUri} from '../helpers/cli.js'
import {removeDir, tempDir} from '../helpers/fixtures.js'
import {call, oracleDiff, readTreeIndependently, withOracleClient} from '../helpers/oracle.js'
import {secret} from '../helpers/secrets.js'
import {api, listedBackup, type RunningService, type StartOptions, startService} from '../helpers/service.js'
import {connect, seedTree, snapshotTree, uniquePath} from '../helpers/tree.js'
import {eventually} from '../helpers/wait.js'

const MARATHON_TREE = [
  {data: 'root', path: '/'},
  {data: 'apps', path: '/state'},
  ...Array.from({length: 30}, (_, index) => ({data: `app ${index}`, path: `/state/app-${index}`})),
  {path: '/leader'},
  {data: 'leader lease', path: '/leader/lease'},
]

describe('backup service', () => {
  let hosts: string[]
  let session: ZkSession
  let storage: string
  let root: string
  let lockPath: string
  const running: RunningService[] = []

  async function start(options: Partial<StartOptions> = {}): Promise<RunningService> {
    const service = await startService({
      components: [{name: 'marathon', path: root}],
      exclude: [`${root}/leader`],
      hosts,
      lockPath,
      storage,
      ...options,
    })
    running.push(service)
    return service
  }

  const settled = (backup: BackupInfo) => backup.status === 'STATUS_READY' || backup.status === 'STATUS_ERROR'
  const restoreSettled = (restoreId: string) => (backup: BackupInfo) =>
    backup.restores.some((restore) => restore.id === restoreId && restore.status !== 'STATUS_RESTORING')

  before(async () => {
    const ensemble = await sharedEnsemble()
    hosts = [ensemble.connectString]
    session = await connect(ensemble.connectString)
  })

  beforeEach(async () => {
    root = uniquePath('svc')
    lockPath = `${uniquePath('lock')}/lock`
    storage = await tempDir('svc-storage')
    await seedTree(session, root, MARATHON_TREE)
  })

  afterEach(async () => {
    await Promise.all(running.splice(0).map((service) => service.stop()))
    await removeDir(storage)
  })

  after(() => session?.close())

  it("runs the life cycle over HTTP in DC/OS's wire format: create, list, restore, delete", async () => {
    const {url} = await start()
    expect((await api(url, 'GET', '/list')).text).to.equal('{}')

    const created = await api(url, 'POST', '/create', {label: 'nightly'})
    expect(created.status).to.equal(200)
    const first = created.body.backup_info as BackupInfo
    expect(first.id).to.match(/^nightly-[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/)
    expect(first).to.include({dcos_version: 'test', status: 'STATUS_BACKING_UP'})
    expect(first.component_status).to.deep.equal({marathon: {status: 'STATUS_UNKNOWN'}})
    expect(first.timestamp).to.match(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$/)
    expect(first.restores).to.deep.equal([])

    const ready = await listedBackup(url, first.id, settled)
    expect(ready).to.include({status: 'STATUS_READY'})
    expect(ready.component_status).to.deep.equal({marathon: {status: 'STATUS_READY'}})
    const before = await snapshotTree(session, root)

    // Change the tree, including the leader znodes, which restores must leave alone.
    await session.setData(`${root}/state/app-1`, Buffer.from('changed'))
    await session.delete(`${root}/state/app-2`)
    await session.create(`${root}/state/new-app`, Buffer.from('new'), 0)
    await session.setData(`${root}/leader/lease`, Buffer.from('new leader'))
    const changedLeader = await snapshotTree(session, `${root}/leader`)

    // Through the path DC/OS's proxy forwards, too.
    const restored = await api(url, 'POST', '/restore', {id: first.id}, {prefix: '/v1'})
    expect(restored.status).to.equal(200)
    const restore = restored.body.backup_info as RestoreInfo
    expect(restore.id).to.not.equal(first.id)
    expect(restore).to.include({backup_id: first.id, status: 'STATUS_RESTORING'})

    const after = await listedBackup(url, first.id, restoreSettled(restore.id))
    const finished = after.restores.find((entry) => entry.id === restore.id)!
    expect(finished).to.include({status: 'STATUS_READY'})
    expect(finished.component_status).to.deep.equal({marathon: {status: 'STATUS_READY'}})
    const live = await snapshotTree(session, root)
    const withoutLeader = (tree: Record<string, unknown>) =>
      Object.fromEntries(Object.entries(tree).filter(([path]) => !path.startsWith('/leader')))
    expect(withoutLeader(live)).to.deep.equal(withoutLeader(before))
    expect(await snapshotTree(session, `${root}/leader`)).to.deep.equal(changedLeader)

    // The safety backup is a backup of its own, holding the tree as it was before the restore.
    const safety = (await api(url, 'GET', `/list?prefix=${finished.safety_backup_id}`)).body
      .backup_info[0] as BackupInfo
    expect(safety).to.include({safety_for_restore: restore.id, status: 'STATUS_READY'})

    const deleted = await api(url, 'DELETE', '/delete', {id: first.id})
    expect(deleted).to.include({status: 200, text: ''})
    const left = (await api(url, 'GET', '/list')).body.backup_info as BackupInfo[]
    expect(left.map((backup) => backup.id)).to.deep.equal([safety.id])
    expect((await readdir(storage)).filter((name) => name.startsWith(first.id))).to.deep.equal([])
  })

  it('keeps each component as an archive in the foundation format, without the excluded znodes', async () => {
    const {url} = await start()
    const {id} = (await api(url, 'POST', '/create', {label: 'fmt'})).body.backup_info as BackupInfo
    await listedBackup(url, id, settled)
    expect((await readdir(storage)).sort()).to.deep.equal([`${id}.json`, `${id}.marathon.tar.gz`])
    const paths: string[] = []
    const inspected = await inspectArchive(resolveLocation(join(storage, `${id}.marathon.tar.gz`)), (record) =>
      paths.push(record.path),
    )
    expect(inspected.verified).to.equal(true)
    expect(paths).to.include(`${root}/state/app-29`)
    expect(paths.filter((path) => path.startsWith(`${root}/leader`))).to.deep.equal([])
  })

  it('answers errors as {"errors": [...]}: 400 for bad input, 404 for unknown routes', async () => {
    const {url} = await start()
    for (const label of ['ab', '-abc', '.abc', 'a'.repeat(26), 'bad label']) {
      const answer = await api(url, 'POST', '/create', {label})
      expect(answer.status, label).to.equal(400)
      expect(answer.body.errors[0], label).to.match(/Invalid label/)
    }

    expect((await api(url, 'POST', '/create', {})).status).to.equal(400)
    const unknown = await api(url, 'POST', '/restore', {id: 'nope-00000000-0000-4000-8000-000000000000'})
    expect(unknown.status).to.equal(400)
    expect(unknown.body.errors[0]).to.match(/No backup with id nope-/)
    expect((await api(url, 'DELETE', '/delete', {id: 'nope-00000000-0000-4000-8000-000000000000'})).status).to.equal(
      400,
    )
    const notFound = await api(url, 'GET', '/nothing')
    expect(notFound.status).to.equal(404)
    expect(notFound.body.errors).to.have.length(1)
    expect(await readdir(storage)).to.deep.equal([])
  })

  it('refuses to delete by a restore id (400) and to restore a backup that is not ready', async () => {
    const {url} = await start()
    const {id} = (await api(url, 'POST', '/create', {label: 'ids'})).body.backup_info as BackupInfo
    await listedBackup(url, id, settled)
    const restore = (await api(url, 'POST', '/restore', {id})).body.backup_info as RestoreInfo
    await listedBackup(url, id, restoreSettled(restore.id))
    const answer = await api(url, 'DELETE', '/delete', {id: restore.id})
    expect(answer.status).to.equal(400)
    expect(answer.body.errors[0]).to.equal(`${restore.id} is a restore of backup ${id}, not a backup`)

    const failed = JSON.parse(await readFile(join(storage, `${id}.json`), 'utf8')) as BackupInfo
    await writeFile(join(storage, `${id}.json`), JSON.stringify({...failed, status: 'STATUS_ERROR'}))
    const refused = await api(url, 'POST', '/restore', {id})
    expect(refused.status).to.equal(400)
    expect(refused.body.errors[0]).to.match(/is STATUS_ERROR: only a ready backup can be restored/)
  })

  it('takes the next job at once after one recorded its end, though that one still holds the lock (not busy)', async () => {
    let release!: () => void
    const gate = new Promise<void>((resolve) => {
      release = resolve
    })
    let paused!: () => void
    const atRelease = new Promise<void>((resolve) => {
      paused = resolve
    })
    const {url} = await start({
      beforeLockRelease() {
        paused()
        return gate
      },
    })
    const {id} = (await api(url, 'POST', '/create', {label: 'first'})).body.backup_info as BackupInfo
    await atRelease
    // The end is recorded and the lock still held: what a client that watched it end sees next.
    expect((await listedBackup(url, id, settled)).status).to.equal('STATUS_READY')
    const holder = await withOracleClient(hosts[0], undefined, (client) =>
      call<Buffer>((done) => client.getData(lockPath, done)),
    )
    expect(JSON.parse(holder.toString()).job, 'the first job still holds the lock').to.equal(id)
    const next = api(url, 'POST', '/create', {label: 'next'})
    setTimeout(release, 2500) // past the 2 s a lock held by another instance is tried again
    const answer = await next
    expect(answer.status, JSON.stringify(answer.body)).to.equal(200)
  })

  it('holds one lock across instances sharing storage and ZooKeeper: a second create or restore is busy', async () => {
    let release!: () => void
    const gate = new Promise<void>((resolve) => {
      release = resolve
    })
    const first = await start({beforeJobWork: () => gate})
    const second = await start()

    const {id} = (await api(first.url, 'POST', '/create', {label: 'held'})).body.backup_info as BackupInfo
    const busy = await api(second.url, 'POST', '/create', {label: 'other'})
    expect(busy.status).to.equal(500)
    expect(busy.body).to.deep.equal({errors: [BUSY_MESSAGE]})
    const busyOnFirst = await api(first.url, 'POST', '/create', {label: 'other'})
    expect(busyOnFirst.body).to.deep.equal({errors: [BUSY_MESSAGE]})

    // The second instance sees the first one's backup: the storage is the record.
    const listed = (await api(second.url, 'GET', '/list')).body.backup_info as BackupInfo[]
    expect(listed.map((backup) => [backup.id, backup.status])).to.deep.equal([[id, 'STATUS_BACKING_UP']])

    release()
    await listedBackup(second.url, id, settled)
    const restore = await api(second.url, 'POST', '/restore', {id})
    expect(restore.status).to.equal(200)
    await listedBackup(first.url, id, restoreSettled(restore.body.backup_info.id))
    const next = await api(second.url, 'POST', '/create', {label: 'after'})
    expect(next.status).to.equal(200)
    expect((await listedBackup(first.url, next.body.backup_info.id, settled)).status).to.equal('STATUS_READY')
  })

  it('fails jobs left running by a dead instance once it holds the lock, and never lists their archives', async () => {
    const {url} = await start()
    const {id} = (await api(url, 'POST', '/create', {label: 'base'})).body.backup_info as BackupInfo
    const ready = await listedBackup(url, id, settled)
    // What a crash leaves: a backup still "backing up" and a restore still "restoring", no lock.
    const crashedBackup: BackupInfo = {
      ...ready,
      component_status: {marathon: {status: 'STATUS_BACKING_UP'}},
      id: 'crashed-00000000-0000-4000-8000-000000000000',
      status: 'STATUS_BACKING_UP',
    }
    const crashedRestore: RestoreInfo = {
      component_status: {marathon: {status: 'STATUS_RESTORING'}},
      id: 'restore-00000000-0000-4000-8000-000000000000',
      status: 'STATUS_RESTORING',
      timestamp: ready.timestamp,
    }
    await writeFile(join(storage, `${crashedBackup.id}.json`), JSON.stringify(crashedBackup))
    await writeFile(join(storage, `${id}.json`), JSON.stringify({...ready, restores: [crashedRestore]}))

    const other = await start({cleanupIntervalMs: 200})
    const failed = await listedBackup(other.url, crashedBackup.id, (backup) => backup.status === 'STATUS_ERROR')
    expect(failed.reason).to.match(/^interrupted/)
    expect(failed.component_status.marathon).to.include({status: 'STATUS_ERROR'})
    const withRestore = await listedBackup(other.url, id, (backup) => backup.restores[0].status === 'STATUS_ERROR')
    expect(withRestore.restores[0].reason).to.match(/^interrupted/)
    expect(withRestore.status).to.equal('STATUS_READY')
  })

  it('checks every archive before changing anything: a corrupt archive fails the restore with the tree untouched', async () => {
    const {url} = await start()
    const {id} = (await api(url, 'POST', '/create', {label: 'corrupt'})).body.backup_info as BackupInfo
    await listedBackup(url, id, settled)
    const archive = join(storage, `${id}.marathon.tar.gz`)
    const bytes = await readFile(archive)
    bytes[Math.floor(bytes.length / 2)] ^= 0xff
    await writeFile(archive, bytes)
    await session.setData(`${root}/state/app-3`, Buffer.from('live change'))
    const before = await snapshotTree(session, root)

    const restore = (await api(url, 'POST', '/restore', {id})).body.backup_info as RestoreInfo
    const after = await listedBackup(url, id, restoreSettled(restore.id))
    const failed = after.restores.find((entry) => entry.id === restore.id)!
    expect(failed.status).to.equal('STATUS_ERROR')
    expect(failed.reason).to.be.a('string').and.not.equal('')
    expect(failed.safety_backup_id).to.equal(undefined)
    expect(await snapshotTree(session, root)).to.deep.equal(before)
  })

  describe('restores only into the configured component paths', () => {
    let other: string

    /** A ready backup of the component, and an archive of another subtree made by `dcos zk backup`. */
    async function plant(url: string): Promise<{foreign: string; id: string}> {
      other = uniquePath('svc-other')
      await seedTree(session, other, [
        {data: 'other root', path: '/'},
        {data: 'other child', path: '/child'},
      ])
      const {id} = (await api(url, 'POST', '/create', {label: 'planted'})).body.backup_info as BackupInfo
      await listedBackup(url, id, settled)
      const foreign = join(storage, 'foreign.tar.gz.part')
      expectExit(await dcos(['zk', 'backup', foreign, '--zk', zkUri(hosts[0], other)]), 0)
      return {foreign, id}
    }

    const trees = async () => ({
      component: await readTreeIndependently(hosts[0], root),
      other: await readTreeIndependently(hosts[0], other),
    })

    it("refuses an archive of another subtree planted under a backup's key: 400 naming both paths, both subtrees unchanged", async () => {
      const {url} = await start()
      const {foreign, id} = await plant(url)
      await copyFile(foreign, join(storage, `${id}.marathon.tar.gz`))
      await session.setData(`${other}/child`, Buffer.from('changed after the backup'))
      const before = await trees()

      const answer = await api(url, 'POST', '/restore', {id})
      expect(answer.status).to.equal(400)
      expect(answer.body.errors).to.deep.equal([
        `Backup ${id}'s archive of marathon holds ${other}, not ${root} (the path of component marathon): refusing to restore it; nothing was changed`,
      ])
      const after = await trees()
      expect(oracleDiff(before.component, after.component)).to.deep.equal([])
      expect(oracleDiff(before.other, after.other)).to.deep.equal([])
      expect((await listedBackup(url, id, settled)).restores).to.deep.equal([])
    })

    it('refuses an archive replaced after the request was accepted: STATUS_ERROR naming both paths, no safety backup, both subtrees unchanged', async () => {
      let planted: undefined | {foreign: string; id: string}
      const {url} = await start({
        async beforeJobWork({kind}) {
          if (kind === 'restore' && planted)
            await copyFile(planted.foreign, join(storage, `${planted.id}.marathon.tar.gz`))
        },
      })
      const {foreign, id} = await plant(url)
      await session.setData(`${other}/child`, Buffer.from('changed after the backup'))
      const before = await trees()
      planted = {foreign, id}

      const restore = (await api(url, 'POST', '/restore', {id})).body.backup_info as RestoreInfo
      const failed = (await listedBackup(url, id, restoreSettled(restore.id))).restores.find(
        (entry) => entry.id === restore.id,
      )!
      expect(failed.status).to.equal('STATUS_ERROR')
      expect(failed.reason).to.include(`holds ${other}, not ${root} (the path of component marathon)`)
      expect(failed.safety_backup_id).to.equal(undefined)
      const after = await trees()
      expect(oracleDiff(before.component, after.component)).to.deep.equal([])
      expect(oracleDiff(before.other, after.other)).to.deep.equal([])
    })

    it("escapes control characters of a planted archive's root in the refusal", async () => {
      const {url} = await start()
      const {foreign, id} = await plant(url)
      const members = await tarMembers(gunzipSync(await readFile(foreign)))
      const header = JSON.parse(members[0].body.toString('utf8'))
      header.source.root = '/evil\u001B[2J'
      members[0].body = Buffer.from(JSON.stringify(header))
      await writeFile(join(storage, `${id}.marathon.tar.gz`), tarGz(members))
      const answer = await api(url, 'POST', '/restore', {id})
      // ZooKeeper refuses control characters in paths, and so does the archive's verification (under the lock: STATUS_ERROR).
      const reason =
        answer.status === 400
          ? answer.body.errors[0]
          : (await listedBackup(url, id, restoreSettled(answer.body.backup_info.id))).restores[0].reason
      expect(reason).to.include(String.raw`/evil\u001b[2J`)
      expect(reason).to.not.include('\u001B')
    })

    it('refuses a backup of a component this service does not have (400)', async () => {
      const {url} = await start()
      const {id} = (await api(url, 'POST', '/create', {label: 'renamed'})).body.backup_info as BackupInfo
      await listedBackup(url, id, settled)
      await running.pop()!.stop()
      const renamed = await start({components: [{name: 'other', path: root}]})
      const answer = await api(renamed.url, 'POST', '/restore', {id})
      expect(answer.status).to.equal(400)
      expect(answer.body.errors[0]).to.equal(
        `Backup ${id} holds component "marathon", which this service does not restore (its components: other=${root})`,
      )
    })
  })

  describe('storage that is missing or broken', () => {
    it('answers 500 "the backup storage is not available" to every route once the directory is gone, naming no server path (the log has it)', async () => {
      const {logs, url} = await start()
      const {id} = (await api(url, 'POST', '/create', {label: 'gone'})).body.backup_info as BackupInfo
      await listedBackup(url, id, settled)
      await rm(storage, {recursive: true})
      for (const [method, route, body] of [
        ['GET', '/list'],
        ['GET', `/list?prefix=${id}`],
        ['POST', '/create', {label: 'after'}],
        ['POST', '/restore', {id}],
        ['DELETE', '/delete', {id}],
      ] as const) {
        const answer = await api(url, method, route, body)
        expect(answer.status, `${method} ${route}`).to.equal(500)
        expect(answer.body, `${method} ${route}`).to.deep.equal({errors: ['the backup storage is not available']})
      }

      expect(logs.some((line) => line.includes('request failed') && line.includes(storage))).to.equal(true)
    })

    it('creates a missing storage directory (mode 0700) whose parent exists, and serves from it', async () => {
      const fresh = join(storage, 'not-yet')
      const {url} = await start({storage: fresh})
      expect((await stat(fresh)).isDirectory()).to.equal(true)
      expect((await stat(fresh)).mode & 0o777).to.equal(0o700)
      expect((await api(url, 'GET', '/list')).text).to.equal('{}')
      const {id} = (await api(url, 'POST', '/create', {label: 'fresh'})).body.backup_info as BackupInfo
      expect((await listedBackup(url, id, settled)).status).to.equal('STATUS_READY')
      expect(await readdir(fresh)).to.include(`${id}.json`)
    })

    it('names no server path in errors about what the storage holds (bad metadata, a corrupt archive)', async () => {
      const {url} = await start()
      const {id} = (await api(url, 'POST', '/create', {label: 'leaky'})).body.backup_info as BackupInfo
      await listedBackup(url, id, settled)
      const archive = join(storage, `${id}.marathon.tar.gz`)
      const bytes = await readFile(archive)
      bytes[Math.floor(bytes.length / 2)] ^= 0xff
      await writeFile(archive, bytes)
      const restore = (await api(url, 'POST', '/restore', {id})).body.backup_info as RestoreInfo
      const failed = (await listedBackup(url, id, restoreSettled(restore.id))).restores.find(
        (entry) => entry.id === restore.id,
      )!
      expect(failed.reason).to.include(`${id}.marathon.tar.gz failed verification`)
      expect(failed.reason).to.not.include(storage)

      await writeFile(join(storage, `${id}.json`), '{not json')
      const answer = await api(url, 'POST', '/restore', {id})
      expect(answer.status).to.equal(500)
      expect(answer.body.errors).to.deep.equal([`${id}.json in the backup storage is not JSON`])
      expect(answer.text).to.not.include(storage)
    })
  })

  it('lists backups while ZooKeeper is unreachable, and refuses to create with a clear 500', async () => {
    const {url} = await start()
    const {id} = (await api(url, 'POST', '/create', {label: 'offline'})).body.backup_info as BackupInfo
    await listedBackup(url, id, settled)

    const cut = await start({hosts: ['127.0.0.1:1'], zk: {connectTimeoutMs: 500, hosts: ['127.0.0.1:1']}})
    const listed = (await api(cut.url, 'GET', '/list')).body.backup_info as BackupInfo[]
    expect(listed.map((backup) => backup.id)).to.deep.equal([id])
    const refused = await api(cut.url, 'POST', '/create', {label: 'nozk'})
    expect(refused.status).to.equal(500)
    expect(refused.body.errors[0]).to.match(/Cannot connect to ZooKeeper at 127\.0\.0\.1:1/)
  })

  it('takes scheduled backups and keeps the newest --keep, never pruning hand-made ones', async () => {
    const {url} = await start()
    const {id: handMade} = (await api(url, 'POST', '/create', {label: 'manual'})).body.backup_info as BackupInfo
    await listedBackup(url, handMade, settled)
    await running.pop()!.stop()

    const scheduler = await start({schedule: {intervalMs: 300, keep: 2}})
    await eventually('four scheduled backups', async () =>
      scheduler.logs.filter((line) => line.includes('scheduled backup finished')).length >= 4 ? true : undefined,
    )
    await scheduler.stop()
    running.pop()
    const names = await readdir(storage)
    const backups = await Promise.all(
      names
        .filter((name) => name.endsWith('.json'))
        .map(async (name) => JSON.parse(await readFile(join(storage, name), 'utf8')) as BackupInfo),
    )
    const scheduled = backups.filter((backup) => backup.scheduled)
    expect(scheduled.filter((backup) => backup.status === 'STATUS_READY')).to.have.length(2)
    expect(scheduled.every((backup) => backup.id.startsWith('scheduled-'))).to.equal(true)
    expect(backups.map((backup) => backup.id)).to.include(handMade)
    expect(scheduler.logs.filter((line) => line.includes('scheduled backup pruned')).length).to.be.at.least(2)
    // The archives of pruned backups went with them.
    const archives = names.filter((name) => name.endsWith('.tar.gz')).map((name) => name.split('.')[0])
    expect(new Set(archives)).to.deep.equal(new Set(backups.map((backup) => backup.id)))
  })

  describe('with a token', () => {
    const token = secret('pa55-w0rd-token-value')

    it('demands Authorization: token=<t> or Bearer <t> on every route (401 otherwise) and never logs it', async () => {
      const {logs, url} = await start({token})
      for (const headers of [
        {},
        {authorization: 'token=wrong'},
        {authorization: `Basic ${token}`},
        {authorization: `Bearer ${token}x`},
      ]) {
        for (const [method, route, body] of [
          ['GET', '/list'],
          ['POST', '/create', {label: 'abc'}],
          ['POST', '/restore', {id: 'x'}],
          ['DELETE', '/delete', {id: 'x'}],
        ] as const) {
          const answer = await api(url, method, route, body, {headers})
          expect(answer.status, `${method} ${route} ${JSON.stringify(headers)}`).to.equal(401)
          expect(answer.body.errors[0]).to.match(/authentication required/)
        }
      }

      expect((await api(url, 'GET', '/list', undefined, {headers: {authorization: `token=${token}`}})).status).to.equal(
        200,
      )
      expect(
        (await api(url, 'GET', '/list', undefined, {headers: {authorization: `Bearer ${token}`}, prefix: '/v1'}))
          .status,
      ).to.equal(200)
      expect(await readdir(storage)).to.deep.equal([])
      expect(logs.join('\n')).to.not.include(token)
      expect(logs.some((line) => line.includes('"statusCode":401'))).to.equal(true)
    })
  })

  describe('on S3', () => {
    let s3: S3Server

    before(async () => {
      s3 = await startS3()
    })

    after(async () => {
      await s3?.stop()
    })

    it('keeps backups in a bucket: create, list from a second instance, restore, delete, keys never shown', async () => {
      const location = s3.uri('dcos/backups/')
      const first = await start({storage: location})
      const {id} = (await api(first.url, 'POST', '/create', {label: 's3-backup'})).body.backup_info as BackupInfo
      await listedBackup(first.url, id, settled)
      const second = await start({storage: location})
      const listed = (await api(second.url, 'GET', '/list')).body.backup_info as BackupInfo[]
      expect(listed.map((backup) => [backup.id, backup.status])).to.deep.equal([[id, 'STATUS_READY']])

      await session.setData(`${root}/state/app-7`, Buffer.from('changed'))
      const restore = (await api(second.url, 'POST', '/restore', {id})).body.backup_info as RestoreInfo
      const after = await listedBackup(second.url, id, restoreSettled(restore.id))
      expect(after.restores[0].status).to.equal('STATUS_READY')
      expect((await session.getData(`${root}/state/app-7`)).data.toString()).to.equal('app 7')

      expect((await api(first.url, 'DELETE', '/delete', {id})).status).to.equal(200)
      const keys =
        (
          await s3.client.send(
            new (await import('@aws-sdk/client-s3')).ListObjectsV2Command({Bucket: s3.bucket, Prefix: 'dcos/backups/'}),
          )
        ).Contents ?? []
      expect(keys.map((object) => object.Key).filter((key) => key!.includes(id))).to.deep.equal([])
      const secret = new URL(location.replace(/^s3:/, 'http:')).searchParams.get('secret_key')!
      expect([...first.logs, ...second.logs].join('\n')).to.not.include(secret)
    })
  })

  it('serves on a Unix socket created with mode 0660', async () => {
    const service = await start()
    const socket = join(storage, 'api.sock')
    const app = createHttpServer({logger: service.app.log as never, service: service.service})
    try {
      expect(await listen(app, {socket})).to.equal(`unix:${socket}`)
      expect((await stat(socket)).mode & 0o777).to.equal(0o660)
      const body = await new Promise<string>((resolve, reject) => {
        const sent = request({method: 'GET', path: '/v1/list', socketPath: socket}, (response) => {
          let text = ''
          response.on('data', (chunk: Buffer) => {
            text += chunk.toString()
          })
          response.on('end', () => resolve(text))
        })
        sent.on('error', reject)
        sent.end()
      })
      expect(body).to.equal('{}')
    } finally {
      await app.close()
    }
  })
})
