import {expect} from 'chai'

import type {ZkSession} from '../../../src/zk/session.js'

import {type BackupInfo, BUSY_MESSAGE, type RestoreInfo} from '../../../src/service/api.js'
import {sharedEnsemble} from '../../harness/hooks.js'
import {dcos, expectExit} from '../../helpers/cli.js'
import {removeDir, tempDir} from '../../helpers/fixtures.js'
import {secret} from '../../helpers/secrets.js'
import {type RunningService, startService} from '../../helpers/service.js'
import {connect, seedTree, snapshotTree, uniquePath} from '../../helpers/tree.js'

const token = secret('sekret-token-123')

describe('dcos backup create|list|show|restore|delete against the real service', () => {
  let session: ZkSession
  let hosts: string[]
  let storage: string
  let root: string
  let running: RunningService | undefined

  before(async () => {
    const ensemble = await sharedEnsemble()
    hosts = [ensemble.connectString]
    session = await connect(ensemble.connectString)
  })

  beforeEach(async () => {
    root = uniquePath('cli')
    storage = await tempDir('cli-storage')
    await seedTree(session, root, [
      {data: 'm', path: '/'},
      ...Array.from({length: 20}, (_, index) => ({data: `app ${index}`, path: `/app-${index}`})),
    ])
  })

  afterEach(async () => {
    await running?.stop()
    running = undefined
    await removeDir(storage)
  })

  after(() => session?.close())

  async function start(options: {beforeJobWork?: () => Promise<void>; token?: string} = {}): Promise<string> {
    running = await startService({
      components: [{name: 'marathon', path: root}],
      hosts,
      lockPath: `${root}-lock`,
      storage,
      ...options,
    })
    return running.url
  }

  it('runs the whole life cycle: create --wait, list, show, restore --wait, delete', async () => {
    const env = {DCOS_URL: await start()}
    const created = expectExit(
      await dcos(['backup', 'create', '--label', 'nightly', '--wait', '--interval', '100ms'], {env}),
      0,
    )
    const id = created.stdout.trim()
    expect(id).to.match(/^nightly-[0-9a-f-]{36}$/)

    // In a script, stdin may be a pipe with other data on it: the optional prefix never reads it.
    const listed = expectExit(
      await dcos(['backup', 'list'], {env, input: Buffer.from('not-a-prefix\n')}),
      0,
    ).stdout.split('\n')
    expect(listed[0]).to.match(/^BACKUP ID\s+VERSION\s+STATUS\s+TIMESTAMP$/)
    expect(listed[1]).to.match(new RegExp(`^${id}\\s+test\\s+STATUS_READY\\s+\\d{4}-`))

    const shown = JSON.parse(expectExit(await dcos(['backup', 'show', id], {env}), 0).stdout) as BackupInfo
    expect(shown).to.include({id, status: 'STATUS_READY'})

    const before = await snapshotTree(session, root)
    await session.setData(`${root}/app-4`, Buffer.from('changed'))
    await session.delete(`${root}/app-5`)
    const restored = expectExit(
      await dcos(['backup', 'restore', id, '--yes', '--wait', '--interval', '100ms', '--json'], {env}),
      0,
    )
    const restore = JSON.parse(restored.stdout) as RestoreInfo
    expect(restore.status).to.equal('STATUS_READY')
    expect(await snapshotTree(session, root)).to.deep.equal(before)
    const withRestore = JSON.parse(
      expectExit(await dcos(['backup', 'show', id, '--json'], {env}), 0).stdout,
    ) as BackupInfo
    expect(withRestore.restores.map((entry) => [entry.id, entry.status])).to.deep.equal([[restore.id, 'STATUS_READY']])

    expectExit(await dcos(['backup', 'delete', id, '--yes'], {env}), 0)
    const left = JSON.parse(expectExit(await dcos(['backup', 'list', '--json'], {env}), 0).stdout) as BackupInfo[]
    expect(left.map((backup) => backup.id)).to.deep.equal([restore.safety_backup_id])
    const gone = await dcos(['backup', 'show', id], {env})
    expectExit(gone, 2)
    expect(gone.stderr).to.include(`No backup with id ${id}`)
  })

  it("reports the service's busy error with exit 1 while another job holds the lock", async () => {
    let release!: () => void
    const gate = new Promise<void>((resolve) => {
      release = resolve
    })
    const env = {DCOS_URL: await start({beforeJobWork: () => gate})}
    expectExit(await dcos(['backup', 'create', '--label', 'first'], {env}), 0)
    const busy = expectExit(await dcos(['backup', 'create', '--label', 'second'], {env}), 1)
    expect(busy.stderr.trim()).to.equal(`Error: ${BUSY_MESSAGE}`)
    release()
  })

  it('needs the token when the service demands one: exit 1 without it, and never shows it', async () => {
    const url = await start({token})
    const refused = expectExit(await dcos(['backup', 'list', '--url', url]), 1)
    expect(refused.stderr.trim().split('\n')).to.have.length(1)
    expect(refused.stderr).to.match(/401/)
    const wrong = expectExit(await dcos(['backup', 'list', '--url', url], {env: {DCOS_ACS_TOKEN: 'not-it'}}), 1)
    expect(wrong.stderr).to.not.include('not-it')
    const allowed = expectExit(await dcos(['backup', 'list', '--url', url], {env: {DCOS_ACS_TOKEN: token}}), 0)
    expect(allowed.stderr).to.include('No backups')
    expect(allowed.stdout + allowed.stderr).to.not.include(token)
  })
})
