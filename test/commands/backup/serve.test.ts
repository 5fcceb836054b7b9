import {expect} from 'chai'
import {stat, writeFile} from 'node:fs/promises'
import {join} from 'node:path'

import type {ZkSession} from '../../../src/zk/session.js'

import {sharedEnsemble} from '../../harness/hooks.js'
import {dcos, expectUsageError} from '../../helpers/cli.js'
import {removeDir, tempDir} from '../../helpers/fixtures.js'
import {api, serveProcess as serve, stopServeProcesses} from '../../helpers/service.js'
import {connect} from '../../helpers/tree.js'

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
    await stopServeProcesses()
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
      [
        'a storage directory whose parent does not exist',
        ['--storage', '/nonexistent/backups'],
        'Cannot write to --storage /nonexistent/backups: its parent directory /nonexistent does not exist',
      ],
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
      expectUsageError(
        await dcos(['backup', 'serve', '--storage', storage, '--zk', '127.0.0.1:1', '--token-file', file]),
        'is empty',
      )
    })

    it('shows examples and exit codes in its help', async () => {
      const {stdout} = await dcos(['backup', 'serve', '--help'])
      expect(stdout).to.include('--schedule').and.include('Exit codes').and.include('EXAMPLES')
    })
  })

  it('refuses a --storage that is a file', async () => {
    const file = join(storage, 'a-file')
    await writeFile(file, 'not a directory\n')
    expectUsageError(
      await dcos(['backup', 'serve', '--storage', file, '--zk', '127.0.0.1:1']),
      `Cannot write to --storage ${file}: it is not a directory`,
    )
  })

  it('creates a missing --storage directory (mode 0700) when its parent exists', async () => {
    const fresh = join(storage, 'backups')
    const running = await serve(['--storage', fresh, '--zk', '127.0.0.1:1'])
    expect((await stat(fresh)).mode & 0o777).to.equal(0o700)
    expect((await api(running.url, 'GET', '/list')).text).to.equal('{}')
  })

  it('stops on SIGTERM with exit 0', async () => {
    const running = await serve(['--storage', storage, '--zk', '127.0.0.1:1'])
    expect((await api(running.url, 'GET', '/list')).text).to.equal('{}')
    const exited = new Promise<null | number>((resolve) => running.child.once('exit', (code) => resolve(code)))
    running.child.kill('SIGTERM')
    expect(await exited).to.equal(0)
  })
})
