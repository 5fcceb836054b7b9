import type {AddressInfo} from 'node:net'

/**
 * Test harness: a real s3rver (filesystem-backed fake S3) on a free loopback port, with one bucket.
 */
import {S3Client} from '@aws-sdk/client-s3'
import {mkdtemp, readdir, readFile, rm} from 'node:fs/promises'
import {createRequire} from 'node:module'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {scanFiles, secret} from '../helpers/secrets.js'

interface KoaContext {
  body: unknown
  method: string
  path: string
  query: Record<string, unknown>
  req: AsyncIterable<Buffer>
  status: number
  type: string
}

type Middleware = (ctx: KoaContext, next: () => Promise<void>) => Promise<void>

interface S3rver {
  close(): Promise<void>
  middleware: Middleware[]
  run(): Promise<AddressInfo>
}

// s3rver is CommonJS without type declarations: load it through require and type what we use.
const require = createRequire(import.meta.url)
const S3rver = require('s3rver') as new (options: object) => S3rver
const {DUMMY_ACCOUNT} = require('s3rver/lib/models/account.js') as {
  DUMMY_ACCOUNT: {createKeyPair(id: string, secret: string): void}
}

/** The keys s3rver accepts: registered as secrets, so the suite fails if any output shows them. */
export const S3_ACCESS_KEY = secret('AKIATESTSCAN7Q2XH4ZP')
export const S3_SECRET_KEY = secret('tEst/sEcrEt+kEy=9vL2mW8qR4')
DUMMY_ACCOUNT.createKeyPair(S3_ACCESS_KEY, S3_SECRET_KEY)

/** A request s3rver answered: what it was and the status it got. */
export interface S3Request {
  key: string
  method: string
  /** Set for UploadPart. */
  partNumber?: number
  status: number
  uploadId?: string
}

/** Decides whether to fail an UploadPart (its `attempt`, counted from 1 per part): a status, or undefined to let it through. */
export type PartFault = (partNumber: number, attempt: number) => number | undefined

export interface S3Server {
  bucket: string
  client: S3Client
  endpoint: string
  /** Fail the UploadParts it picks with that status (an S3 error body), until set to undefined. */
  failParts(fault: PartFault | undefined): void
  /** Every request so far, in the order answered. */
  requests: S3Request[]
  stop(): Promise<void>
  /** s3://<bucket>/<key> with the region, the keys and the endpoint as query parameters. */
  uri(key: string): string
}

export async function startS3(): Promise<S3Server> {
  const bucket = 'backups'
  const directory = await mkdtemp(join(tmpdir(), 's3rver-'))
  const server = new S3rver({
    address: '127.0.0.1',
    port: 0,
    silent: true,
    directory,
    configureBuckets: [{name: bucket}],
  })
  const requests: S3Request[] = []
  let fault: PartFault | undefined
  server.middleware.unshift(multipartUploadsMiddleware(directory))
  server.middleware.unshift(faultsMiddleware(requests, () => fault))
  const {port} = await server.run()
  const endpoint = `http://127.0.0.1:${port}`
  const client = new S3Client({
    region: 'us-east-1',
    endpoint,
    forcePathStyle: true,
    credentials: {accessKeyId: S3_ACCESS_KEY, secretAccessKey: S3_SECRET_KEY},
  })
  return {
    endpoint,
    bucket,
    requests,
    failParts(chosen) {
      fault = chosen
    },
    uri: (key) =>
      `s3://${bucket}/${key}?region=us-east-1&access_key=${S3_ACCESS_KEY}&secret_key=${encodeURIComponent(S3_SECRET_KEY)}&endpoint=${endpoint}`,
    client,
    async stop() {
      client.destroy()
      await server.close()
      await scanFiles(directory)
      await rm(directory, {recursive: true, force: true})
    },
  }
}

/** Logs every request, and answers the UploadParts `fault()` picks with its status (having read the part, as S3 does). */
function faultsMiddleware(requests: S3Request[], fault: () => PartFault | undefined): Middleware {
  const attempts = new Map<string, number>()
  return async (ctx, next) => {
    const rest = ctx.path.split('/').slice(2)
    const {partNumber, uploadId} = ctx.query
    const request: S3Request = {key: rest.join('/'), method: ctx.method, status: 0}
    if (ctx.method === 'PUT' && typeof partNumber === 'string' && typeof uploadId === 'string') {
      Object.assign(request, {partNumber: Number(partNumber), uploadId})
      const attempt = (attempts.get(`${uploadId}/${partNumber}`) ?? 0) + 1
      attempts.set(`${uploadId}/${partNumber}`, attempt)
      const status = fault()?.(Number(partNumber), attempt)
      if (status !== undefined) {
        for await (const chunk of ctx.req) void chunk
        ctx.status = status
        ctx.type = 'application/xml'
        const code = status === 503 ? 'SlowDown' : 'InternalError'
        ctx.body = `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>injected ${code}</Message></Error>`
        requests.push({...request, status})
        return
      }
    }

    await next()
    requests.push({...request, status: ctx.status})
  }
}

/**
 * s3rver 3.7 has no AbortMultipartUpload (it answers MethodNotAllowed) and no ListMultipartUploads
 * (NotImplemented). Both are added here over its filesystem store, where an upload in progress is
 * the directory <root>/<bucket>/._S3rver_uploads/<uploadId> holding a "key" file and the parts.
 */
function multipartUploadsMiddleware(root: string): Middleware {
  return async (ctx, next) => {
    const [, bucket = '', ...rest] = ctx.path.split('/')
    const key = rest.join('/')
    const uploads = join(root, bucket, '._S3rver_uploads')
    if (ctx.method === 'DELETE' && key && typeof ctx.query.uploadId === 'string') {
      const upload = join(uploads, ctx.query.uploadId)
      const exists = await readdir(upload).then(
        () => true,
        () => false,
      )
      await rm(upload, {recursive: true, force: true})
      ctx.status = exists ? 204 : 404
      if (!exists) {
        ctx.type = 'application/xml'
        ctx.body =
          '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>NoSuchUpload</Code><Message>The specified upload does not exist.</Message></Error>'
      }
    } else if (ctx.method === 'GET' && !key && 'uploads' in ctx.query) {
      const ids = await readdir(uploads).catch(() => [])
      const entries = await Promise.all(
        ids.map(
          async (id) =>
            `<Upload><Key>${await readFile(join(uploads, id, 'key'), 'utf8')}</Key><UploadId>${id}</UploadId></Upload>`,
        ),
      )
      ctx.type = 'application/xml'
      ctx.body = `<?xml version="1.0" encoding="UTF-8"?>\n<ListMultipartUploadsResult><Bucket>${bucket}</Bucket>${entries.join('')}</ListMultipartUploadsResult>`
    } else {
      await next()
    }
  }
}
