/**
 * One archiver per repository: a lease object, <repo>/lock.json, naming its holder (host, pid, a
 * random id) and when it expires. It is renewed every step; a second archiver refuses while it
 * runs, and takes it over once it has expired, or at once when its holder was a process of this
 * host that is gone (a SIGKILLed archiver restarted by systemd).
 *
 * Storage offers no compare-and-swap, so holding is "write, then read back and check it is ours":
 * a first lease on file:// is created with link() (atomic), but a takeover, and every write on S3,
 * can race. Two archivers that take a free or expired lease at the same moment may both read their
 * own record back; the one overwritten sees the other's id at its next renewal and stops. So two
 * archivers overlap for at most one step, whose writes are idempotent (segments are named by their
 * zxid range and overwrite each other with the same bytes).
 */
import {randomBytes} from 'node:crypto'
import {hostname} from 'node:os'
import {text} from 'node:stream/consumers'

import type {StorageProvider} from '../../providers/types.js'

import {UsageError} from '../../errors.js'
import {pidAlive} from '../datadir/running.js'
import {putJson, REPOSITORY_FORMAT} from './repository.js'

export const LOCK = 'lock.json'

/** A lease outlives this many missed steps, and a minute at least (a base can take a while). */
export const leaseDuration = (intervalMs: number): number => Math.max(6 * intervalMs, 60_000)

export interface LeaseHolder {
  host: string
  /** Random per archiver process: what tells two holders on one host with one pid apart. */
  id: string
  pid: number
}

export interface LeaseRecord {
  acquiredAt: string
  expiresAt: string
  format: typeof REPOSITORY_FORMAT
  holder: LeaseHolder
  renewedAt: string
}

export interface LeaseOptions {
  /** How long a lease lasts without a renewal. */
  durationMs: number
  log?: (event: Record<string, unknown> & {event: string}) => void
  now?: () => Date
}

export class RepositoryLease {
  private acquiredAt: string | undefined
  /** Held once at least: another holder now means the lease was lost, never a stale one to take. */
  private held = false
  private readonly location: StorageProvider
  private readonly me: LeaseHolder = {host: hostname(), id: randomBytes(8).toString('hex'), pid: process.pid}

  constructor(
    repository: StorageProvider,
    private readonly options: LeaseOptions,
  ) {
    this.location = repository.child(LOCK)
  }

  /** Takes the lease, or renews it; throws UsageError naming the holder when another archiver has it. */
  async hold(): Promise<void> {
    const current = await this.read()
    if (current && current.holder.id !== this.me.id) {
      if (this.held || !this.isStale(current)) throw this.refusal(current)
      this.options.log?.({event: 'lease-takeover', expiresAt: current.expiresAt, holder: current.holder})
    }

    const now = this.now()
    const record: LeaseRecord = {
      acquiredAt: this.acquiredAt ?? now.toISOString(),
      expiresAt: new Date(now.getTime() + this.options.durationMs).toISOString(),
      format: REPOSITORY_FORMAT,
      holder: this.me,
      renewedAt: now.toISOString(),
    }
    // With none there yet, file:// creates it atomically (link); losing that race is seen below.
    await putJson(this.location, record, {overwrite: current !== undefined}).catch((error: unknown) => {
      if (!(error instanceof UsageError)) throw error
    })
    const written = await this.read()
    if (written?.holder.id !== this.me.id) throw this.refusal(written)
    this.held = true
    this.acquiredAt = record.acquiredAt
  }

  /** Deletes the lease if it is still ours (never another archiver's); never throws: it expires anyway. */
  async release(): Promise<void> {
    if (!this.held) return
    this.held = false
    const current = await this.read().catch(() => {})
    if (current?.holder.id === this.me.id) await this.location.delete().catch(() => {})
  }

  private isStale({expiresAt, holder}: LeaseRecord): boolean {
    if (Date.parse(expiresAt) <= this.now().getTime()) return true
    if (holder.host !== this.me.host) return false
    // Our own pid with another id is a previous life of this process (pid 1 in a container).
    return holder.pid === this.me.pid || !pidAlive(holder.pid)
  }

  private now(): Date {
    return (this.options.now ?? (() => new Date()))()
  }

  private async read(): Promise<LeaseRecord | undefined> {
    if (!(await this.location.stat())) return undefined
    const body = await text(await this.location.read()).catch((error: unknown) => {
      // Deleted between the stat and the read: released.
      if (error instanceof UsageError) return
      throw error
    })
    if (body === undefined) return undefined
    try {
      const record = JSON.parse(body) as LeaseRecord
      if (typeof record.holder?.id === 'string' && typeof record.expiresAt === 'string') return record
    } catch {}

    throw new UsageError(`${this.location.display} is not an archiver's lease: move it aside if no archiver runs`)
  }

  private refusal(record: LeaseRecord | undefined): UsageError {
    if (!record) return new UsageError(`${this.location.display} vanished as it was written: run the archiver again`)
    const {host, id, pid} = record.holder
    const lost = this.held ? 'this archiver lost its lease: ' : ''
    return new UsageError(
      `${lost}another archiver holds ${this.location.display}: host ${host}, pid ${pid} (lease ${id}), until ${record.expiresAt}; stop it, or wait for its lease to expire`,
    )
  }
}
