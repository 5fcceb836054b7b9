import {expect} from 'chai'
import type {ChildProcess} from 'node:child_process'
import {readdir, readFile, writeFile} from 'node:fs/promises'
import {join} from 'node:path'
import {createInterface} from 'node:readline'

import {type BackupInfo, BUSY_MESSAGE} from '../../../src/service/wire.js'
import type {ZkSession} from '../../../src/zk/session.js'
import {sharedEnsemble} from '../../harness/hooks.js'
import {dcos, expectUsageError, spawnDcos} from '../../helpers/cli.js'
import {removeDir, tempDir} from '../../helpers/fixtures.js'
import {api} from '../../helpers/service.js'
import {connect, seedTree, uniquePath} from '../../helpers/tree.js'
import {eventually} from '../../helpers/wait.js'

interface ServeProcess {
  child: ChildProcess
  url: string
  lines: string[]
}

const children = new Set<ChildProcess>()

/** `dcos backup serve` as a child process on a free port; resolves once it listens. */
async function serve(args: string[]): Promise<ServeProcess> {
  const {child, exited} = spawnDcos(['backup', 'serve', '--listen', '127.0.0.1:0', ...args])
  children.add(child)
  child.once('exit', () => children.delete(child))
  const lines: string[] = []
  const url = await new Promise<string>((resolve, reject) => {
    createInterface({input: child.stdout!}).on('line', (line) => {
      lines.push(line)
      const entry = JSON.parse(line) as {msg: string; address?: string}
      if (entry.msg === 'backup service listening') resolve(entry.address!)
    })
    exited.then(({code, stderr}) => reject(new Error(`dcos backup serve exited with ${code}: ${stderr}`)), reject)
  })
  return {child, lines, url}
}

async function kill(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return
  const exited = new Promise((resolve) => child.once('exit', resolve))
  child.kill('SIGKILL')
  await exited
}

describe('dcos backup serve', () => {
  let hosts: string
  let session: ZkSession
  let storage: string

  before(async () => {
    hosts = (await sharedEnsemble()).connectString
    session = await connect(hosts)
  })

  beforeEach(async () => {
    storage = await tempDir('serve-storage')
  })

  afterEach(async () => {
    await Promise.all([...children].map((child) => kill(child)))
    await removeDir(storage)
  })

  after(() => session?.close())

  describe('usage errors: exit 2, one line, nothing served', () => {
    it('refuses no --zk', async () => {
      expectUsageError(await dcos(['backup', 'serve', '--storage', storage]), 'Missing --zk')
    })

    const cases: Array<[string, string[], RegExp | string]> = [
      ['a path in --zk', ['--zk', 'zk://127.0.0.1:2181/marathon'], '--zk names the path /marathon'],
      ['a bad --component', ['--component', 'marathon'], 'Invalid --component "marathon"'],
      ['a relative component path', ['--component', 'm=marathon'], 'Invalid --component "m=marathon"'],
      ['a component given twice', ['--component', 'm=/a', '--component', 'm=/b'], '--component m is given twice'],
      ['a bad --listen', ['--listen', 'localhost'], 'Invalid --listen "localhost"'],
      ['a bad --schedule', ['--schedule', 'hourly'], 'Invalid --schedule "hourly"'],
      ['a missing --token-file', ['--token-file', '/nonexistent/token'], 'Cannot read --token-file /nonexistent/token'],
      ['an unknown storage scheme', ['--storage', 'ftp://host/dir'], /ftp/],
      ['a storage directory that does not exist', ['--storage', '/nonexistent/backups'], 'Cannot write to --storage /nonexistent/backups'],
    ]
    for (const [what, args, message] of cases) {
      it(`refuses ${what}`, async () => {
        const zk = args.includes('--zk') ? [] : ['--zk', '127.0.0.1:1']
        const storageArgs = args.includes('--storage') ? [] : ['--storage', storage]
        // --listen is given last so that a bad one wins over the default.
        const result = await dcos(['backup', 'serve', ...storageArgs, ...zk, ...args])
        expectUsageError(result, message)
      })
    }

    it('refuses an empty --token-file', async () => {
      const file = join(storage, 'token')
      await writeFile(file, '\n')
      expectUsageError(await dcos(['backup', 'serve', '--storage', storage, '--zk', '127.0.0.1:1', '--token-file', file]), 'is empty')
    })

    it('shows examples and exit codes in its help', async () => {
      const {stdout} = await dcos(['backup', 'serve', '--help'])
      expect(stdout).to.include('--schedule').and.include('Exit codes').and.include('EXAMPLES')
    })
  })

  it('ends a backup whose service was killed mid-way STATUS_ERROR after a restart; the lock frees and the next backup works', async function () {
    this.timeout(90_000)
    const root = uniquePath('killed')
    await seedTree(session, root, [{path: '/'}, ...Array.from({length: 4000}, (_, index) => ({data: `app ${index}`.repeat(20), path: `/app-${index}`}))])
    const args = ['--storage', storage, '--zk', hosts, '--component', `marathon=${root}`, '--lock-path', `${root}-lock`, '--session-timeout', '3']

    const first = await serve(args)
    const created = await api(first.url, 'POST', '/create', {label: 'doomed'})
    await kill(first.child)
    const {id} = created.body.backup_info as BackupInfo
    const stored = JSON.parse(await readFile(join(storage, `${id}.json`), 'utf8')) as BackupInfo
    expect(stored.status, 'the backup was still running when the service died').to.equal('STATUS_BACKING_UP')

    const second = await serve(args)
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
    const ready = await eventually('the next backup to be ready', async () => {
      const backups = (await api(second.url, 'GET', `/list?prefix=after`)).body.backup_info as BackupInfo[] | undefined
      return backups?.[0]?.status === 'STATUS_READY' ? backups[0] : undefined
    }, 30_000)
    expect(ready.component_status.marathon.status).to.equal('STATUS_READY')
    expect(second.lines.some((line) => line.includes('interrupted jobs marked failed'))).to.equal(true)
  })

  it('stops on SIGTERM with exit 0', async () => {
    const running = await serve(['--storage', storage, '--zk', '127.0.0.1:1'])
    expect((await api(running.url, 'GET', '/list')).text).to.equal('{}')
    const exited = new Promise<number | null>((resolve) => running.child.once('exit', (code) => resolve(code)))
    running.child.kill('SIGTERM')
    expect(await exited).to.equal(0)
  })
})
