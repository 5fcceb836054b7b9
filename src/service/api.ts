/**
 * DC/OS's backup service API on the wire: shared by the service and the client commands, so both
 * speak exactly what DC/OS Enterprise spoke (see the README's "Backup service" section).
 */
import {randomUUID} from 'node:crypto'

/** The routes as a client reaches them through DC/OS's front proxy; the service also serves `/v1/...`. */
export const API_PREFIX = '/system/v1/backup/v1'
export const SERVICE_PREFIX = '/v1'

export const STATUSES = [
  'STATUS_UNKNOWN',
  'STATUS_BACKING_UP',
  'STATUS_READY',
  'STATUS_RESTORING',
  'STATUS_ERROR',
] as const
export type Status = (typeof STATUSES)[number]

export interface ComponentStatus {
  /** Ours, not DC/OS's: why a component failed. */
  reason?: string
  status: Status
}

export interface RestoreInfo {
  /** Ours, not DC/OS's: the backup restored, why the restore failed, and the backup of the state it replaced. */
  backup_id?: string
  component_status: Record<string, ComponentStatus>
  id: string
  reason?: string
  safety_backup_id?: string
  status: Status
  timestamp: string
}

export interface BackupInfo {
  component_status: Record<string, ComponentStatus>
  dcos_version: string
  id: string
  /** Ours, not DC/OS's: why the backup failed; set on scheduled backups and on safety backups. */
  reason?: string
  restores: RestoreInfo[]
  safety_for_restore?: string
  scheduled?: boolean
  status: Status
  timestamp: string
}

/** 200 of create and restore: one object; 200 of list: an array, or exactly `{}` when there is none. */
export interface BackupInfoEnvelope<T> {
  backup_info?: T
}

/** Every 400 and 500: the messages, one per problem. */
export interface ErrorBody {
  errors: string[]
}

export const BUSY_MESSAGE = 'backup/restore is currently busy: lock is already held'

export const LABEL_PATTERN = /^[A-Za-z0-9_][A-Za-z0-9_][A-Za-z0-9_.-]*$/
export const LABEL_MIN = 3
export const LABEL_MAX = 25
const UUID = '[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}'
const ID_PATTERN = new RegExp(`^(.+)-(${UUID})$`)

/** Why a label is not acceptable, or undefined when it is. */
export function labelProblem(label: string): string | undefined {
  if (label.length < LABEL_MIN || label.length > LABEL_MAX) {
    return `Invalid label "${label}": it must be ${LABEL_MIN} to ${LABEL_MAX} characters long (it has ${label.length})`
  }

  if (!LABEL_PATTERN.test(label)) {
    return `Invalid label "${label}": use letters, digits and _ . - only, and start with two letters, digits or underscores`
  }

  return undefined
}

/** `<label>-<uuid4>`, 40 to 62 characters. */
export function newId(label: string): string {
  return `${label}-${randomUUID()}`
}

/** Whether `id` has the shape of a backup or restore id (a valid label, a dash, a UUID v4). */
export function isId(id: string): boolean {
  const match = ID_PATTERN.exec(id)
  return match !== null && labelProblem(match[1]) === undefined
}

/** RFC 3339 with nanoseconds, as DC/OS wrote it (JavaScript clocks stop at milliseconds). */
export function timestamp(date = new Date()): string {
  return date.toISOString().replace(/\.(\d{3})Z$/, '.$1000000Z')
}

/** A backup is ready when it and every component are STATUS_READY. */
export function isReady(backup: Pick<BackupInfo, 'component_status' | 'status'>): boolean {
  return (
    backup.status === 'STATUS_READY' &&
    Object.values(backup.component_status).every((component) => component.status === 'STATUS_READY')
  )
}

/** STATUS_ERROR at either level means it failed. */
export function isFailed(job: Pick<BackupInfo, 'component_status' | 'status'>): boolean {
  return (
    job.status === 'STATUS_ERROR' ||
    Object.values(job.component_status).some((component) => component.status === 'STATUS_ERROR')
  )
}

/** Newest first; entries whose timestamp cannot be read go last; ties by id, for a stable order. */
export function newestFirst(a: {id: string; timestamp: string}, b: {id: string; timestamp: string}): number {
  const [ka, kb] = [timestampNanos(a.timestamp), timestampNanos(b.timestamp)]
  if (ka !== kb) return ka === undefined ? 1 : kb === undefined ? -1 : ka > kb ? -1 : 1
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0
}

const RFC3339 = /^(\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?(Z|[+-]\d\d:\d\d)$/i

/**
 * Nanoseconds since the epoch of an RFC 3339 timestamp with up to 9 fractional digits, with its
 * offset applied: neither Date (milliseconds) nor a string comparison (".5Z" > ".123Z", offsets)
 * orders DC/OS's timestamps correctly.
 */
export function timestampNanos(text: string): bigint | undefined {
  const match = RFC3339.exec(text.trim())
  if (!match) return undefined
  const seconds = Date.parse(`${match[1].replace(' ', 'T')}${match[3].toUpperCase()}`)
  if (Number.isNaN(seconds)) return undefined
  return BigInt(seconds) * 1_000_000n + BigInt((match[2] ?? '').padEnd(9, '0'))
}
