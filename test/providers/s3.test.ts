import {GetObjectCommand, HeadObjectCommand, ListMultipartUploadsCommand, PutObjectCommand} from '@aws-sdk/client-s3'
import {expect} from 'chai'
import {randomBytes} from 'node:crypto'
import {PassThrough, Readable} from 'node:stream'

import {OperationError, UsageError} from '../../src/errors.js'
import {resolveLocation} from '../../src/providers/index.js'
import {S3_ACCESS_KEY, S3_SECRET_KEY, type S3Server, startS3} from '../harness/s3.js'
import {secret} from '../helpers/secrets.js'
import {collect, rejection} from '../helpers/streams.js'

const MiB = 1024 * 1024

// Keys s3rver does not know: its refusal must not show them.
const accessKey = secret('AKIAEXAMPLEREDACTION')
const secretKey = secret('wJalr/XUtnFEMI+K7MDENG')
// Raw in a location, each of these cut redaction by pattern short: the tail after "#", " " or ": " showed.
const oddSecrets = [
  secret('hashed#tail-of-secret'),
  secret('spaced out-tail-of-secret'),
  secret('colon: tail-of-secret'),
]
const endpointPassword = secret('endpoint-pass-word')

describe('s3 provider', () => {
  let s3: S3Server

  before(async () => {
    s3 = await startS3()
  })

  after(async () => {
    await s3?.stop()
  })

  const put = (key: string, body: string) =>
    s3.client.send(new PutObjectCommand({Bucket: s3.bucket, Key: key, Body: body}))
  const get = async (key: string) => {
    const {Body} = await s3.client.send(new GetObjectCommand({Bucket: s3.bucket, Key: key}))
    return Body!.transformToString()
  }

  const uploadsOf = async (key: string) => {
    const {Uploads = []} = await s3.client.send(new ListMultipartUploadsCommand({Bucket: s3.bucket}))
    return Uploads.filter((upload) => upload.Key === key)
  }

  const waitForUpload = async (key: string) => {
    for (let attempt = 0; attempt < 500; attempt++) {
      if ((await uploadsOf(key)).length > 0) return
      await new Promise((resolve) => setTimeout(resolve, 20))
    }

    throw new Error(`no multipart upload of ${key} started`)
  }

  const waitFor = async (what: string, done: () => boolean) => {
    for (let attempt = 0; attempt < 500 && !done(); attempt++) await new Promise((resolve) => setTimeout(resolve, 20))
    if (!done()) throw new Error(`timed out waiting for ${what}`)
  }

  const exists = (key: string) =>
    s3.client.send(new HeadObjectCommand({Bucket: s3.bucket, Key: key})).then(
      () => true,
      (error: Error) => (error.name === 'NotFound' ? false : Promise.reject(error)),
    )

  it('round-trips a stream larger than two parts through a multipart upload', async () => {
    const data = randomBytes(17 * MiB + 321)
    const provider = resolveLocation(s3.uri('round/zk.tar.gz'))
    const source = new PassThrough()
    const written = provider.write(source)
    source.write(data.subarray(0, 9 * MiB))
    await waitForUpload('round/zk.tar.gz')

    expect(await exists('round/zk.tar.gz')).to.equal(false)
    source.end(data.subarray(9 * MiB))
    expect(await written).to.equal(data.length)
    expect((await collect(await provider.read())).equals(data)).to.equal(true)
    expect(await uploadsOf('round/zk.tar.gz')).to.deep.equal([])
  })

  /** The UploadParts of `key` s3rver answered, as "part:status". */
  const partsOf = (key: string) =>
    s3.requests
      .filter((request) => request.key === key && request.partNumber)
      .map((request) => `${request.partNumber}:${request.status}`)

  /** Whether the multipart upload of `key` was aborted (AbortMultipartUpload answered 204). */
  const aborted = (key: string) =>
    s3.requests.some((request) => request.key === key && request.method === 'DELETE' && request.status === 204)

  it('leaves no object and no multipart upload when the source fails mid-upload, after the first part', async () => {
    const key = 'failed/zk.tar.gz'
    const provider = resolveLocation(s3.uri(key))
    const source = new PassThrough()
    const written = provider.write(source)
    source.write(randomBytes(9 * MiB))
    await waitFor('the first part to be stored', () => partsOf(key).includes('1:200'))
    source.destroy(new Error('ZooKeeper went away'))

    const error = await rejection(written)
    expect(error).to.be.instanceOf(OperationError)
    expect(error.message).to.equal(`Cannot write ${provider.display}: ZooKeeper went away`)
    expect(await exists(key)).to.equal(false)
    expect(aborted(key), 'the multipart upload was aborted').to.equal(true)
    expect(await uploadsOf(key)).to.deep.equal([])
  })

  it('retries a part whose upload fails (503 SlowDown, then 500), and the object is intact', async () => {
    const key = 'retried/zk.tar.gz'
    const data = randomBytes(17 * MiB + 123)
    s3.failParts((part, attempt) => (part === 2 && attempt <= 2 ? [503, 500][attempt - 1] : undefined))
    try {
      expect(await resolveLocation(s3.uri(key)).write(Readable.from([data]))).to.equal(data.length)
    } finally {
      s3.failParts(undefined)
    }

    expect(partsOf(key).sort()).to.deep.equal(['1:200', '2:200', '2:500', '2:503', '3:200'])
    const {Body} = await s3.client.send(new GetObjectCommand({Bucket: s3.bucket, Key: key}))
    expect(Buffer.from(await Body!.transformToByteArray()).equals(data)).to.equal(true)
    expect(await uploadsOf(key)).to.deep.equal([])
  })

  it('gives up on a part that fails three times: one line, no object, the multipart upload aborted', async () => {
    const key = 'given-up/zk.tar.gz'
    s3.failParts((part) => (part === 2 ? 500 : undefined))
    let error: Error
    try {
      error = await rejection(resolveLocation(s3.uri(key)).write(Readable.from([randomBytes(17 * MiB)])))
    } finally {
      s3.failParts(undefined)
    }

    expect(error).to.be.instanceOf(OperationError)
    expect(error.message.split('\n')).to.have.length(1)
    expect(error.message).to.match(/InternalError/)
    expect(partsOf(key).filter((part) => part.startsWith('2:'))).to.deep.equal(['2:500', '2:500', '2:500'])
    expect(partsOf(key)).to.include('1:200')
    expect(await exists(key)).to.equal(false)
    expect(aborted(key), 'the multipart upload was aborted').to.equal(true)
    expect(await uploadsOf(key)).to.deep.equal([])
  })

  it('refuses to replace an existing object without overwrite, keeping its bytes', async () => {
    await put('kept/zk.tar.gz', 'old bytes')
    const provider = resolveLocation(s3.uri('kept/zk.tar.gz'))

    const error = await rejection(provider.write(Readable.from([Buffer.from('new')])))
    expect(error).to.be.instanceOf(UsageError)
    expect(error.message).to.equal(`${provider.display} already exists: choose another location or pass --force`)
    expect(await get('kept/zk.tar.gz')).to.equal('old bytes')
  })

  it('replaces an existing object with overwrite', async () => {
    await put('replaced/zk.tar.gz', 'old bytes')

    expect(
      await resolveLocation(s3.uri('replaced/zk.tar.gz')).write(Readable.from([Buffer.from('new')]), {overwrite: true}),
    ).to.equal(3)
    expect(await get('replaced/zk.tar.gz')).to.equal('new')
  })

  it('lists the keys under a prefix, named relative to its "directory"', async () => {
    await put('listed/backup-1.tar.gz', '123')
    await put('listed/backup-2.tar.gz', '12345')
    await put('listed/backup-x/nested.tar.gz', '1')
    await put('listed/other.txt', '1')

    const backups = await resolveLocation(s3.uri('listed/backup-')).list()
    expect(backups.map(({name, size}) => ({name, size}))).to.deep.equal([
      {name: 'backup-1.tar.gz', size: 3},
      {name: 'backup-2.tar.gz', size: 5},
      {name: 'backup-x/nested.tar.gz', size: 1},
    ])
    expect(backups[0].location).to.equal(resolveLocation(s3.uri('listed/backup-1.tar.gz')).display)
    expect(backups[0].modified).to.be.instanceOf(Date)
    expect((await resolveLocation(s3.uri('listed/')).list()).map((entry) => entry.name)).to.deep.equal([
      'backup-1.tar.gz',
      'backup-2.tar.gz',
      'backup-x/nested.tar.gz',
      'other.txt',
    ])
    expect(await resolveLocation(s3.uri('nothing-here/')).list()).to.deep.equal([])
  })

  it('stats and deletes an object', async () => {
    await put('deleted/zk.tar.gz', '12345')
    const provider = resolveLocation(s3.uri('deleted/zk.tar.gz'))

    expect(await provider.stat()).to.include({location: provider.display, name: 'zk.tar.gz', size: 5})
    await provider.delete()
    expect(await exists('deleted/zk.tar.gz')).to.equal(false)
    expect(await provider.stat()).to.equal(undefined)

    const error = await rejection(provider.delete())
    expect(error).to.be.instanceOf(UsageError)
    expect(error.message).to.equal(`No archive at ${provider.display}`)
  })

  it('reports a missing key as UsageError without showing the keys', async () => {
    const provider = resolveLocation(s3.uri('missing/zk.tar.gz'))
    const error = await rejection(provider.read())

    expect(error).to.be.instanceOf(UsageError)
    expect(error.message).to.equal(
      `No archive at s3://${s3.bucket}/missing/zk.tar.gz?region=us-east-1&access_key=***&secret_key=***&endpoint=${s3.endpoint}`,
    )
  })

  it('reports a missing bucket as UsageError naming it', async () => {
    const location = s3.uri('zk.tar.gz').replace(`s3://${s3.bucket}/`, 's3://no-such-bucket/')
    for (const error of [
      await rejection(resolveLocation(location).read()),
      await rejection(resolveLocation(location).list()),
      await rejection(resolveLocation(location).write(Readable.from([Buffer.from('x')]))),
    ]) {
      expect(error).to.be.instanceOf(UsageError)
      expect(error.message).to.include('"no-such-bucket"')
      expect(error.message).not.to.include(S3_SECRET_KEY)
    }
  })

  it('keeps the access and secret keys out of display and of the messages of failed requests', async () => {
    const location = `s3://${s3.bucket}/zk.tar.gz?access_key=${accessKey}&secret_key=${encodeURIComponent(secretKey)}&endpoint=${s3.endpoint}`
    const provider = resolveLocation(location)

    const error = await rejection(provider.read())
    expect(error).to.be.instanceOf(OperationError)
    expect(error.message).to.include('InvalidAccessKeyId')
    for (const text of [provider.display, error.message, String(error.cause ?? '')]) {
      expect(text).not.to.include(accessKey)
      expect(text).not.to.include(secretKey)
      expect(text).not.to.include(encodeURIComponent(secretKey))
    }
  })

  it('masks secret keys holding "#", a space or ": " whole, in display and in every message', async () => {
    for (const odd of oddSecrets) {
      const location = `s3://${s3.bucket}/zk.tar.gz?access_key=${accessKey}&secret_key=${odd}&endpoint=${s3.endpoint}`
      const provider = resolveLocation(location)
      const failed = await rejection(provider.read())
      const badBucket = await rejection(Promise.resolve().then(() => resolveLocation(location.replace(s3.bucket, 'B'))))
      const incomplete = await rejection(
        Promise.resolve().then(() => resolveLocation(`s3://${s3.bucket}/k?secret_key=${odd}`)),
      )
      for (const text of [provider.display, failed.message, badBucket.message, incomplete.message]) {
        expect(text).to.include('secret_key=***')
        expect(text).not.to.include('tail-of-secret')
      }
    }
  })

  it('keeps the password of an endpoint with userinfo out of display and messages', async () => {
    const endpoint = s3.endpoint.replace('://', `://user:${endpointPassword}@`)
    const provider = resolveLocation(
      `s3://${s3.bucket}/zk.tar.gz?access_key=${accessKey}&secret_key=x${accessKey}&endpoint=${endpoint}`,
    )
    const failed = await rejection(provider.read())
    const invalid = await rejection(
      Promise.resolve().then(() => resolveLocation(`s3://${s3.bucket}/k?endpoint=user:${endpointPassword}@minio:9000`)),
    )
    for (const text of [provider.display, failed.message, invalid.message])
      expect(text).not.to.include(endpointPassword)
  })

  it('uses the default credential chain when the location has no keys', async () => {
    const saved = {id: process.env.AWS_ACCESS_KEY_ID, secret: process.env.AWS_SECRET_ACCESS_KEY}
    const location = `s3://${s3.bucket}/env/zk.tar.gz?endpoint=${s3.endpoint}`
    try {
      process.env.AWS_ACCESS_KEY_ID = 'AKIAFROMENVIRONMENT'
      process.env.AWS_SECRET_ACCESS_KEY = S3_SECRET_KEY
      const refused = await rejection(resolveLocation(location).stat())
      expect(refused.message).to.include('HTTP 403')

      process.env.AWS_ACCESS_KEY_ID = S3_ACCESS_KEY
      expect(await resolveLocation(location).write(Readable.from([Buffer.from('env')]))).to.equal(3)
      expect(await get('env/zk.tar.gz')).to.equal('env')
    } finally {
      for (const [name, value] of [
        ['AWS_ACCESS_KEY_ID', saved.id],
        ['AWS_SECRET_ACCESS_KEY', saved.secret],
      ] as const) {
        if (value === undefined) delete process.env[name]
        else process.env[name] = value
      }
    }
  })

  it('names children under the key, keeping the query', async () => {
    const child = resolveLocation(s3.uri('parent')).child('zk.tar.gz')
    expect(child.display).to.equal(resolveLocation(s3.uri('parent/zk.tar.gz')).display)

    await child.write(Readable.from([Buffer.from('child')]))
    expect(await get('parent/zk.tar.gz')).to.equal('child')
  })

  it('requires an object key to read, write or delete', async () => {
    const bucketOnly = resolveLocation(s3.uri(''))
    for (const error of [
      await rejection(bucketOnly.read()),
      await rejection(bucketOnly.write(Readable.from([]))),
      await rejection(bucketOnly.delete()),
    ]) {
      expect(error).to.be.instanceOf(UsageError)
      expect(error.message).to.include('names no object key')
    }
  })
})
