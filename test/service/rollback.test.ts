import {expect} from 'chai'

import type {BackupInfo, RestoreInfo} from '../../src/service/api.js'
import type {ZkSession} from '../../src/zk/session.js'

import {sharedEnsemble} from '../harness/hooks.js'
import {removeDir, tempDir} from '../helpers/fixtures.js'
import {oracleDiff, readTreeIndependently} from '../helpers/oracle.js'
import {api, listedBackup, type RunningService, startService} from '../helpers/service.js'
import {connect, seedTree, uniquePath} from '../helpers/tree.js'

const tree = (label: string) => [
  {data: label, path: '/'},
  ...Array.from({length: 12}, (_, index) => ({data: `${label} ${index}`, path: `/z-${index}`})),
]

describe('backup service: a restore that fails part way changes nothing', function () {
  this.timeout(120_000)
  let hosts: string
  let session: ZkSession
  let storage: string
  let service: RunningService | undefined

  before(async () => {
    hosts = (await sharedEnsemble()).connectString
    session = await connect(hosts)
  })

  afterEach(async () => {
    delete process.env.DCOS_BACKUP_FAILPOINTS
    await service?.stop()
    await removeDir(storage)
  })

  after(() => session?.close())

  it('the second component fails half way: both components are put back as they were (read by another client)', async () => {
    const first = uniquePath('svc-rb-a')
    const second = uniquePath('svc-rb-b')
    await seedTree(session, first, tree('a'))
    await seedTree(session, second, tree('b'))
    storage = await tempDir('svc-rb')
    service = await startService({
      components: [
        {name: 'marathon', path: first},
        {name: 'metronome', path: second},
      ],
      hosts: [hosts],
      lockPath: `${uniquePath('svc-rb-lock')}/lock`,
      storage,
    })
    const {url} = service
    const created = (await api(url, 'POST', '/create', {label: 'before-change'})).body.backup_info as BackupInfo
    expect((await listedBackup(url, created.id, (backup) => backup.status !== 'STATUS_BACKING_UP')).status).to.equal(
      'STATUS_READY',
    )

    for (const root of [first, second]) {
      await session.setData(`${root}/z-3`, Buffer.from('changed since the backup'))
      await session.create(`${root}/new`, Buffer.from('new'), 0)
    }

    const before = {a: await readTreeIndependently(hosts, first), b: await readTreeIndependently(hosts, second)}
    // 13 znodes a component: the first is restored whole, the second fails at its fifth create.
    process.env.DCOS_BACKUP_FAILPOINTS = 'restore.create=18'
    const restore = (await api(url, 'POST', '/restore', {id: created.id})).body.backup_info as RestoreInfo
    const after = await listedBackup(url, created.id, (backup) =>
      backup.restores.some((entry) => entry.id === restore.id && entry.status !== 'STATUS_RESTORING'),
    )
    const finished = after.restores.find((entry) => entry.id === restore.id)!
    expect(finished.status).to.equal('STATUS_ERROR')
    expect(finished.reason).to.match(
      /failpoint restore\.create reached .*Rolled back: .* is as it was before the restore .*; the components restored before it were rolled back from the safety backup/,
    )
    expect(oracleDiff(before.a, await readTreeIndependently(hosts, first))).to.deep.equal([])
    expect(oracleDiff(before.b, await readTreeIndependently(hosts, second))).to.deep.equal([])
  })
})
