/**
 * `dcos backup create|list|show|delete|restore` run in-process (so that nock sees their requests)
 * against a mocked DC/OS backup service. Any request not mocked fails the test, and so does a
 * mocked one never made.
 */
import {runCommand} from '@oclif/test'
import {expect} from 'chai'
import nock from 'nock'
import {PassThrough} from 'node:stream'

import {API_PREFIX, type BackupInfo, BUSY_MESSAGE, type RestoreInfo, type Status} from '../../../src/service/api.js'
import {ROOT} from '../../helpers/cli.js'
import {closedPort} from '../../helpers/net.js'
import {recordOutput, secret} from '../../helpers/secrets.js'

const URL = 'https://dcos.test'
const TOKEN = secret('eyJhbGciOiJSUzI1NiJ9.cmd-secret-91d2')
const ID = 'nightly-2f1c9a8e-4b7d-4c1e-9f0a-6d5e4c3b2a10'
const RESTORE_ID = 'restore-8a7b6c5d-4e3f-4a1b-8c2d-1e0f9a8b7c6d'
const SAFETY_ID = 'pre-restore-5c4b3a29-1807-4f6e-8d5c-4b3a29180716'
const FAST = ['--interval', '20ms']

type Result = Awaited<ReturnType<typeof runCommand>>

function backup(status: Status, extra: Partial<BackupInfo> = {}): BackupInfo {
  const component: Status = status === 'STATUS_BACKING_UP' ? 'STATUS_UNKNOWN' : status
  return {
    component_status: {marathon: {status: component}},
    dcos_version: '2.2.0',
    id: ID,
    restores: [],
    status,
    timestamp: '2024-05-02T07:00:00.123456789Z',
    ...extra,
  }
}

function restoreOf(status: Status, extra: Partial<RestoreInfo> = {}): RestoreInfo {
  return {
    component_status: {marathon: {status}},
    id: RESTORE_ID,
    status,
    timestamp: '2024-05-02T08:00:00.000000001Z',
    ...extra,
  }
}

/** The service, expecting DC/OS's token header on every request. */
function api() {
  return nock(URL, {reqheaders: {accept: 'application/json', authorization: `token=${TOKEN}`}})
}

function showReplies(...entries: BackupInfo[]): void {
  for (const entry of entries)
    api()
      .get(`${API_PREFIX}/list`)
      .query({prefix: entry.id})
      .reply(200, {backup_info: [entry]})
}

async function run(args: string[]): Promise<Result> {
  const result = await runCommand(['backup', ...args], {root: ROOT})
  recordOutput(`dcos backup ${args[0]} (in-process)`, `${result.stdout}\n${result.stderr}`)
  return result
}

function exitCode(result: Result): number {
  return (result.error as undefined | {oclif?: {exit?: number}})?.oclif?.exit ?? (result.error ? -1 : 0)
}

/** Exit 1 or 2 with one line on stderr, "Error: <message>"; nothing on stdout; the token nowhere. */
function expectFailure(result: Result, code: number, message: RegExp | string): void {
  expect(exitCode(result), `stderr: ${result.stderr}`).to.equal(code)
  expect(result.stdout).to.equal('')
  const lines = result.stderr.trimEnd().split('\n')
  expect(lines, result.stderr).to.have.length(1)
  if (typeof message === 'string') expect(lines[0]).to.equal(`Error: ${message}`)
  else expect(lines[0]).to.match(message)
  expectNoToken(result)
}

function expectNoToken(result: Result): void {
  expect(result.stdout).not.to.include(TOKEN)
  expect(result.stderr).not.to.include(TOKEN)
  expect(result.error?.message ?? '').not.to.include(TOKEN)
}

/** Redefines isTTY on a stream, returning the function that puts the original back. */
function setTty(stream: NodeJS.ReadStream | NodeJS.WriteStream, value: boolean): () => void {
  const saved = Object.getOwnPropertyDescriptor(stream, 'isTTY')
  Object.defineProperty(stream, 'isTTY', {configurable: true, value, writable: true})
  return () => {
    if (saved) Object.defineProperty(stream, 'isTTY', saved)
    else delete (stream as {isTTY?: boolean}).isTTY
  }
}

/** Runs with a terminal on stdin (answering `answer`) and on stderr. */
async function withTerminal<T>(answer: string, action: () => Promise<T>): Promise<T> {
  const input = Object.assign(new PassThrough(), {isTTY: true})
  const saved = Object.getOwnPropertyDescriptor(process, 'stdin')!
  Object.defineProperty(process, 'stdin', {configurable: true, enumerable: true, get: () => input})
  const restoreStderr = setTty(process.stderr, true)
  input.write(`${answer}\n`)
  try {
    return await action()
  } finally {
    restoreStderr()
    Object.defineProperty(process, 'stdin', saved)
  }
}

describe('dcos backup (client commands), in-process against a mocked service', () => {
  const savedEnv = {token: process.env.DCOS_ACS_TOKEN, url: process.env.DCOS_URL}
  const restoreTty: Array<() => void> = []

  before(() => {
    if (!nock.isActive()) nock.activate()
    nock.disableNetConnect()
  })

  beforeEach(() => {
    process.env.DCOS_URL = URL
    process.env.DCOS_ACS_TOKEN = TOKEN
    // Deterministic whoever runs the tests: no terminal, so no prompt and no spinner.
    restoreTty.push(setTty(process.stdin, false), setTty(process.stderr, false))
  })

  afterEach(function () {
    for (const restore of restoreTty.splice(0).reverse()) restore()
    // oclif sets it for a --json error; the tests check exit codes themselves.
    process.exitCode = undefined
    const pending = nock.pendingMocks()
    nock.cleanAll()
    if (this.currentTest?.state === 'passed') expect(pending, 'requests mocked but never made').to.deep.equal([])
  })

  after(() => {
    for (const [name, value] of [
      ['DCOS_ACS_TOKEN', savedEnv.token],
      ['DCOS_URL', savedEnv.url],
    ] as const) {
      if (value === undefined) delete process.env[name]
      else process.env[name] = value
    }

    nock.enableNetConnect()
    // Other test files in this process talk to real HTTP servers (s3rver).
    nock.restore()
  })

  describe('create', () => {
    it('prints the new id alone on stdout, with the token from DCOS_ACS_TOKEN', async () => {
      api()
        .post(`${API_PREFIX}/create`, {label: 'nightly'})
        .reply(200, {backup_info: backup('STATUS_BACKING_UP')})
      const result = await run(['create', '--label', 'nightly'])
      expect(exitCode(result), result.stderr).to.equal(0)
      expect(result.stdout).to.equal(`${ID}\n`)
      expect(result.stderr).to.equal('')
    })

    it('--json prints the BackupInfo', async () => {
      api()
        .post(`${API_PREFIX}/create`, {label: 'nightly'})
        .reply(200, {backup_info: backup('STATUS_BACKING_UP')})
      const result = await run(['create', '--label', 'nightly', '--json'])
      expect(exitCode(result)).to.equal(0)
      expect(JSON.parse(result.stdout)).to.deep.equal(backup('STATUS_BACKING_UP'))
    })

    it('refuses an invalid label with exit 2 and sends nothing', async () => {
      const scope = api()
        .post(`${API_PREFIX}/create`)
        .reply(200, {backup_info: backup('STATUS_BACKING_UP')})
      const result = await run(['create', '--label', '-bad'])
      expectFailure(result, 2, /^Error: Invalid label "-bad": use letters, digits and _ \. - only/)
      expect(scope.isDone(), 'nothing was sent').to.equal(false)
      nock.cleanAll()
    })

    it('refuses an invalid --timeout with exit 2 and sends nothing', async () => {
      const scope = api()
        .post(`${API_PREFIX}/create`)
        .reply(200, {backup_info: backup('STATUS_BACKING_UP')})
      const result = await run(['create', '--label', 'nightly', '--wait', '--timeout', 'soon'])
      expectFailure(result, 2, /^Error: Invalid --timeout "soon"/)
      expect(scope.isDone(), 'nothing was sent').to.equal(false)
      nock.cleanAll()
    })

    it('shows the busy error as the service wrote it, exit 1', async () => {
      api()
        .post(`${API_PREFIX}/create`)
        .reply(500, {errors: [BUSY_MESSAGE]})
      expectFailure(await run(['create', '--label', 'nightly']), 1, BUSY_MESSAGE)
    })

    it('--wait follows the backup to STATUS_READY: exit 0, the id alone on stdout', async () => {
      api()
        .post(`${API_PREFIX}/create`)
        .reply(200, {backup_info: backup('STATUS_BACKING_UP')})
      showReplies(backup('STATUS_BACKING_UP'), backup('STATUS_BACKING_UP'), backup('STATUS_READY'))
      const result = await run(['create', '--label', 'nightly', '--wait', ...FAST])
      expect(exitCode(result), result.stderr).to.equal(0)
      expect(result.stdout).to.equal(`${ID}\n`)
      expect(result.result).to.deep.include({status: 'STATUS_READY'})
    })

    it('--wait --json prints the final BackupInfo only', async () => {
      api()
        .post(`${API_PREFIX}/create`)
        .reply(200, {backup_info: backup('STATUS_BACKING_UP')})
      showReplies(backup('STATUS_BACKING_UP'), backup('STATUS_READY'))
      const result = await run(['create', '--label', 'nightly', '--wait', '--json', ...FAST])
      expect(exitCode(result)).to.equal(0)
      expect(JSON.parse(result.stdout)).to.deep.equal(backup('STATUS_READY'))
    })

    it('--wait ends with exit 1 and the reason when the backup fails', async () => {
      const failed = backup('STATUS_ERROR', {
        component_status: {marathon: {reason: 'cannot read /marathon/state: NOAUTH', status: 'STATUS_ERROR'}},
      })
      api()
        .post(`${API_PREFIX}/create`)
        .reply(200, {backup_info: backup('STATUS_BACKING_UP')})
      showReplies(backup('STATUS_BACKING_UP'), failed)
      const result = await run(['create', '--label', 'nightly', '--wait', ...FAST])
      expect(exitCode(result)).to.equal(1)
      expect(result.stdout).to.equal(`${ID}\n`)
      expect(result.stderr).to.equal(`Error: Backup ${ID} failed: marathon: cannot read /marathon/state: NOAUTH\n`)
    })

    it('--wait --json on failure prints the failed BackupInfo on stdout, exit 1', async () => {
      const failed = backup('STATUS_ERROR', {reason: 'storage is full'})
      api()
        .post(`${API_PREFIX}/create`)
        .reply(200, {backup_info: backup('STATUS_BACKING_UP')})
      showReplies(failed)
      const result = await run(['create', '--label', 'nightly', '--wait', '--json', ...FAST])
      expect(exitCode(result)).to.equal(1)
      expect(JSON.parse(result.stdout)).to.deep.equal(failed)
      expect(result.stderr).to.equal(`Error: Backup ${ID} failed: storage is full\n`)
    })

    it('--timeout ends the wait with exit 1, naming the status', async () => {
      api()
        .post(`${API_PREFIX}/create`)
        .reply(200, {backup_info: backup('STATUS_BACKING_UP')})
      api()
        .get(`${API_PREFIX}/list`)
        .query({prefix: ID})
        .times(200)
        .reply(200, {backup_info: [backup('STATUS_BACKING_UP')]})
      const started = Date.now()
      const result = await run(['create', '--label', 'nightly', '--wait', '--timeout', '300ms', ...FAST])
      expect(Date.now() - started).to.be.within(250, 3000)
      expect(exitCode(result)).to.equal(1)
      expect(result.stdout).to.equal(`${ID}\n`)
      expect(result.stderr).to.equal(
        `Error: Timed out after 0.3s waiting for backup ${ID}: it is still STATUS_BACKING_UP\n`,
      )
      nock.cleanAll()
    })
  })

  describe('list', () => {
    const entries = [
      backup('STATUS_READY', {id: 'old-00000000-0000-4000-8000-000000000001', timestamp: '2024-05-01T07:00:00.9Z'}),
      backup('STATUS_ERROR', {
        dcos_version: '2.1.0',
        id: 'newer-00000000-0000-4000-8000-000000000002',
        timestamp: '2024-05-02T07:00:00.000000002Z',
      }),
      backup('STATUS_BACKING_UP', {
        id: 'new-00000000-0000-4000-8000-000000000003',
        timestamp: '2024-05-02T07:00:00.000000010Z',
      }),
    ]

    it('prints BACKUP ID | VERSION | STATUS | TIMESTAMP, newest first', async () => {
      api().get(`${API_PREFIX}/list`).reply(200, {backup_info: entries})
      const result = await run(['list'])
      expect(exitCode(result), result.stderr).to.equal(0)
      expect(result.stdout.split('\n').map((line) => line.split(/\s{2,}/))).to.deep.equal([
        ['BACKUP ID', 'VERSION', 'STATUS', 'TIMESTAMP'],
        ['new-00000000-0000-4000-8000-000000000003', '2.2.0', 'STATUS_BACKING_UP', '2024-05-02T07:00:00.000000010Z'],
        ['newer-00000000-0000-4000-8000-000000000002', '2.1.0', 'STATUS_ERROR', '2024-05-02T07:00:00.000000002Z'],
        ['old-00000000-0000-4000-8000-000000000001', '2.2.0', 'STATUS_READY', '2024-05-01T07:00:00.9Z'],
        [''],
      ])
      const header = result.stdout.split('\n')[0]
      expect(result.stdout.split('\n')[1].indexOf('2.2.0'), 'aligned columns').to.equal(header.indexOf('VERSION'))
    })

    it('passes the prefix on', async () => {
      api()
        .get(`${API_PREFIX}/list`)
        .query({prefix: 'nightly'})
        .reply(200, {backup_info: [backup('STATUS_READY')]})
      const result = await run(['list', 'nightly'])
      expect(result.stdout).to.include(ID)
    })

    it('with no backups ({}) writes "No backups." on stderr and nothing on stdout', async () => {
      api().get(`${API_PREFIX}/list`).reply(200, {})
      const result = await run(['list'])
      expect(exitCode(result)).to.equal(0)
      expect(result.stdout).to.equal('')
      expect(result.stderr).to.equal('No backups.\n')
    })

    it('--json prints the array, newest first ([] for none)', async () => {
      api().get(`${API_PREFIX}/list`).reply(200, {backup_info: entries})
      const listed = await run(['list', '--json'])
      expect((JSON.parse(listed.stdout) as BackupInfo[]).map((entry) => entry.id)).to.deep.equal([
        entries[2].id,
        entries[1].id,
        entries[0].id,
      ])
      api().get(`${API_PREFIX}/list`).reply(200, {})
      const none = await run(['list', '--json'])
      expect(JSON.parse(none.stdout)).to.deep.equal([])
      expect(none.stderr).to.equal('')
    })
  })

  describe('show', () => {
    it("prints the backup's metadata, restores included, as pretty JSON", async () => {
      const shown = backup('STATUS_READY', {restores: [restoreOf('STATUS_READY', {safety_backup_id: SAFETY_ID})]})
      showReplies(shown)
      const result = await run(['show', ID])
      expect(exitCode(result)).to.equal(0)
      expect(result.stdout).to.equal(`${JSON.stringify(shown, null, 2)}\n`)
      showReplies(shown)
      expect(JSON.parse((await run(['show', ID, '--json'])).stdout)).to.deep.equal(shown)
    })

    it('exits 2 for an unknown id, pointing to dcos backup list', async () => {
      api().get(`${API_PREFIX}/list`).query({prefix: 'nightly-nope'}).reply(200, {})
      expectFailure(
        await run(['show', 'nightly-nope']),
        2,
        'No backup with id nightly-nope: see the ids with "dcos backup list"',
      )
    })
  })

  describe('delete', () => {
    it('--yes sends DELETE with the JSON body {"id"} and prints nothing', async () => {
      api().delete(`${API_PREFIX}/delete`, {id: ID}).matchHeader('content-type', 'application/json').reply(200)
      const result = await run(['delete', ID, '--yes'])
      expect(exitCode(result), result.stderr).to.equal(0)
      expect(result.stdout).to.equal('')
      expect(result.stderr).to.equal('')
    })

    it('--json prints {"deleted": id}', async () => {
      api().delete(`${API_PREFIX}/delete`, {id: ID}).reply(200)
      const result = await run(['delete', ID, '--yes', '--json'])
      expect(JSON.parse(result.stdout)).to.deep.equal({deleted: ID})
    })

    it('without a terminal and without --yes: exit 2, nothing sent', async () => {
      const scope = api().delete(`${API_PREFIX}/delete`).reply(200)
      expectFailure(
        await run(['delete', ID]),
        2,
        'Refusing to delete a backup without confirmation: there is no terminal to ask, so pass --yes',
      )
      expect(scope.isDone(), 'nothing was sent').to.equal(false)
      nock.cleanAll()
    })

    it('asks on a terminal: "n" cancels with exit 1 and sends nothing, "y" deletes', async () => {
      const scope = api().delete(`${API_PREFIX}/delete`, {id: ID}).reply(200)
      const no = await withTerminal('n', () => run(['delete', ID]))
      expect(exitCode(no)).to.equal(1)
      expect(no.stderr).to.include(`Delete backup ${ID}? It cannot be restored afterwards. [y/N]`)
      expect(no.stderr).to.match(/Error: Delete cancelled: nothing changed\n$/)
      expect(scope.isDone(), 'nothing was sent').to.equal(false)
      const yes = await withTerminal('y', () => run(['delete', ID]))
      expect(exitCode(yes), yes.stderr).to.equal(0)
      expect(scope.isDone()).to.equal(true)
    })

    it("exits 2 with the service's messages when it refuses the id (400)", async () => {
      api()
        .delete(`${API_PREFIX}/delete`, {id: RESTORE_ID})
        .reply(400, {errors: [`${RESTORE_ID} is a restore of backup ${ID}, not a backup`]})
      expectFailure(
        await run(['delete', RESTORE_ID, '--yes']),
        2,
        `${RESTORE_ID} is a restore of backup ${ID}, not a backup`,
      )
    })
  })

  describe('restore', () => {
    it("prints the restore's own id, not the backup's", async () => {
      api()
        .post(`${API_PREFIX}/restore`, {id: ID})
        .reply(200, {backup_info: restoreOf('STATUS_RESTORING')})
      const result = await run(['restore', ID, '--yes'])
      expect(exitCode(result), result.stderr).to.equal(0)
      expect(result.stdout).to.equal(`${RESTORE_ID}\n`)
    })

    it('without a terminal and without --yes: exit 2, nothing sent', async () => {
      const scope = api()
        .post(`${API_PREFIX}/restore`)
        .reply(200, {backup_info: restoreOf('STATUS_RESTORING')})
      expectFailure(
        await run(['restore', ID]),
        2,
        'Refusing to restore a backup without confirmation: there is no terminal to ask, so pass --yes',
      )
      expect(scope.isDone(), 'nothing was sent').to.equal(false)
      nock.cleanAll()
    })

    it('"n" on a terminal cancels with exit 1', async () => {
      const scope = api()
        .post(`${API_PREFIX}/restore`)
        .reply(200, {backup_info: restoreOf('STATUS_RESTORING')})
      const result = await withTerminal('no', () => run(['restore', ID]))
      expect(exitCode(result)).to.equal(1)
      expect(result.stderr).to.match(/Error: Restore cancelled: nothing changed\n$/)
      expect(scope.isDone()).to.equal(false)
      nock.cleanAll()
    })

    it("--wait polls the backup's restores for the restore's id until STATUS_READY", async () => {
      const other = restoreOf('STATUS_ERROR', {id: 'restore-00000000-0000-4000-8000-000000000000'})
      api()
        .post(`${API_PREFIX}/restore`, {id: ID})
        .reply(200, {backup_info: restoreOf('STATUS_RESTORING')})
      showReplies(
        backup('STATUS_READY', {restores: [other, restoreOf('STATUS_RESTORING')]}),
        backup('STATUS_READY', {restores: [other, restoreOf('STATUS_READY', {safety_backup_id: SAFETY_ID})]}),
      )
      const result = await run(['restore', ID, '--yes', '--wait', ...FAST])
      expect(exitCode(result), result.stderr).to.equal(0)
      expect(result.stdout).to.equal(`${RESTORE_ID}\n`)
      expect(result.stderr).to.equal('')
    })

    it('--wait ends with exit 1, the reason and the safety backup when the restore fails', async () => {
      const failed = restoreOf('STATUS_ERROR', {reason: 'ZooKeeper connection lost', safety_backup_id: SAFETY_ID})
      api()
        .post(`${API_PREFIX}/restore`, {id: ID})
        .reply(200, {backup_info: restoreOf('STATUS_RESTORING')})
      showReplies(backup('STATUS_READY', {restores: [failed]}))
      const result = await run(['restore', ID, '--yes', '--wait', ...FAST])
      expect(exitCode(result)).to.equal(1)
      expect(result.stdout).to.equal(`${RESTORE_ID}\n`)
      expect(result.stderr).to.equal(
        `Error: Restore ${RESTORE_ID} of backup ${ID} failed: ZooKeeper connection lost; the state before the restore is backup ${SAFETY_ID} ("dcos backup restore ${SAFETY_ID}" puts it back)\n`,
      )
    })

    it('--wait --json on failure prints the failed RestoreInfo on stdout, the safety backup on stderr, exit 1', async () => {
      const failed = restoreOf('STATUS_ERROR', {reason: 'ZooKeeper connection lost', safety_backup_id: SAFETY_ID})
      api()
        .post(`${API_PREFIX}/restore`, {id: ID})
        .reply(200, {backup_info: restoreOf('STATUS_RESTORING')})
      showReplies(backup('STATUS_READY', {restores: [failed]}))
      const result = await run(['restore', ID, '--yes', '--wait', '--json', ...FAST])
      expect(exitCode(result)).to.equal(1)
      expect(JSON.parse(result.stdout)).to.deep.equal(failed)
      expect(result.stderr).to.include(`the state before the restore is backup ${SAFETY_ID}`)
    })

    it('--wait --json prints the final RestoreInfo', async () => {
      api()
        .post(`${API_PREFIX}/restore`, {id: ID})
        .reply(200, {backup_info: restoreOf('STATUS_RESTORING')})
      showReplies(backup('STATUS_READY', {restores: [restoreOf('STATUS_READY')]}))
      const result = await run(['restore', ID, '--yes', '--wait', '--json', ...FAST])
      expect(exitCode(result)).to.equal(0)
      expect(JSON.parse(result.stdout)).to.deep.equal(restoreOf('STATUS_READY'))
    })

    it('--timeout ends the wait with exit 1', async () => {
      api()
        .post(`${API_PREFIX}/restore`, {id: ID})
        .reply(200, {backup_info: restoreOf('STATUS_RESTORING')})
      api()
        .get(`${API_PREFIX}/list`)
        .query({prefix: ID})
        .times(200)
        .reply(200, {backup_info: [backup('STATUS_READY', {restores: [restoreOf('STATUS_RESTORING')]})]})
      const result = await run(['restore', ID, '--yes', '--wait', '--timeout', '200ms', ...FAST])
      expect(exitCode(result)).to.equal(1)
      expect(result.stderr).to.equal(
        `Error: Timed out after 0.2s waiting for restore ${RESTORE_ID} of backup ${ID}: it is still STATUS_RESTORING\n`,
      )
      nock.cleanAll()
    })

    it('the busy error of a restore: exit 1, as the service wrote it', async () => {
      api()
        .post(`${API_PREFIX}/restore`, {id: ID})
        .reply(500, {errors: [BUSY_MESSAGE]})
      expectFailure(await run(['restore', ID, '--yes']), 1, BUSY_MESSAGE)
    })
  })

  describe('connection, authentication and input errors', () => {
    it('401: exit 1, one line, and the token nowhere (from --token too)', async () => {
      nock(URL)
        .get(`${API_PREFIX}/list`)
        .matchHeader('authorization', 'token=flag-secret-5e6f')
        .reply(401, {errors: ['token=flag-secret-5e6f expired']})
      const result = await run(['list', '--token', 'flag-secret-5e6f'])
      expectFailure(
        result,
        1,
        `The backup service at ${URL}${API_PREFIX}/list refused the request: authentication failed (401): pass a valid token with --token or DCOS_ACS_TOKEN`,
      )
      expect(result.stderr).not.to.include('flag-secret-5e6f')
    })

    it('403: exit 1, one line', async () => {
      api().get(`${API_PREFIX}/list`).reply(403)
      expectFailure(
        await run(['list']),
        1,
        /^Error: The backup service at .* refused the request: permission denied \(403\)/,
      )
    })

    it('a 5xx with {"errors"}: exit 1 with the messages; another 5xx: the status and an excerpt', async () => {
      api()
        .get(`${API_PREFIX}/list`)
        .query({prefix: ID})
        .reply(500, {errors: ['cannot read the store', `echo ${TOKEN}`]})
      expectFailure(await run(['show', ID]), 1, 'cannot read the store; echo ***')
      api().get(`${API_PREFIX}/list`).reply(503, 'upstream unavailable')
      expectFailure(
        await run(['list']),
        1,
        `The backup service at ${URL}${API_PREFIX}/list answered HTTP 503 Service Unavailable: "upstream unavailable"`,
      )
    })

    it('connection refused: exit 1, one line naming the URL', async () => {
      nock.enableNetConnect('127.0.0.1')
      try {
        const port = await closedPort()
        const result = await run(['list', '--url', `http://127.0.0.1:${port}`])
        expectFailure(
          result,
          1,
          `Cannot reach the backup service at http://127.0.0.1:${port}${API_PREFIX}/list: connection refused; check --url (DCOS_URL) and that the cluster is reachable`,
        )
      } finally {
        nock.disableNetConnect()
      }
    })

    it('connection reset: exit 1, one line', async () => {
      api()
        .post(`${API_PREFIX}/create`)
        .replyWithError(Object.assign(new Error('socket hang up'), {code: 'ECONNRESET'}))
      expectFailure(
        await run(['create', '--label', 'nightly']),
        1,
        /^Error: Cannot reach the backup service at https:\/\/dcos\.test\/system\/v1\/backup\/v1\/create: connection reset; /,
      )
    })

    it('no answer within --request-timeout: exit 1, one line', async () => {
      api().get(`${API_PREFIX}/list`).delay(3000).reply(200, {})
      const started = Date.now()
      const result = await run(['list', '--request-timeout', '200ms'])
      expect(Date.now() - started).to.be.below(2000)
      expectFailure(
        result,
        1,
        `Cannot reach the backup service at ${URL}${API_PREFIX}/list: no answer within 0.2s; check --url (DCOS_URL) and that the cluster is reachable`,
      )
    })

    it('--json: the error as JSON on stdout, the exit code kept, the token nowhere', async () => {
      api().get(`${API_PREFIX}/list`).reply(401)
      const result = await run(['list', '--json'])
      const {error} = JSON.parse(result.stdout) as {error: {message: string}}
      expect(error.message).to.equal(
        `The backup service at ${URL}${API_PREFIX}/list refused the request: authentication failed (401): pass a valid token with --token or DCOS_ACS_TOKEN`,
      )
      expect(process.exitCode).to.equal(1)
      expectNoToken(result)
    })

    it('no --url and no DCOS_URL: exit 2, nothing sent', async () => {
      delete process.env.DCOS_URL
      expectFailure(
        await run(['list']),
        2,
        "No cluster to talk to: pass --url https://<master> or set DCOS_URL to the cluster's address",
      )
    })

    it('an unreadable --ca-cert: exit 2, nothing sent', async () => {
      expectFailure(
        await run(['list', '--ca-cert', '/nonexistent/dcos-ca.crt']),
        2,
        /^Error: Cannot read --ca-cert \/nonexistent\/dcos-ca\.crt: ENOENT/,
      )
    })
  })
})
