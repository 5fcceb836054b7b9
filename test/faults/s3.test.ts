/**
 * S3 misbehaving: throttling and server errors are retried with backoff, then reported on one line
 * without the keys. Single uploads fail through nock standing in for the store; the parts of a
 * multipart upload fail in s3rver itself (the harness fails the UploadParts a test picks).
 */
import {ListMultipartUploadsCommand} from '@aws-sdk/client-s3'
import {expect} from 'chai'
import nock from 'nock'
import {randomBytes} from 'node:crypto'
import {Readable} from 'node:stream'

import type {ZkSession} from '../../src/zk/session.js'

import {OperationError} from '../../src/errors.js'
import {resolveLocation} from '../../src/providers/index.js'
import {sharedEnsemble} from '../harness/hooks.js'
import {S3_SECRET_KEY, type S3Server, startS3} from '../harness/s3.js'
import {dcos, expectExit, zkUri} from '../helpers/cli.js'
import {expectSameTree, type OracleTree, readTreeIndependently} from '../helpers/oracle.js'
import {rejection} from '../helpers/streams.js'
import {connect, seedTree, uniquePath} from '../helpers/tree.js'

const ENDPOINT = 'http://s3.faults.test'
const SECRET = 'fault-secret-key-0123456789'
const LOCATION = `s3://bucket/dir/archive.tar.gz?region=us-east-1&access_key=AKFAULTS&secret_key=${SECRET}&endpoint=${encodeURIComponent(ENDPOINT)}`
const OBJECT = '/bucket/dir/archive.tar.gz'
/** The SDK tags each request with its operation. */
const PUT = `${OBJECT}?x-id=PutObject`

const s3Error = (code: string) =>
  `<?xml version="1.0" encoding="UTF-8"?><Error><Code>${code}</Code><Message>${code}</Message></Error>`
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
    const scope = nock(ENDPOINT)
      .put(PUT)
      .reply(503, s3Error('SlowDown'))
      .put(PUT)
      .reply(500, s3Error('InternalError'))
      .put(PUT)
      .reply(200, '')
    expect(await resolveLocation(LOCATION).write(body())).to.equal(15)
    expect(scope.isDone()).to.equal(true)
  })

  it('retries a reset connection, then succeeds', async () => {
    store()
    const scope = nock(ENDPOINT)
      .put(PUT)
      .replyWithError(Object.assign(new Error('socket hang up'), {code: 'ECONNRESET'}))
      .put(PUT)
      .reply(200, '')
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

/** src/providers/s3.ts uploads in parts of 8 MiB. */
const PART_BYTES = 8 * 1024 * 1024

describe('S3 faults in a multipart upload (s3rver)', function () {
  this.timeout(120_000)
  let s3: S3Server
  let hosts: string
  let session: ZkSession
  let live: OracleTree
  const root = uniquePath('s3-parts')
  const copy = uniquePath('s3-parts-copy')

  before(async () => {
    ;[s3, hosts] = await Promise.all([startS3(), sharedEnsemble().then((ensemble) => ensemble.connectString)])
    session = await connect(hosts)
    // 12 x 900 kB of incompressible data: an archive of more than one part.
    await seedTree(session, root, [
      {path: '/'},
      ...Array.from({length: 12}, (_, index) => ({data: randomBytes(900_000), path: `/blob-${index}`})),
    ])
    live = await readTreeIndependently(hosts, root)
  })

  after(async () => {
    s3?.failParts(undefined)
    // 22 MB the rest of the suite need not carry in the shared ensemble.
    for (const tree of session ? [root, copy] : []) {
      if (!(await session.exists(tree))) continue
      await Promise.all(Array.from({length: 12}, (_, index) => session.delete(`${tree}/blob-${index}`)))
      await session.delete(tree)
    }

    await session?.close()

    await s3?.stop()
  })

  const partsOf = (key: string) =>
    s3.requests
      .filter((request) => request.key === key && request.partNumber)
      .map((request) => `${request.partNumber}:${request.status}`)
  const uploadsOf = async (key: string) => {
    const {Uploads = []} = await s3.client.send(new ListMultipartUploadsCommand({Bucket: s3.bucket}))
    return Uploads.filter((upload) => upload.Key === key)
  }

  it('a part that keeps failing after the first is stored: exit 1, one line without the keys, no object, the upload aborted', async () => {
    const key = 'faults/part-fails.tar.gz'
    s3.failParts((part) => (part === 2 ? 500 : undefined))
    const result = await dcos(['zk', 'backup', s3.uri(key), '--zk', zkUri(hosts, root)])
    s3.failParts(undefined)

    expect(result.code, result.stderr).to.equal(1)
    expect(result.stderr.trim().split('\n')).to.have.length(1)
    expect(result.stderr).to.match(/^Error: Cannot write s3:\/\/backups\/faults\/part-fails\.tar\.gz\?.*InternalError/)
    expect(result.stderr).to.not.include(S3_SECRET_KEY)
    expect(partsOf(key)).to.include('1:200')
    expect(partsOf(key).filter((part) => part.startsWith('2:'))).to.deep.equal(['2:500', '2:500', '2:500'])
    expect(
      s3.requests.some((request) => request.key === key && request.method === 'DELETE' && request.status === 204),
      'aborted',
    ).to.equal(true)
    expect(await uploadsOf(key)).to.deep.equal([])
    expect(await resolveLocation(s3.uri(key)).stat()).to.equal(undefined)
  })

  it('a part that fails once (503 SlowDown) is sent again: the backup completes and restores the tree exactly', async () => {
    const key = 'faults/part-retried.tar.gz'
    s3.failParts((part, attempt) => (part === 1 && attempt === 1 ? 503 : undefined))
    const result = await dcos(['zk', 'backup', s3.uri(key), '--zk', zkUri(hosts, root)])
    s3.failParts(undefined)

    expectExit(result, 0)
    expect(partsOf(key).filter((part) => part.startsWith('1:'))).to.deep.equal(['1:503', '1:200'])
    expect((await resolveLocation(s3.uri(key)).stat())!.size).to.be.greaterThan(PART_BYTES)
    expect(await uploadsOf(key)).to.deep.equal([])
    expectExit(await dcos(['zk', 'restore', s3.uri(key), '--zk', zkUri(hosts, copy)]), 0)
    await expectSameTree(live, hosts, copy)
  })
})
