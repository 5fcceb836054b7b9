/**
 * Test harness: a real s3rver (filesystem-backed fake S3) on a free loopback port, with one bucket.
 */
import {S3Client} from '@aws-sdk/client-s3'
import {mkdtemp, readdir, readFile, rm} from 'node:fs/promises'
import {createRequire} from 'node:module'
import type {AddressInfo} from 'node:net'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {scanFiles, secret} from '../helpers/secrets.js'

interface KoaContext {
  method: string
  path: string
  query: Record<string, unknown>
  status: number
  type: string
  body: unknown
}

type Middleware = (ctx: KoaContext, next: () => Promise<void>) => Promise<void>

interface S3rver {
  middleware: Middleware[]
  run(): Promise<AddressInfo>
  close(): Promise<void>
}

// s3rver is CommonJS without type declarations: load it through require and type what we use.
const require = createRequire(import.meta.url)
const S3rver = require('s3rver') as new (options: object) => S3rver
const {DUMMY_ACCOUNT} = require('s3rver/lib/models/account.js') as {DUMMY_ACCOUNT: {createKeyPair(id: string, secret: string): void}}

/** The keys s3rver accepts: registered as secrets, so the suite fails if any output shows them. */
export const S3_ACCESS_KEY = secret('AKIATESTSCAN7Q2XH4ZP')
export const S3_SECRET_KEY = secret('tEst/sEcrEt+kEy=9vL2mW8qR4')
DUMMY_ACCOUNT.createKeyPair(S3_ACCESS_KEY, S3_SECRET_KEY)

export interface S3Server {
  endpoint: string
  bucket: string
  /** s3://<bucket>/<key> with the region, the keys and the endpoint as query parameters. */
  uri(key: string): string
  client: S3Client
  stop(): Promise<void>
}

export async function startS3(): Promise<S3Server> {
  const bucket = 'backups'
  const directory = await mkdtemp(join(tmpdir(), 's3rver-'))
  const server = new S3rver({address: '127.0.0.1', port: 0, silent: true, directory, configureBuckets: [{name: bucket}]})
  server.middleware.unshift(multipartUploadsMiddleware(directory))
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
    uri: (key) => `s3://${bucket}/${key}?region=us-east-1&access_key=${S3_ACCESS_KEY}&secret_key=${encodeURIComponent(S3_SECRET_KEY)}&endpoint=${endpoint}`,
    client,
    async stop() {
      client.destroy()
      await server.close()
      await scanFiles(directory)
      await rm(directory, {recursive: true, force: true})
    },
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
        ctx.body = '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>NoSuchUpload</Code><Message>The specified upload does not exist.</Message></Error>'
      }
    } else if (ctx.method === 'GET' && !key && 'uploads' in ctx.query) {
      const ids = await readdir(uploads).catch(() => [])
      const entries = await Promise.all(
        ids.map(async (id) => `<Upload><Key>${await readFile(join(uploads, id, 'key'), 'utf8')}</Key><UploadId>${id}</UploadId></Upload>`),
      )
      ctx.type = 'application/xml'
      ctx.body = `<?xml version="1.0" encoding="UTF-8"?>\n<ListMultipartUploadsResult><Bucket>${bucket}</Bucket>${entries.join('')}</ListMultipartUploadsResult>`
    } else {
      await next()
    }
  }
}
