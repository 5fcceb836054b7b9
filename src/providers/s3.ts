import type {S3Client} from '@aws-sdk/client-s3'
import type {Upload} from '@aws-sdk/lib-storage'

import {STATUS_CODES} from 'node:http'
import {Readable} from 'node:stream'

import type {ObjectInfo, StorageProvider, WriteOptions} from './types.js'

import {errorMessage, OperationError, UsageError} from '../errors.js'
import {redactLocation, redactSecrets} from './redact.js'
import {registerProvider} from './registry.js'

const PARAMETERS = ['region', 'access_key', 'secret_key', 'session_token', 'endpoint']
const BUCKET_NAME = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/
const PART_SIZE = 8 * 1024 * 1024

interface Sdk {
  s3: typeof import('@aws-sdk/client-s3')
  storage: typeof import('@aws-sdk/lib-storage')
}

let sdk: Promise<Sdk> | undefined

/** The AWS SDK costs a third of a CPU-second to load: only a command that reaches S3 loads it. */
function loadSdk(): Promise<Sdk> {
  sdk ??= Promise.all([import('@aws-sdk/client-s3'), import('@aws-sdk/lib-storage')]).then(([s3, storage]) => ({
    s3,
    storage,
  }))
  return sdk
}

/** One client per location and its children, made on first use. */
type ClientSource = () => Promise<Sdk & {client: S3Client}>

function lazyClient(location: S3Location): ClientSource {
  let made: ReturnType<ClientSource> | undefined
  return () =>
    (made ??= loadSdk().then(({s3, storage}) => ({client: createClient(s3.S3Client, location), s3, storage})))
}

/** A parsed s3://bucket/key?region=...&access_key=...&secret_key=...&session_token=...&endpoint=... */
export interface S3Location {
  bucket: string
  credentials?: {accessKeyId: string; secretAccessKey: string; sessionToken?: string}
  endpoint?: string
  key: string
  /** The query string as given, repeated in the locations of children and listed objects. */
  query: string
  region: string
  /** Every secret value as given and decoded, to scrub from error messages. */
  secrets: string[]
}

export function parseS3Location(location: string): S3Location {
  const [, bucket, key, query = ''] = /^s3:\/\/([^/?]*)\/?([^?]*)(?:\?(.*))?$/is.exec(location) ?? []
  // Messages name the location with its secrets masked whole, whatever they hold ("#", " ", ": ").
  const shown = bucket === undefined ? 'the S3 location' : displayLocation(bucket, key, query)
  const usage = (message: string) => new UsageError(redactLocation(message))
  if (!bucket) throw usage(`Missing bucket in ${shown}: use s3://bucket/key`)
  if (!BUCKET_NAME.test(bucket) || bucket.includes('..')) {
    throw usage(`Invalid bucket name "${bucket}" in ${shown}: use 3-63 lowercase letters, digits, dots and hyphens`)
  }

  // Parsed by hand because URLSearchParams turns "+" into a space, and AWS secret keys contain "+".
  const parameters = new Map<string, string>()
  const secrets: string[] = []
  for (const pair of query.split('&').filter(Boolean)) {
    const [name, raw = ''] = pair.split(/=(.*)/s)
    // Unknown parameters may be misspelt secrets: name only the bucket and key, not the whole location.
    if (!PARAMETERS.includes(name)) {
      throw usage(`Unknown parameter "${name}" in s3://${bucket}/${key}: use ${PARAMETERS.join(', ')}`)
    }

    let value: string
    try {
      value = decodeURIComponent(raw)
    } catch {
      throw usage(`Malformed value of ${name} in ${shown}`)
    }

    parameters.set(name, value)
    if (name !== 'region' && name !== 'endpoint') secrets.push(raw, value)
  }

  const [accessKeyId, secretAccessKey, sessionToken] = ['access_key', 'secret_key', 'session_token'].map((name) =>
    parameters.get(name),
  )
  if (Boolean(accessKeyId) !== Boolean(secretAccessKey) || (sessionToken && !accessKeyId)) {
    throw usage(
      `Incomplete credentials in ${shown}: give access_key and secret_key together (and session_token only with them)`,
    )
  }

  const endpoint = parameters.get('endpoint')
  const endpointPassword = endpoint && /^[a-z][\w+.-]*:\/\/[^/?#@]*:(.*)@/is.exec(endpoint)?.[1]
  if (endpointPassword) secrets.push(endpointPassword, safeDecode(endpointPassword))
  if (endpoint !== undefined && !/^https?:\/\/[^/?#]/i.test(endpoint)) {
    // Userinfo without a scheme (user:pw@host) is not recognisable as such by redactLocation.
    const shownEndpoint = endpoint.includes('@') ? `***${endpoint.slice(endpoint.lastIndexOf('@'))}` : endpoint
    throw usage(`Invalid endpoint "${shownEndpoint}" in ${shown}: use http://host:port or https://host`)
  }

  return {
    bucket,
    key,
    query,
    region: parameters.get('region') || process.env.AWS_REGION || 'us-east-1',
    endpoint,
    // Without keys in the location the SDK's default credential chain (environment, profile, role) applies.
    credentials: accessKeyId && secretAccessKey ? {accessKeyId, secretAccessKey, sessionToken} : undefined,
    secrets,
  }
}

/** One S3 object, or with list() every object under a key prefix. */
export class S3Provider implements StorageProvider {
  readonly display: string
  readonly scheme = 's3'

  constructor(
    private readonly location: S3Location,
    private readonly sdk: ClientSource = lazyClient(location),
  ) {
    this.display = this.locationOf(location.key)
  }

  child(name: string): StorageProvider {
    const {key} = this.location
    return new S3Provider(
      {...this.location, key: key === '' || key.endsWith('/') ? key + name : `${key}/${name}`},
      this.sdk,
    )
  }

  async delete(): Promise<void> {
    const object = {Bucket: this.location.bucket, Key: this.requireKey('delete')}
    try {
      // DeleteObject succeeds for a missing key too; HeadObject tells us it was not there.
      const {client, s3} = await this.sdk()
      await client.send(new s3.HeadObjectCommand(object))
      await client.send(new s3.DeleteObjectCommand(object))
    } catch (error) {
      throw this.failure('delete', error)
    }
  }

  async list(): Promise<ObjectInfo[]> {
    const {bucket, key} = this.location
    const objects: ObjectInfo[] = []
    try {
      const {client, s3} = await this.sdk()
      for await (const page of s3.paginateListObjectsV2({client}, {Bucket: bucket, Prefix: key || undefined})) {
        for (const object of page.Contents ?? []) {
          // Keys ending in "/" are folder placeholders made by consoles, not archives.
          if (object.Key && !object.Key.endsWith('/'))
            objects.push(this.info(object.Key, object.Size, object.LastModified))
        }
      }
    } catch (error) {
      throw this.failure('list', error)
    }

    return objects.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
  }

  async read(): Promise<Readable> {
    const key = this.requireKey('read')
    try {
      const {client, s3} = await this.sdk()
      const {Body} = await client.send(new s3.GetObjectCommand({Bucket: this.location.bucket, Key: key}))
      return Body as Readable
    } catch (error) {
      throw this.failure('read', error)
    }
  }

  async stat(): Promise<ObjectInfo | undefined> {
    const {bucket, key} = this.location
    if (!key) return undefined
    try {
      const {client, s3} = await this.sdk()
      const head = await client.send(new s3.HeadObjectCommand({Bucket: bucket, Key: key}))
      return this.info(key, head.ContentLength, head.LastModified)
    } catch (error) {
      if (errorName(error) === 'NotFound') return undefined
      throw this.failure('stat', error)
    }
  }

  async write(source: Readable, {overwrite = false}: WriteOptions = {}): Promise<number> {
    // The source may fail while we check the location: its error then surfaces when we read from it,
    // rather than as an 'error' event nobody listens to, which would end the process.
    source.on('error', () => {})
    let bytes = 0
    const counted = async function* (chunks: AsyncIterable<Buffer>) {
      for await (const chunk of chunks) {
        bytes += chunk.length
        yield chunk
      }
    }

    let upload: undefined | Upload
    try {
      const key = this.requireKey('write')
      if (!overwrite && (await this.stat())) throw this.alreadyExists()
      const {client, storage} = await this.sdk()
      // Multipart parts stay invisible until CompleteMultipartUpload, which lib-storage sends last.
      // IfNoneMatch makes that final step fail if the object appeared meanwhile (where supported).
      upload = new storage.Upload({
        client,
        params: {
          Bucket: this.location.bucket,
          Key: key,
          Body: Readable.from(counted(source)),
          ...(!overwrite && {IfNoneMatch: '*'}),
        },
        queueSize: 2,
        partSize: PART_SIZE,
      })
      await upload.done()
      return bytes
    } catch (error) {
      source.destroy()
      await upload?.abort()
      // lib-storage aborts the multipart upload before done() rejects; this is a second chance in case
      // that request failed, so no invisible (but billed) parts are left behind.
      if (upload?.uploadId) {
        const abort = {Bucket: this.location.bucket, Key: this.location.key, UploadId: upload.uploadId}
        const {client, s3} = await this.sdk()
        await client.send(new s3.AbortMultipartUploadCommand(abort)).catch(() => {})
      }

      throw !overwrite && errorName(error) === 'PreconditionFailed'
        ? this.alreadyExists()
        : this.failure('write', error)
    }
  }

  private alreadyExists(): UsageError {
    return this.usage(`${this.display} already exists: choose another location or pass --force`)
  }

  /** SDK errors become one-line, redacted messages; the SDK error is not kept as the cause since it can hold the keys. */
  private failure(action: string, error: unknown): Error {
    if (error instanceof UsageError || error instanceof OperationError) return error
    switch (errorName(error)) {
      case 'NoSuchKey':
      case 'NotFound': {
        return this.usage(`No archive at ${this.display}`)
      }

      case 'NoSuchBucket': {
        return this.usage(`No bucket named "${this.location.bucket}" (${this.display})`)
      }

      default: {
        return new OperationError(this.redact(`Cannot ${action} ${this.display}: ${describe(error)}`))
      }
    }
  }

  /** `key` described relative to the "directory" of this location's key, as list() names it. */
  private info(key: string, size = 0, modified = new Date(0)): ObjectInfo {
    const directory = this.location.key.slice(0, this.location.key.lastIndexOf('/') + 1)
    return {location: this.locationOf(key), name: key.slice(directory.length), size, modified}
  }

  private locationOf(key: string): string {
    return displayLocation(this.location.bucket, key, this.location.query)
  }

  private redact(message: string): string {
    return redactSecrets(redactLocation(message), this.location.secrets)
  }

  private requireKey(action: string): string {
    if (!this.location.key)
      throw this.usage(`Cannot ${action} ${this.display}: the location names no object key (s3://bucket/key)`)
    return this.location.key
  }

  private usage(message: string): UsageError {
    return new UsageError(this.redact(message))
  }
}

const SECRET_PARAMETERS = new Set(['access_key', 'secret_key', 'session_token'])

/** The location as it may be shown: each secret value masked whole, and any userinfo of the endpoint. */
function displayLocation(bucket: string, key: string, query: string): string {
  const pairs = query.split('&').map((pair) => {
    const [name] = pair.split('=', 1)
    if (SECRET_PARAMETERS.has(name)) return `${name}=***`
    // An endpoint with userinfo but no scheme is refused, but still shown in that message.
    if (name === 'endpoint' && pair.includes('@')) return `endpoint=***${pair.slice(pair.lastIndexOf('@'))}`
    return pair
  })
  return redactLocation(`s3://${bucket}/${key}${query ? `?${pairs.join('&')}` : ''}`)
}

function createClient(Client: typeof S3Client, {region, endpoint, credentials}: S3Location): S3Client {
  // Node 20 is this tool's runtime; the SDK's notice that its future releases need Node 22 would
  // print seven lines into every S3 command's output. The lock file pins SDK releases that run here.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true'
  return new Client({
    region,
    maxAttempts: 3,
    ...(endpoint && {endpoint, forcePathStyle: true}),
    ...(credentials && {credentials}),
  })
}

function safeDecode(text: string): string {
  try {
    return decodeURIComponent(text)
  } catch {
    return text
  }
}

function errorName(error: unknown): string | undefined {
  return (error as Error | undefined)?.name
}

/** One line about an SDK or network error. */
function describe(error: unknown): string {
  const {
    name = 'Error',
    message,
    code,
    errors,
    $metadata,
  } = error as {
    $metadata?: {httpStatusCode?: number}
    code?: string
    errors?: unknown[]
    message?: string
    name?: string
  }
  // Node reports a refused connection to every address of a host as an AggregateError with no message.
  if (!message && errors?.length) return describe(errors[0])
  let text = message || code || errorMessage(error)
  if ($metadata) {
    const status = $metadata.httpStatusCode ?? 0
    // Errors of HEAD requests have no body, so the SDK knows only the HTTP status.
    text =
      !message || message === 'UnknownError'
        ? `HTTP ${status} ${STATUS_CODES[status] ?? ''}`.trim()
        : `${name}: ${message}`
  }

  return text.split('\n')[0]
}

registerProvider('s3', (location) => new S3Provider(parseS3Location(location)))
