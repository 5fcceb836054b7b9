import Fastify, {
  type FastifyBaseLogger,
  type FastifyError,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
} from 'fastify'
import {createHash, timingSafeEqual} from 'node:crypto'
import {chmod, lstat, unlink} from 'node:fs/promises'
import {connect} from 'node:net'
import {type DestinationStream, type Logger, pino} from 'pino'

import {UsageError} from '../errors.js'
import {API_PREFIX, type BackupInfo, type BackupInfoEnvelope, type ErrorBody, SERVICE_PREFIX} from './api.js'
import {type BackupService, describeForLog} from './service.js'

export interface HttpOptions {
  logger: FastifyBaseLogger
  service: BackupService
  /** When set, every route demands `Authorization: token=<t>` or `Authorization: Bearer <t>`. */
  token?: string
}

/** The service's JSON log: the Authorization header (the token) is never written. */
export function createServiceLogger(level: string, destination?: DestinationStream): Logger {
  return pino({base: {service: 'dcos-backup'}, level, redact: ['req.headers.authorization']}, destination)
}

const idBody = {
  additionalProperties: true,
  properties: {id: {minLength: 1, type: 'string'}},
  required: ['id'],
  type: 'object',
} as const

const labelBody = {
  additionalProperties: true,
  properties: {label: {type: 'string'}},
  required: ['label'],
  type: 'object',
} as const

/**
 * DC/OS's backup API over HTTP: the routes under `/system/v1/backup/v1/` (as clients address them
 * through the front proxy) and under `/v1/` (as the proxy forwards them).
 */
export function createHttpServer({logger, service, token}: HttpOptions): FastifyInstance {
  const app = Fastify({loggerInstance: logger, return503OnClosing: true})
  if (token !== undefined) app.addHook('onRequest', requireToken(token))
  app.setErrorHandler((error: FastifyError, request, reply) => sendError(service, error, request, reply))
  app.setNotFoundHandler((request, reply) => {
    void reply
      .code(404)
      .send({errors: [`No such route: ${request.method} ${request.url.split('?')[0]}`]} satisfies ErrorBody)
  })

  const routes = async (api: FastifyInstance) => {
    api.get<{Querystring: {prefix?: string}}>(
      '/list',
      {schema: {querystring: {properties: {prefix: {type: 'string'}}, type: 'object'}}},
      async (request) => {
        const backups = await service.list(request.query.prefix ?? '')
        // DC/OS answers exactly {} when there is no backup.
        return (backups.length > 0 ? {backup_info: backups} : {}) satisfies BackupInfoEnvelope<BackupInfo[]>
      },
    )
    api.post<{Body: {label: string}}>('/create', {schema: {body: labelBody}}, async (request) => ({
      backup_info: await service.create(request.body.label),
    }))
    api.post<{Body: {id: string}}>('/restore', {schema: {body: idBody}}, async (request) => ({
      backup_info: await service.restore(request.body.id),
    }))
    api.delete<{Body: {id: string}}>('/delete', {schema: {body: idBody}}, async (request, reply) => {
      await service.delete(request.body.id)
      return reply.code(200).send()
    })
  }

  void app.register(routes, {prefix: API_PREFIX})
  void app.register(routes, {prefix: SERVICE_PREFIX})
  return app
}

function requireToken(token: string) {
  const expected = digest(token)
  return async (request: FastifyRequest, reply: FastifyReply) => {
    const given = /^(?:token=|Bearer\s+)(.+)$/i.exec(request.headers.authorization ?? '')?.[1]
    // Digests have one length whatever was sent, so the comparison takes the same time for every guess.
    if (given !== undefined && timingSafeEqual(digest(given), expected)) return
    return reply.code(401).send({
      errors: ['authentication required: send Authorization: token=<token> or Authorization: Bearer <token>'],
    } satisfies ErrorBody)
  }
}

function digest(text: string): Buffer {
  return createHash('sha256').update(text).digest()
}

/**
 * Bad input (our own checks and the schemas) is 400; anything else, busy and storage failures
 * included, is 500, as in DC/OS. The body names no server path; the log line has the detail.
 */
function sendError(service: BackupService, error: FastifyError, request: FastifyRequest, reply: FastifyReply): void {
  const clientError =
    error instanceof UsageError ||
    error.validation !== undefined ||
    (error.statusCode !== undefined && error.statusCode < 500)
  const status = error instanceof UsageError || error.validation ? 400 : clientError ? error.statusCode! : 500
  if (status >= 500) request.log.error({error: describeForLog(error)}, 'request failed')
  void reply.code(status).send({errors: [service.publicMessage(error)]} satisfies ErrorBody)
}

export type ListenTarget = {host: string; port: number} | {socket: string}

/** Parses `host:port` (`[::1]:8095` for IPv6). */
export function parseListen(text: string): {host: string; port: number} {
  const match = /^(\[[0-9a-f:.]+\]|[^:[\]\s]+):(\d+)$/i.exec(text.trim())
  const port = match ? Number(match[2]) : Number.NaN
  if (!match || !Number.isInteger(port) || port > 65_535) {
    throw new UsageError(`Invalid --listen "${text}": use host:port, such as 127.0.0.1:8095 or 0.0.0.0:8095`)
  }

  return {host: match[1].replace(/^\[(.*)\]$/, '$1'), port}
}

/**
 * Listens on a TCP address, or on a Unix socket created with mode 0660 (owner and group only). A
 * socket file nobody answers on is left over from a crash and replaced; one that answers is in use.
 */
export async function listen(app: FastifyInstance, target: ListenTarget): Promise<string> {
  if (!('socket' in target)) {
    await app.listen({host: target.host, port: target.port})
    const address = app.server.address()
    return typeof address === 'object' && address
      ? `http://${address.family === 'IPv6' ? `[${address.address}]` : address.address}:${address.port}`
      : String(address)
  }

  await removeStaleSocket(target.socket)
  const umask = process.umask(0o117)
  try {
    await app.listen({path: target.socket})
  } finally {
    process.umask(umask)
  }

  await chmod(target.socket, 0o660)
  return `unix:${target.socket}`
}

async function removeStaleSocket(path: string): Promise<void> {
  const stats = await lstat(path).catch(() => undefined)
  if (!stats) return
  if (!stats.isSocket()) throw new UsageError(`--socket ${path} exists and is not a socket: choose another path`)
  const answers = await new Promise<boolean>((resolve) => {
    const probe = connect(path)
    probe.once('connect', () => {
      probe.destroy()
      resolve(true)
    })
    probe.once('error', () => resolve(false))
  })
  if (answers) throw new UsageError(`--socket ${path} is in use by a running server: stop it or choose another path`)
  await unlink(path)
}
