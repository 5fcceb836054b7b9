/**
 * ZooKeeper 3.9's AdminServer snapshot command: GET <admin>/commands/snapshot?streaming=true takes a
 * snapshot on that node and streams the file, with the zxid it was started at (`last_zxid`) and its
 * size (`snapshot_size`) as headers. It needs ALL on "/", shown by `Authorization: digest user:password`
 * (Commands.runCommand splits that header at its one space: the password cannot hold one).
 */
import * as http from 'node:http'
import * as https from 'node:https'

import {errorMessage} from '../errors.js'

/** The command is there but the server cannot or will not answer it: the client path is used instead. */
export class AdminUnavailable extends Error {}

export interface AdminSnapshotRequest {
  auth?: {password: string; user: string}
  /** How long the answer may stall, before its headers or between two chunks. */
  idleTimeoutMs: number
  /** The largest snapshot taken (its snapshot_size): anything larger is refused before it is read. */
  maxBytes: number
  /** The AdminServer's address, http(s)://host:port, optionally with /commands or /commands/snapshot. */
  url: string
}

export interface AdminSnapshotFile {
  bytes: Buffer
  /** Where it came from, without credentials. */
  source: string
  /** The zxid the server started serializing at (the snapshot file's name). */
  zxid: bigint
}

const MAX_ERROR_BODY = 4096

/** The snapshot command's URL of an AdminServer address; refuses credentials in it (they belong in --zk-auth). */
export function snapshotCommandUrl(address: string): URL {
  const url = adminCommandUrl(address, 'snapshot')
  url.search = '?streaming=true'
  return url
}

/**
 * <address>/commands/<command>: the address may end in /commands or /commands/<any command>
 * already; it must be http(s) and hold no credentials (they belong in --zk-auth).
 */
export function adminCommandUrl(address: string, command: string): URL {
  let url: URL
  try {
    url = new URL(address)
  } catch {
    throw new AdminUnavailable(`--admin-url is not a URL (http://<host>:8080 expected)`)
  }

  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw new AdminUnavailable(`--admin-url must be http:// or https://, not ${url.protocol}`)
  if (url.username || url.password)
    throw new AdminUnavailable('--admin-url must not hold credentials: they are taken from --zk-auth')
  const base = url.pathname.replace(/\/+$/, '').replace(/\/commands\/[a-z_]+$/, '/commands')
  url.pathname = base.endsWith('/commands') ? `${base}/${command}` : `${base}/commands/${command}`
  url.search = ''
  return url
}

/** Takes and reads one snapshot; AdminUnavailable says why none was had. */
export function fetchAdminSnapshot(request: AdminSnapshotRequest): Promise<AdminSnapshotFile> {
  const url = snapshotCommandUrl(request.url)
  const source = `${url.protocol}//${url.host}`
  const headers = request.auth ? {authorization: authorizationHeader(request.auth)} : {}
  return new Promise((resolve, reject) => {
    const client = url.protocol === 'https:' ? https : http
    const call = client.get(url, {headers}, (response) => {
      readSnapshotAnswer(response, request.maxBytes, source).then(resolve, (error: Error) => {
        call.destroy()
        reject(error)
      })
    })
    call.setTimeout(request.idleTimeoutMs, () =>
      call.destroy(new AdminUnavailable(`${source} sent nothing for ${request.idleTimeoutMs} ms`)),
    )
    call.on('error', (error) =>
      reject(
        error instanceof AdminUnavailable
          ? error
          : new AdminUnavailable(`cannot reach the AdminServer at ${source}: ${errorMessage(error)}`),
      ),
    )
  })
}

export function authorizationHeader(auth: {password: string; user: string}): string {
  if (/\s/.test(auth.user) || /\s/.test(auth.password)) {
    throw new AdminUnavailable(
      'the AdminServer cannot take digest credentials with a space in them (it splits its Authorization header at spaces)',
    )
  }

  return `digest ${auth.user}:${auth.password}`
}

async function readSnapshotAnswer(
  response: http.IncomingMessage,
  maxBytes: number,
  source: string,
): Promise<AdminSnapshotFile> {
  const status = response.statusCode ?? 0
  const sizeHeader = response.headers.snapshot_size
  const zxidHeader = response.headers.last_zxid
  const streamed =
    status === 200 && typeof sizeHeader === 'string' && typeof zxidHeader === 'string' && isOctetStream(response)
  if (!streamed) throw new AdminUnavailable(refusal(source, status, await readErrorText(response)))
  const size = Number(sizeHeader)
  const zxid = parseZxidHeader(zxidHeader)
  if (!Number.isSafeInteger(size) || size <= 0 || zxid === undefined) {
    response.resume()
    throw new AdminUnavailable(
      `${source} answered a snapshot with invalid headers (snapshot_size ${JSON.stringify(sizeHeader)}, last_zxid ${JSON.stringify(zxidHeader)})`,
    )
  }

  if (size > maxBytes) {
    response.destroy()
    throw new AdminUnavailable(
      `${source}'s snapshot is ${size} bytes, more than the ${maxBytes} this backup reads into memory`,
    )
  }

  return {bytes: await readExactly(response, size, source), source, zxid}
}

function isOctetStream(response: http.IncomingMessage): boolean {
  return (response.headers['content-type'] ?? '').startsWith('application/octet-stream')
}

/** "0x1a2b": ZxidUtils.zxidToString, in hex. */
function parseZxidHeader(text: string): bigint | undefined {
  return /^0x[0-9a-f]{1,16}$/i.test(text) ? BigInt(text) : undefined
}

/** Exactly the announced size, into one buffer: no more is accepted, less is a cut-short stream. */
function readExactly(response: http.IncomingMessage, size: number, source: string): Promise<Buffer> {
  const bytes = Buffer.allocUnsafe(size)
  let filled = 0
  return new Promise((resolve, reject) => {
    response.on('data', (chunk: Buffer) => {
      if (filled + chunk.length > size) {
        response.destroy(new AdminUnavailable(`${source} sent more than the ${size} bytes of snapshot_size`))
        return
      }

      chunk.copy(bytes, filled)
      filled += chunk.length
    })
    response.on('error', (error) =>
      reject(
        error instanceof AdminUnavailable
          ? error
          : new AdminUnavailable(`the snapshot stream from ${source} failed: ${errorMessage(error)}`),
      ),
    )
    response.on('end', () => {
      if (filled === size) resolve(bytes)
      else reject(new AdminUnavailable(`the snapshot stream from ${source} ended after ${filled} of ${size} bytes`))
    })
  })
}

/** The "error" of the AdminServer's JSON answer, if it sent one (at most a few KiB are read). */
async function readErrorText(response: http.IncomingMessage): Promise<string | undefined> {
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of response as AsyncIterable<Buffer>) {
    chunks.push(chunk)
    size += chunk.length
    if (size > MAX_ERROR_BODY) {
      response.destroy()
      break
    }
  }

  try {
    const {error} = JSON.parse(Buffer.concat(chunks).toString('utf8')) as {error?: unknown}
    return typeof error === 'string' ? error.slice(0, 200) : undefined
  } catch {
    return undefined
  }
}

/** Why the answer holds no snapshot, by its status (see Commands.runCommand and SnapshotCommand). */
function refusal(source: string, status: number, error: string | undefined): string {
  const said = error ? `: "${error}"` : ''
  switch (status) {
    case 200: {
      return `${source} has no snapshot command (ZooKeeper before 3.9, or not serving)${said}`
    }

    case 401: {
      return `${source} did not accept the credentials (401${said}); the snapshot command needs --zk-auth`
    }

    case 403: {
      return `${source} refused the snapshot: the --zk-auth user lacks ALL on / (403${said})`
    }

    case 404: {
      return `${source} has no AdminServer commands there (404): check --admin-url`
    }

    case 429: {
      return `${source} rate-limits snapshots and refused this one (429): another was taken moments ago`
    }

    case 503: {
      return `${source} has its snapshot command disabled (503: zookeeper.admin.snapshot.enabled=false)`
    }

    default: {
      return `${source} could not take a snapshot (HTTP ${status}${said})`
    }
  }
}
