/**
 * S3 misbehaving (nock stands in for the store: s3rver cannot be made to fail on purpose): throttling
 * and server errors are retried with backoff, then reported on one line without the keys.
 */
import {expect} from 'chai'
import nock from 'nock'
import {Readable} from 'node:stream'

import {OperationError} from '../../src/errors.js'
import {resolveLocation} from '../../src/providers/index.js'
import {rejection} from '../helpers/streams.js'

const ENDPOINT = 'http://s3.faults.test'
const SECRET = 'fault-secret-key-0123456789'
const LOCATION = `s3://bucket/dir/archive.tar.gz?region=us-east-1&access_key=AKFAULTS&secret_key=${SECRET}&endpoint=${encodeURIComponent(ENDPOINT)}`
const OBJECT = '/bucket/dir/archive.tar.gz'
/** The SDK tags each request with its operation. */
const PUT = `${OBJECT}?x-id=PutObject`

const s3Error = (code: string) => `<?xml version="1.0" encoding="UTF-8"?><Error><Code>${code}</Code><Message>${code}</Message></Error>`
const body = () => Readable.from([Buffer.from('a small archive')])

describe('S3 faults', () => {
  before(() => {
    // Other files restore nock when they end, so that later ones reach real servers (s3rver).
    if (!nock.isActive()) nock.activate()
    nock.disableNetConnect()
  })

  afterEach(() => nock.cleanAll())

  after(() => {
    nock.enableNetConnect()
    nock.restore()
  })

  function store() {
    // Nothing is at the key yet: the provider looks before it writes.
    return nock(ENDPOINT).head(OBJECT).reply(404)
  }

  it('retries a throttled (503 SlowDown) and a failed (500) upload, then succeeds', async () => {
    store()
    const scope = nock(ENDPOINT).put(PUT).reply(503, s3Error('SlowDown')).put(PUT).reply(500, s3Error('InternalError')).put(PUT).reply(200, '')
    expect(await resolveLocation(LOCATION).write(body())).to.equal(15)
    expect(scope.isDone()).to.equal(true)
  })

  it('retries a reset connection, then succeeds', async () => {
    store()
    const scope = nock(ENDPOINT).put(PUT).replyWithError(Object.assign(new Error('socket hang up'), {code: 'ECONNRESET'})).put(PUT).reply(200, '')
    expect(await resolveLocation(LOCATION).write(body())).to.equal(15)
    expect(scope.isDone()).to.equal(true)
  })

  it('gives up after three attempts with one clear line that names the problem and not the keys', async () => {
    store()
    const scope = nock(ENDPOINT).put(PUT).times(3).reply(503, s3Error('SlowDown'))
    const error = await rejection(resolveLocation(LOCATION).write(body()))
    expect(error).to.be.instanceOf(OperationError)
    expect(error.message.split('\n')).to.have.length(1)
    expect(error.message).to.match(/SlowDown|503/)
    expect(error.message).to.not.include(SECRET)
    expect(scope.isDone(), 'three attempts').to.equal(true)
  })
})
