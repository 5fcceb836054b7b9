/**
 * The backup service client against nock, pinned to DC/OS's quirks: `{}` for no backups, the busy
 * 500, restores with their own ids, DELETE with a JSON body, `Authorization: token=<t>`.
 * Every request the client makes must be mocked: an unexpected one fails the test.
 */
import {expect} from 'chai'
import nock from 'nock'

import {BackupClient} from '../../src/client/backup-client.js'
import {OperationError, UsageError} from '../../src/errors.js'
import {newestFirst, timestampNanos} from '../../src/service/api.js'
import {API_PREFIX, type BackupInfo, BUSY_MESSAGE, type RestoreInfo, type Status} from '../../src/service/api.js'
import {closedPort} from '../helpers/net.js'
import {secret} from '../helpers/secrets.js'

const URL = 'https://dcos.test'
const TOKEN = secret('eyJhbGciOiJSUzI1NiJ9.secret-token-7f3a')
const ID = 'nightly-2f1c9a8e-4b7d-4c1e-9f0a-6d5e4c3b2a10'
const RESTORE_ID = 'restore-8a7b6c5d-4e3f-4a1b-8c2d-1e0f9a8b7c6d'

function backup(
  id: string,
  timestamp: string,
  status: Status = 'STATUS_READY',
  restores: RestoreInfo[] = [],
): BackupInfo {
  const component: Status = status === 'STATUS_BACKING_UP' ? 'STATUS_UNKNOWN' : status
  return {component_status: {marathon: {status: component}}, dcos_version: '2.2.0', id, restores, status, timestamp}
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

function api(options: nock.Options = {}) {
  return nock(URL, options)
}

/** The error a promise rejects with (fails the test when it resolves). */
async function failure(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise
  } catch (error) {
    return error as Error
  }

  throw new Error('expected a rejection')
}

/** An error as node:net gives it (nock 14 needs an Error, not a plain object, to emit it). */
function networkError(code: string, message: string): Error {
  return Object.assign(new Error(message), {code})
}

describe('BackupClient', () => {
  const client = new BackupClient({timeoutMs: 2000, token: TOKEN, url: `${URL}/`})

  before(() => {
    if (!nock.isActive()) nock.activate()
    nock.disableNetConnect()
  })

  afterEach(function () {
    const pending = nock.pendingMocks()
    nock.cleanAll()
    if (this.currentTest?.state === 'passed') expect(pending, 'requests mocked but never made').to.deep.equal([])
  })

  after(() => {
    nock.enableNetConnect()
    // Other test files in this process talk to real HTTP servers (s3rver).
    nock.restore()
  })

  describe('requests', () => {
    it('create POSTs {"label"} with the token as DC/OS sends it, and returns backup_info', async () => {
      const created = backup(ID, '2024-05-02T07:00:00.123456789Z', 'STATUS_BACKING_UP')
      api({
        reqheaders: {accept: 'application/json', authorization: `token=${TOKEN}`, 'content-type': 'application/json'},
      })
        .post(`${API_PREFIX}/create`, {label: 'nightly'})
        .reply(200, {backup_info: created})
      expect(await client.create('nightly')).to.deep.equal(created)
    })

    it('sends no Authorization header without a token', async () => {
      nock(URL, {badheaders: ['authorization']})
        .get(`${API_PREFIX}/list`)
        .reply(200, {})
      expect(await new BackupClient({url: URL}).list()).to.deep.equal([])
    })

    it('refuses an invalid label before sending anything (UsageError)', async () => {
      const scope = api()
        .post(`${API_PREFIX}/create`)
        .reply(200, {backup_info: backup(ID, '2024-05-02T07:00:00Z')})
      for (const label of ['ab', '-nightly', '.nightly', 'a'.repeat(26), 'night ly']) {
        const error = await failure(client.create(label))
        expect(error, label).to.be.instanceOf(UsageError)
        expect(error.message).to.match(/^Invalid label/)
      }

      expect(scope.isDone(), 'no request was sent').to.equal(false)
      nock.cleanAll()
    })

    it('restore POSTs {"id"} and returns the restore, which has its own id', async () => {
      api()
        .post(`${API_PREFIX}/restore`, {id: ID})
        .reply(200, {backup_info: restoreOf('STATUS_RESTORING', {backup_id: ID})})
      const restore = await client.restore(ID)
      expect(restore.id).to.equal(RESTORE_ID)
      expect(restore.id).not.to.equal(ID)
      expect(restore.status).to.equal('STATUS_RESTORING')
    })

    it('delete sends DELETE with a JSON body {"id"} and accepts an empty 200', async () => {
      api({reqheaders: {authorization: `token=${TOKEN}`, 'content-type': 'application/json'}})
        .delete(`${API_PREFIX}/delete`, {id: ID})
        .reply(200, '')
      expect(await client.delete(ID)).to.equal(undefined)
    })

    it('keeps a path in the URL and drops trailing slashes', async () => {
      nock('https://lb.test').get(`/dcos${API_PREFIX}/list`).reply(200, {})
      expect(await new BackupClient({url: 'https://lb.test/dcos//'}).list()).to.deep.equal([])
    })

    it('refuses a URL that is not http(s), or that holds credentials (UsageError)', () => {
      expect(() => new BackupClient({url: 'ftp://dcos.test'})).to.throw(UsageError, 'only http and https')
      expect(() => new BackupClient({url: 'master.example.com'})).to.throw(UsageError, 'Invalid --url')
      expect(() => new BackupClient({url: 'https://admin:hunter2@dcos.test'})).to.throw(
        UsageError,
        'Credentials do not belong in --url',
      )
    })
  })

  describe('list and show', () => {
    it('reads the body {} as no backups', async () => {
      api().get(`${API_PREFIX}/list`).reply(200, {})
      expect(await client.list()).to.deep.equal([])
    })

    it('passes the prefix as a query parameter', async () => {
      api().get(`${API_PREFIX}/list`).query({prefix: 'night ly&x'}).reply(200, {})
      expect(await client.list('night ly&x')).to.deep.equal([])
    })

    it('sorts newest first by the full RFC 3339 timestamp, nanoseconds and offsets included', async () => {
      // As strings ".5Z" sorts before ".123456789Z"; as Dates the last two are equal; the offset one is the oldest.
      const entries = [
        backup('a-offset', '2024-05-02T08:59:59.9+02:00'),
        backup('b-half', '2024-05-02T07:00:00.5Z'),
        backup('c-nanos-788', '2024-05-02T07:00:00.123456788Z'),
        backup('d-nanos-789', '2024-05-02T07:00:00.123456789Z'),
        backup('e-whole', '2024-05-02T07:00:01Z'),
      ]
      api().get(`${API_PREFIX}/list`).reply(200, {backup_info: entries})
      const ids = (await client.list()).map((entry) => entry.id)
      expect(ids).to.deep.equal(['e-whole', 'b-half', 'd-nanos-789', 'c-nanos-788', 'a-offset'])
    })

    it('reads Go nulls for restores and component_status as empty', async () => {
      const entry = {...backup(ID, '2024-05-02T07:00:00Z'), component_status: null, restores: null}
      api()
        .get(`${API_PREFIX}/list`)
        .reply(200, {backup_info: [entry]})
      const [read] = await client.list()
      expect(read.restores).to.deep.equal([])
      expect(read.component_status).to.deep.equal({})
    })

    it('show asks with the id as prefix and returns the exact match only', async () => {
      api()
        .get(`${API_PREFIX}/list`)
        .query({prefix: ID})
        .reply(200, {backup_info: [backup(`${ID}x`, '2024-05-03T00:00:00Z'), backup(ID, '2024-05-02T00:00:00Z')]})
      expect((await client.show(ID)).id).to.equal(ID)
    })

    it('show of an unknown id is a UsageError naming it and dcos backup list', async () => {
      api().get(`${API_PREFIX}/list`).query({prefix: ID}).reply(200, {})
      const error = await failure(client.show(ID))
      expect(error).to.be.instanceOf(UsageError)
      expect(error.message).to.equal(`No backup with id ${ID}: see the ids with "dcos backup list"`)
    })
  })

  describe('errors', () => {
    /** The error of a list whose answer is mocked by `reply`, checked to be one line without the token. */
    async function listError(reply: (scope: nock.Interceptor) => nock.Scope): Promise<Error> {
      reply(api().get(`${API_PREFIX}/list`))
      const error = await failure(client.list())
      expect(error.message).not.to.include(TOKEN)
      expect(error.message).not.to.include('\n')
      return error
    }

    it('401: authentication failed, pass a valid token', async () => {
      const error = await listError((scope) => scope.reply(401, {errors: ['invalid token']}))
      expect(error).to.be.instanceOf(OperationError)
      expect(error.message).to.equal(
        `The backup service at ${URL}${API_PREFIX}/list refused the request: authentication failed (401): pass a valid token with --token or DCOS_ACS_TOKEN`,
      )
    })

    it('403: permission denied', async () => {
      const error = await listError((scope) => scope.reply(403, 'Forbidden'))
      expect(error).to.be.instanceOf(OperationError)
      expect(error.message).to.include('permission denied (403)')
    })

    it('400 {"errors"}: a UsageError with the messages joined by "; "', async () => {
      api()
        .delete(`${API_PREFIX}/delete`)
        .reply(400, {errors: ['no backup with id x', 'id must be a backup id']})
      const error = await failure(client.delete('x'))
      expect(error).to.be.instanceOf(UsageError)
      expect(error.message).to.equal('no backup with id x; id must be a backup id')
    })

    it('500 busy: an OperationError with the message as it is', async () => {
      api()
        .post(`${API_PREFIX}/create`)
        .reply(500, {errors: [BUSY_MESSAGE]})
      const error = await failure(client.create('nightly'))
      expect(error).to.be.instanceOf(OperationError)
      expect(error.message).to.equal(BUSY_MESSAGE)
    })

    it('never shows the token, even when the server echoes it back', async () => {
      const error = await listError((scope) => scope.reply(500, {errors: [`bad header Authorization: token=${TOKEN}`]}))
      expect(error.message).to.equal('bad header Authorization: token=***')
      const other = await listError((scope) => scope.reply(502, `<html>${TOKEN}</html>`))
      expect(other.message).to.include('***')
    })

    it('another status: the status code and an excerpt of the body', async () => {
      const error = await listError((scope) => scope.reply(502, '<html><body>502 Bad Gateway</body></html>'))
      expect(error).to.be.instanceOf(OperationError)
      expect(error.message).to.equal(
        `The backup service at ${URL}${API_PREFIX}/list answered HTTP 502 Bad Gateway: "<html><body>502 Bad Gateway</body></html>"`,
      )
      const long = await listError((scope) => scope.reply(404, 'x'.repeat(5000)))
      expect(long.message).to.include('answered HTTP 404')
      expect(long.message).to.include('is --url the address of a DC/OS cluster with the backup service?')
      expect(long.message.length).to.be.below(400)
    })

    it('a redirect: names where to', async () => {
      const error = await listError((scope) =>
        scope.reply(307, '', {location: 'https://other.test/system/v1/backup/v1/list'}),
      )
      expect(error.message).to.include('answered HTTP 307')
      expect(error.message).to.include('redirected to https://other.test/system/v1/backup/v1/list')
    })

    it('a 200 that is not JSON, or JSON of another shape: says what came back', async () => {
      const html = await listError((scope) => scope.reply(200, '<html>login</html>'))
      expect(html).to.be.instanceOf(OperationError)
      expect(html.message).to.equal(
        `The backup service at ${URL}${API_PREFIX}/list sent an unexpected answer: HTTP 200 with a body that is not JSON: "<html>login</html>"`,
      )
      const shape = await listError((scope) => scope.reply(200, {backup_info: {id: ID}}))
      expect(shape.message).to.include('sent an unexpected answer: expected {"backup_info": [...]}')
      api().post(`${API_PREFIX}/create`).reply(200, {})
      expect((await failure(client.create('nightly'))).message).to.include('expected {"backup_info": {...}}')
    })

    it('connection refused: one line naming the URL and what to check', async () => {
      nock.enableNetConnect('127.0.0.1')
      try {
        const port = await closedPort()
        const error = await failure(new BackupClient({token: TOKEN, url: `http://127.0.0.1:${port}`}).list())
        expect(error).to.be.instanceOf(OperationError)
        expect(error.message).to.equal(
          `Cannot reach the backup service at http://127.0.0.1:${port}${API_PREFIX}/list: connection refused; check --url (DCOS_URL) and that the cluster is reachable`,
        )
      } finally {
        nock.disableNetConnect()
      }
    })

    it('connection reset and unknown host', async () => {
      const reset = await listError((scope) => scope.replyWithError(networkError('ECONNRESET', 'socket hang up')))
      expect(reset).to.be.instanceOf(OperationError)
      expect(reset.message).to.match(
        /^Cannot reach the backup service at https:\/\/dcos\.test\/system\/v1\/backup\/v1\/list: connection reset; check --url/,
      )
      const dns = await listError((scope) =>
        scope.replyWithError(networkError('ENOTFOUND', 'getaddrinfo ENOTFOUND dcos.test')),
      )
      expect(dns.message).to.include(': host not found; check the host name in --url (DCOS_URL)')
    })

    it('gives up on a slow answer at the request deadline', async () => {
      api().get(`${API_PREFIX}/list`).delay(3000).reply(200, {})
      const started = Date.now()
      const error = await failure(new BackupClient({timeoutMs: 200, url: URL}).list())
      expect(Date.now() - started).to.be.within(150, 1500)
      expect(error).to.be.instanceOf(OperationError)
      expect(error.message).to.equal(
        `Cannot reach the backup service at ${URL}${API_PREFIX}/list: no answer within 0.2s; check --url (DCOS_URL) and that the cluster is reachable`,
      )
    })
  })

  describe('waiting', () => {
    const fast = {intervalMs: 10, timeoutMs: 5000}

    function listOnce(entry: BackupInfo, prefix = ID) {
      api()
        .get(`${API_PREFIX}/list`)
        .query({prefix})
        .reply(200, {backup_info: [entry]})
    }

    it('waitForBackup polls until ready, reporting each change of status once', async () => {
      listOnce(backup(ID, '2024-05-02T07:00:00Z', 'STATUS_BACKING_UP'))
      listOnce(backup(ID, '2024-05-02T07:00:00Z', 'STATUS_BACKING_UP'))
      listOnce(backup(ID, '2024-05-02T07:00:00Z', 'STATUS_READY'))
      const statuses: string[] = []
      const final = await client.waitForBackup(ID, {...fast, onStatus: (status) => statuses.push(status)})
      expect(final.status).to.equal('STATUS_READY')
      expect(statuses).to.deep.equal(['STATUS_BACKING_UP', 'STATUS_READY'])
    })

    it('waitForBackup is not done while a component is not ready', async () => {
      const pending = {
        ...backup(ID, '2024-05-02T07:00:00Z'),
        component_status: {marathon: {status: 'STATUS_BACKING_UP' as Status}},
      }
      listOnce(pending)
      listOnce(backup(ID, '2024-05-02T07:00:00Z', 'STATUS_READY'))
      expect((await client.waitForBackup(ID, fast)).component_status.marathon.status).to.equal('STATUS_READY')
    })

    it('waitForBackup returns a failed backup (a component in STATUS_ERROR is enough)', async () => {
      const failed = {
        ...backup(ID, '2024-05-02T07:00:00Z', 'STATUS_BACKING_UP'),
        component_status: {marathon: {reason: 'znode gone', status: 'STATUS_ERROR' as Status}},
      }
      listOnce(failed)
      expect((await client.waitForBackup(ID, fast)).component_status.marathon.reason).to.equal('znode gone')
    })

    it('waitForBackup times out with an OperationError naming the status', async () => {
      api()
        .get(`${API_PREFIX}/list`)
        .query({prefix: ID})
        .times(100)
        .reply(200, {backup_info: [backup(ID, '2024-05-02T07:00:00Z', 'STATUS_BACKING_UP')]})
      const started = Date.now()
      const error = await failure(client.waitForBackup(ID, {intervalMs: 20, timeoutMs: 200}))
      expect(Date.now() - started).to.be.within(150, 1500)
      expect(error).to.be.instanceOf(OperationError)
      expect(error.message).to.equal(`Timed out after 0.2s waiting for backup ${ID}: it is still STATUS_BACKING_UP`)
      nock.cleanAll()
    })

    it("waitForRestore polls the backup's restores for the restore's own id", async () => {
      const other = {...restoreOf('STATUS_READY'), id: 'restore-00000000-0000-4000-8000-000000000000'}
      listOnce(backup(ID, '2024-05-02T07:00:00Z', 'STATUS_READY', [other, restoreOf('STATUS_RESTORING')]))
      listOnce(
        backup(ID, '2024-05-02T07:00:00Z', 'STATUS_READY', [
          other,
          restoreOf('STATUS_ERROR', {reason: 'boom', safety_backup_id: 'pre-restore-1'}),
        ]),
      )
      const statuses: string[] = []
      const restore = await client.waitForRestore(ID, RESTORE_ID, {
        ...fast,
        onStatus: (status) => statuses.push(status),
      })
      expect(restore).to.include({
        id: RESTORE_ID,
        reason: 'boom',
        safety_backup_id: 'pre-restore-1',
        status: 'STATUS_ERROR',
      })
      expect(statuses).to.deep.equal(['STATUS_RESTORING', 'STATUS_ERROR'])
    })

    it('waitForBackup rides out a few failed polls (a master failing over), then goes on', async () => {
      api().get(`${API_PREFIX}/list`).query({prefix: ID}).reply(502, 'Bad Gateway')
      api().get(`${API_PREFIX}/list`).query({prefix: ID}).replyWithError({code: 'ECONNRESET'})
      listOnce({...backup(ID, '2024-05-02T07:00:00Z'), status: 'STATUS_READY'})
      expect((await client.waitForBackup(ID, fast)).status).to.equal('STATUS_READY')
    })

    it('waitForBackup gives up after four failed polls in a row', async () => {
      api()
        .get(`${API_PREFIX}/list`)
        .query({prefix: ID})
        .times(4)
        .reply(503, {errors: ['unavailable']})
      const error = await failure(client.waitForBackup(ID, fast))
      expect(error).to.be.instanceOf(OperationError)
      expect(error.message).to.include('unavailable')
    })

    it('waitForRestore fails when the backup keeps not listing the restore', async () => {
      for (let poll = 0; poll < 4; poll++) listOnce(backup(ID, '2024-05-02T07:00:00Z'))
      const error = await failure(client.waitForRestore(ID, RESTORE_ID, fast))
      expect(error).to.be.instanceOf(OperationError)
      expect(error.message).to.equal(`Backup ${ID} lists no restore ${RESTORE_ID}: see "dcos backup show ${ID}"`)
    })
  })

  describe('timestamps', () => {
    it('reads RFC 3339 to the nanosecond, with offsets', () => {
      expect(timestampNanos('1970-01-01T00:00:00.000000001Z')).to.equal(1n)
      expect(timestampNanos('1970-01-01T00:00:01Z')).to.equal(1_000_000_000n)
      expect(timestampNanos('1970-01-01T01:00:00.5+01:00')).to.equal(500_000_000n)
      expect(timestampNanos('yesterday')).to.equal(undefined)
    })

    it('orders unreadable timestamps last', () => {
      const sorted = [
        {id: 'x', timestamp: ''},
        {id: 'y', timestamp: '2024-01-01T00:00:00Z'},
      ].sort(newestFirst)
      expect(sorted.map((entry) => entry.id)).to.deep.equal(['y', 'x'])
    })
  })
})
