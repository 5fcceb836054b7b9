/**
 * Client of the DC/OS backup service (`/system/v1/backup/v1/...` behind the master's front proxy),
 * speaking the wire format of src/service/api.ts with DC/OS's quirks: `{}` for an empty list,
 * restores with ids of their own, DELETE with a JSON body, `Authorization: token=<token>`.
 * Every failure is a UsageError (the service refused the input: 400) or an OperationError of one
 * line that names the URL and never the token.
 */
import type {OutgoingHttpHeaders} from 'node:http'

import {formatDuration} from '../cli/duration.js'
import {errorMessage, OperationError, UsageError} from '../errors.js'
import {type HttpResponse, HttpTimeoutError, sendRequest} from '../net/http.js'
import {redactSecrets} from '../providers/redact.js'
import {
  API_PREFIX,
  type BackupInfo,
  isFailed,
  isReady,
  labelProblem,
  newestFirst,
  type RestoreInfo,
  type Status,
} from '../service/api.js'

export interface BackupClientOptions {
  /** PEM CA certificate(s) to trust for https (the cluster's private CA); the system CAs otherwise. */
  ca?: Buffer | string
  /** Deadline of each request (connection, headers and body), in ms. Default 30 s. */
  timeoutMs?: number
  /** The DC/OS authentication token, sent as `Authorization: token=<token>`. */
  token?: string
  /** The cluster's address, e.g. https://master.example.com (DCOS_URL). */
  url: string
}

export interface WaitOptions {
  /** Time between two polls, in ms. Default 1 s. */
  intervalMs?: number
  /** Called with the status at the first poll and whenever it changes. */
  onStatus?: (status: string) => void
  /** How long to wait for the end, in ms; then an OperationError. */
  timeoutMs: number
}

export const DEFAULT_REQUEST_TIMEOUT_MS = 30_000
export const DEFAULT_POLL_INTERVAL_MS = 1000
/** Failed polls in a row that --wait rides out. */
const POLL_RETRIES = 3
const MAX_BODY_BYTES = 16 * 1024 * 1024
const EXCERPT_LENGTH = 120
const TLS_TRUST_CODES = new Set([
  'CERT_HAS_EXPIRED',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'ERR_TLS_CERT_ALTNAME_INVALID',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
])

export class BackupClient {
  private readonly base: string
  private readonly timeoutMs: number

  constructor(private readonly options: BackupClientOptions) {
    this.base = baseUrl(options.url)
    this.timeoutMs = options.timeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS
  }

  /** Starts a backup; resolves with it as the service recorded it (usually STATUS_BACKING_UP). */
  async create(label: string): Promise<BackupInfo> {
    const problem = labelProblem(label)
    if (problem) throw new UsageError(problem)
    const answer = await this.call('POST', '/create', {label})
    return normalizeBackup(this.envelope(answer, '/create'), this.routeUrl('/create'))
  }

  async delete(id: string): Promise<void> {
    await this.call('DELETE', '/delete', {id})
  }

  /** The backups whose id starts with `prefix` (all without one), newest first. */
  async list(prefix?: string): Promise<BackupInfo[]> {
    const route = prefix ? `/list?prefix=${encodeURIComponent(prefix)}` : '/list'
    const answer = await this.call('GET', route)
    // DC/OS answers exactly `{}` when there is no backup.
    if (isObject(answer) && answer.backup_info === undefined) return []
    const entries = isObject(answer) ? answer.backup_info : undefined
    if (!Array.isArray(entries)) throw this.unexpected(route, 'expected {"backup_info": [...]}')
    return entries.map((entry) => normalizeBackup(entry, this.routeUrl(route))).sort(newestFirst)
  }

  /** Starts restoring backup `id`; resolves with the restore, which has an id of its own. */
  async restore(id: string): Promise<RestoreInfo> {
    const answer = await this.call('POST', '/restore', {id})
    return normalizeRestore(this.envelope(answer, '/restore'), this.routeUrl('/restore'))
  }

  /** The backup with exactly this id. */
  async show(id: string): Promise<BackupInfo> {
    const found = (await this.list(id)).find((backup) => backup.id === id)
    if (!found) throw new UsageError(`No backup with id ${id}: see the ids with "dcos backup list"`)
    return found
  }

  /** Polls the backup until it is ready or failed; resolves with its final state either way. */
  waitForBackup(id: string, options: WaitOptions): Promise<BackupInfo> {
    return poll(
      () => this.show(id),
      (backup) => isReady(backup) || isFailed(backup),
      (backup) => backup.status,
      `backup ${id}`,
      options,
    )
  }

  /** Polls the backup's restores until restore `restoreId` is STATUS_READY or STATUS_ERROR; resolves with it. */
  async waitForRestore(backupId: string, restoreId: string, options: WaitOptions): Promise<RestoreInfo> {
    const read = async (): Promise<RestoreInfo> => {
      const backup = await this.show(backupId)
      const restore = backup.restores.find((candidate) => candidate.id === restoreId)
      if (!restore)
        throw new OperationError(`Backup ${backupId} lists no restore ${restoreId}: see "dcos backup show ${backupId}"`)
      return restore
    }

    const ended = (restore: RestoreInfo) => restore.status === 'STATUS_READY' || restore.status === 'STATUS_ERROR'
    return poll(read, ended, (restore) => restore.status, `restore ${restoreId} of backup ${backupId}`, options)
  }

  /** Sends one request and returns its JSON answer (undefined for an empty body), or throws the mapped error. */
  private async call(method: string, route: string, body?: object): Promise<unknown> {
    const url = this.routeUrl(route)
    let response: HttpResponse
    try {
      response = await this.send(method, new URL(url), body)
    } catch (error) {
      throw new OperationError(
        this.redact(`Cannot reach the backup service at ${url}: ${networkProblem(error, this.timeoutMs)}`),
        {cause: error},
      )
    }

    if (response.status >= 200 && response.status <= 299) return this.parse(route, response)
    throw this.statusError(url, response)
  }

  private envelope(answer: unknown, route: string): unknown {
    if (!isObject(answer) || !isObject(answer.backup_info))
      throw this.unexpected(route, 'expected {"backup_info": {...}}')
    return answer.backup_info
  }

  private excerpt(body: string): string {
    const line = body.replaceAll(/\s+/g, ' ').trim()
    return JSON.stringify(line.length > EXCERPT_LENGTH ? `${line.slice(0, EXCERPT_LENGTH)}...` : line)
  }

  private parse(route: string, response: HttpResponse): unknown {
    if (response.body.trim() === '') return undefined
    try {
      return JSON.parse(response.body)
    } catch {
      throw this.unexpected(
        route,
        `HTTP ${response.status} with a body that is not JSON: ${this.excerpt(response.body)}`,
      )
    }
  }

  /** A server may echo the request's headers back: the token never reaches a message. */
  private redact(text: string): string {
    return redactSecrets(text, [this.options.token])
  }

  private routeUrl(route: string): string {
    return `${this.base}${API_PREFIX}${route}`
  }

  private send(method: string, url: URL, body?: object): Promise<HttpResponse> {
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body))
    const headers: OutgoingHttpHeaders = {accept: 'application/json'}
    if (this.options.token) headers.authorization = `token=${this.options.token}`
    if (payload) Object.assign(headers, {'content-length': payload.length, 'content-type': 'application/json'})
    return sendRequest(url, {
      body: payload,
      ca: this.options.ca,
      headers,
      maxBodyBytes: MAX_BODY_BYTES,
      method,
      timeoutMs: this.timeoutMs,
    })
  }

  private statusError(url: string, response: HttpResponse): Error {
    const where = `The backup service at ${url}`
    const messages = errorMessages(response.body)
    if (response.status === 401)
      return new OperationError(
        `${where} refused the request: authentication failed (401): pass a valid token with --token or DCOS_ACS_TOKEN`,
      )
    if (response.status === 403)
      return new OperationError(
        `${where} refused the request: permission denied (403): the token's user may not use the backup service; ask a cluster administrator`,
      )
    if (messages && response.status === 400) return new UsageError(this.redact(messages.join('; ')))
    if (messages && response.status >= 500) return new OperationError(this.redact(messages.join('; ')))
    const statusText = response.statusText ? ` ${response.statusText}` : ''
    const hint = response.location
      ? ` (redirected to ${response.location}: use that address as --url)`
      : response.status === 404
        ? ' (is --url the address of a DC/OS cluster with the backup service?)'
        : ''
    const content = response.body.trim() ? `: ${this.excerpt(response.body)}` : ''
    return new OperationError(this.redact(`${where} answered HTTP ${response.status}${statusText}${hint}${content}`))
  }

  private unexpected(route: string, what: string): OperationError {
    return new OperationError(
      this.redact(`The backup service at ${this.routeUrl(route)} sent an unexpected answer: ${what}`),
    )
  }
}

/** The cluster URL without a trailing slash, query or fragment; only http(s), no credentials. */
function baseUrl(url: string): string {
  let parsed: URL
  try {
    parsed = new URL(url.trim())
  } catch {
    throw new UsageError(`Invalid --url "${url}": use the cluster's address, such as https://master.example.com`)
  }

  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:')
    throw new UsageError(`Invalid --url "${parsed.protocol}//${parsed.host}": only http and https are supported`)
  if (parsed.username || parsed.password)
    throw new UsageError('Credentials do not belong in --url: pass the token with DCOS_ACS_TOKEN')
  return `${parsed.origin}${parsed.pathname.replace(/\/+$/, '')}`
}

/** The messages of a `{"errors": [...]}` body, or undefined when the body is something else. */
function errorMessages(body: string): string[] | undefined {
  try {
    const parsed: unknown = JSON.parse(body)
    if (!isObject(parsed) || !Array.isArray(parsed.errors) || parsed.errors.length === 0) return undefined
    return parsed.errors.map((message) => (typeof message === 'string' ? message : JSON.stringify(message)))
  } catch {
    return undefined
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

/**
 * Checks the fields the commands rely on. DC/OS's service was written in Go, where an empty slice
 * or map is sent as null: those become [] and {}.
 */
function normalizeBackup(value: unknown, url: string): BackupInfo {
  const job = normalizeJob(value, url)
  const restores = job.restores ?? []
  if (!Array.isArray(restores)) throw malformed(url, `backup ${job.id} has restores that are not an array`)
  return {
    ...job,
    dcos_version: typeof job.dcos_version === 'string' ? job.dcos_version : '',
    restores: restores.map((restore) => normalizeRestore(restore, url)),
  } as BackupInfo
}

function normalizeRestore(value: unknown, url: string): RestoreInfo {
  return normalizeJob(value, url) as unknown as RestoreInfo
}

function normalizeJob(value: unknown, url: string): Record<string, unknown> & {id: string} {
  if (!isObject(value) || typeof value.id !== 'string' || value.id === '') throw malformed(url, 'an entry has no id')
  if (typeof value.status !== 'string') throw malformed(url, `${value.id} has no status`)
  const components = value.component_status ?? {}
  if (!isObject(components)) throw malformed(url, `${value.id} has a component_status that is not an object`)
  return {
    ...value,
    component_status: components,
    id: value.id,
    timestamp: typeof value.timestamp === 'string' ? value.timestamp : '',
  }
}

function malformed(url: string, what: string): OperationError {
  return new OperationError(`The backup service at ${url} sent an unexpected answer: ${what}`)
}

/** Why a backup or restore failed: its reason, or the first reason of a failed component. */
export function failureReason(job: {
  component_status: Record<string, {reason?: string; status: Status}>
  reason?: string
}): string | undefined {
  if (job.reason) return job.reason
  const failed = Object.entries(job.component_status).find(([, component]) => component.status === 'STATUS_ERROR')
  if (!failed) return undefined
  return failed[1].reason ? `${failed[0]}: ${failed[1].reason}` : `component ${failed[0]} failed`
}

async function poll<T>(
  read: () => Promise<T>,
  ended: (value: T) => boolean,
  status: (value: T) => string,
  what: string,
  options: WaitOptions,
): Promise<T> {
  const deadline = Date.now() + options.timeoutMs
  let previous: string | undefined
  let failures = 0
  for (;;) {
    let value: T
    try {
      value = await read()
      failures = 0
    } catch (error) {
      // A master failing over answers 502 or drops the connection for a moment; bad input does not pass.
      if (error instanceof UsageError || ++failures > POLL_RETRIES || Date.now() >= deadline) throw error
      await new Promise((resolve) => setTimeout(resolve, options.intervalMs ?? DEFAULT_POLL_INTERVAL_MS))
      continue
    }

    const current = status(value)
    if (current !== previous) options.onStatus?.(current)
    previous = current
    if (ended(value)) return value
    const remaining = deadline - Date.now()
    if (remaining <= 0)
      throw new OperationError(
        `Timed out after ${formatDuration(options.timeoutMs)} waiting for ${what}: it is still ${current}`,
      )
    await new Promise((resolve) =>
      setTimeout(resolve, Math.min(options.intervalMs ?? DEFAULT_POLL_INTERVAL_MS, remaining)),
    )
  }
}

/** A short reason for a failed exchange and what to check. */
function networkProblem(error: unknown, timeoutMs: number): string {
  const code = (error as NodeJS.ErrnoException | undefined)?.code
  const check = 'check --url (DCOS_URL) and that the cluster is reachable'
  if (error instanceof HttpTimeoutError || code === 'ETIMEDOUT')
    return `no answer within ${formatDuration(timeoutMs)}; ${check}`
  if (code === 'ECONNREFUSED') return `connection refused; ${check}`
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return `host not found; check the host name in --url (DCOS_URL)`
  if (code === 'ECONNRESET') return `connection reset; ${check}, and that http or https matches the cluster`
  if (code === 'EHOSTUNREACH' || code === 'ENETUNREACH') return `host unreachable; ${check}`
  if (code && TLS_TRUST_CODES.has(code))
    return `${errorMessage(error)}; pass the cluster's CA certificate with --ca-cert`
  const message = errorMessage(error)
  return `${code && !message.includes(code) ? `${message} (${code})` : message}; ${check}`
}
