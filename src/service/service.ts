import {setTimeout as sleep} from 'node:timers/promises'

import type {StorageProvider} from '../providers/types.js'

import {readArchive} from '../archive/reader.js'
import {backupTree} from '../engine/backup.js'
import {type PreparedRestore, prepareRestore, type RestoreOptions, restoreTree} from '../engine/restore.js'
import {errorMessage, OperationError, UsageError} from '../errors.js'
import {redactLocation} from '../providers/index.js'
import {ProviderView} from '../providers/view.js'
import {identitiesOf} from '../zk/acl.js'
import {ClusterLock, DEFAULT_LOCK_PATH, INSTANCE, type LockHolder} from '../zk/lock.js'
import {type SessionOptions, ZkSession} from '../zk/session.js'
import {
  type BackupInfo,
  BUSY_MESSAGE,
  type ComponentStatus,
  isReady,
  labelProblem,
  newestFirst,
  newId,
  type RestoreInfo,
  type Status,
  timestamp,
} from './api.js'
import {BackupStore, StorageError} from './store.js'

/** How long a held lock is tried again before a job is refused as busy, and how often. */
const LOCK_SETTLE_MS = 2000
const LOCK_RETRY_MS = 100

export interface Component {
  name: string
  path: string
}

/** Structured logging, as pino does it: details first, then the message. */
export interface Logger {
  error(details: object, message: string): void
  info(details: object, message: string): void
  warn(details: object, message: string): void
}

export interface ServiceOptions {
  /** Runs once a job holds the lock and is recorded, before its work starts (tests pause jobs here). */
  beforeJobWork?: (job: {id: string; kind: 'backup' | 'restore'}) => Promise<void>
  /** Runs once a job recorded its end, before it lets go of the lock (tests pause jobs here). */
  beforeLockRelease?: (job: {id: string; kind: 'backup' | 'restore'}) => Promise<void>
  /** How often to look for jobs whose instance died, and mark them failed. Default: the session timeout, after which a dead holder's lock is gone. */
  cleanupIntervalMs?: number
  components: Component[]
  /** Left out of backups and left alone by restores (Marathon's leader election by default). */
  exclude?: string[]
  lockPath?: string
  log: Logger
  schedule?: {intervalMs: number; keep: number}
  /** How long stop() lets a running job finish before it ends the ZooKeeper session under it. */
  stopGraceMs?: number
  storage: StorageProvider
  /** Shown as each backup's dcos_version. */
  version: string
  zk: SessionOptions
}

export const SCHEDULED_LABEL = 'scheduled'
const SAFETY_LABEL = 'pre-restore'
const INTERRUPTED = 'interrupted: the service instance running it stopped before it finished (crash or restart)'

/** DC/OS's busy error: another backup or restore holds the cluster-wide lock. */
export class BusyError extends OperationError {
  constructor() {
    super(BUSY_MESSAGE)
    this.name = 'BusyError'
  }
}

interface RunningJob {
  /** Settles once the lock is released too. */
  done: Promise<void>
  id: string
  /** Set once the job recorded its end: all that is left is letting go of the lock. */
  workEnded: boolean
}

/**
 * The backup service without its HTTP layer: backups and restores of the configured components,
 * one job at a time across every instance (the lock in ZooKeeper), with the storage location as
 * the only record of what exists.
 */
export class BackupService {
  private connecting?: Promise<ZkSession>
  private readonly exclude: string[]
  private readonly lock: ClusterLock
  private running?: RunningJob
  private session?: ZkSession
  private stopped = false
  private readonly store: BackupStore
  private readonly timers = new Set<NodeJS.Timeout>()

  constructor(private readonly options: ServiceOptions) {
    this.store = new BackupStore(options.storage)
    this.lock = new ClusterLock(options.lockPath ?? DEFAULT_LOCK_PATH)
    this.exclude = options.exclude ?? []
  }

  get storageDisplay(): string {
    return this.store.display
  }

  /** Takes the lock, records the new backup and starts it; resolves with it as first recorded. */
  async create(label: string, scheduled = false): Promise<BackupInfo> {
    const problem = labelProblem(label)
    if (problem) throw new UsageError(problem)
    const id = newId(label)
    const backup: BackupInfo = {
      component_status: componentStatuses(
        this.options.components.map((component) => component.name),
        'STATUS_UNKNOWN',
      ),
      dcos_version: this.options.version,
      id,
      restores: [],
      status: 'STATUS_BACKING_UP',
      timestamp: timestamp(),
      ...(scheduled ? {scheduled: true} : {}),
    }
    // The job changes `backup` as it goes; the answer is the backup as first recorded.
    const recorded = structuredClone(backup)
    await this.startJob(id, 'backup', async () => {
      await this.store.save(backup)
      return (session) => this.runBackup(session, backup)
    })
    return recorded
  }

  async delete(id: string): Promise<void> {
    const backup = await this.store.get(id)
    if (!backup) throw await this.unknownBackup(id)
    if (backup.status === 'STATUS_BACKING_UP')
      throw new UsageError(`Backup ${id} is still being created: wait until it is ready or failed`)
    if (backup.restores.some((restore) => restore.status === 'STATUS_RESTORING')) {
      throw new UsageError(`Backup ${id} is being restored: wait until the restore ends`)
    }

    await this.store.remove(id)
    this.options.log.info({backup: id}, 'backup deleted')
  }

  /** Newest first; `prefix` filters by id. */
  async list(prefix = ''): Promise<BackupInfo[]> {
    const {backups, problems} = await this.store.list()
    for (const {name, problem} of problems)
      this.options.log.warn({object: name, problem}, 'unreadable backup metadata skipped')
    return backups.filter((backup) => backup.id.startsWith(prefix)).sort(newestFirst)
  }

  /** What a client may see of an error: no server path, no secret. */
  publicMessage(error: unknown): string {
    return error instanceof StorageError ? error.message : this.store.hideLocation(redactLocation(errorMessage(error)))
  }

  /** Takes the lock, records the restore in its backup and starts it; resolves with the restore. */
  async restore(backupId: string): Promise<RestoreInfo> {
    const found = await this.store.get(backupId)
    if (!found) throw await this.unknownBackup(backupId)
    if (!isReady(found))
      throw new UsageError(`Backup ${backupId} is ${found.status}: only a ready backup can be restored`)
    await this.checkArchiveRoots(found)
    const restore: RestoreInfo = {
      backup_id: backupId,
      component_status: componentStatuses(Object.keys(found.component_status), 'STATUS_UNKNOWN'),
      id: newId('restore'),
      status: 'STATUS_RESTORING',
      timestamp: timestamp(),
    }
    const recorded = structuredClone(restore)
    await this.startJob(restore.id, 'restore', async () => {
      // Read again under the lock: it may have been deleted meanwhile.
      const backup = await this.store.get(backupId)
      if (!backup) throw new UsageError(`Backup ${backupId} was deleted`)
      backup.restores.push(restore)
      await this.store.save(backup)
      return (session) => this.runRestore(session, backup, restore)
    })
    return recorded
  }

  /** Checks that the storage can be written, then starts the clean-up and the schedule. */
  async start(): Promise<void> {
    await this.store.checkWritable()
    this.repeat(
      'clean-up of interrupted jobs',
      this.options.cleanupIntervalMs ?? Math.max(1000, this.options.zk.sessionTimeoutMs ?? 15_000),
      () => this.failInterruptedJobsIfAny(),
      true,
    )
    const {schedule} = this.options
    if (schedule) this.repeat('scheduled backup', schedule.intervalMs, () => this.runScheduledBackup(), false)
  }

  /** Stops the timers, lets a running job finish within the grace time, and ends the session. */
  async stop(): Promise<void> {
    this.stopped = true
    for (const timer of this.timers) clearTimeout(timer)
    this.timers.clear()
    if (this.running) {
      const grace = new Promise((resolve) => {
        setTimeout(resolve, this.options.stopGraceMs ?? 30_000).unref()
      })
      await Promise.race([this.running.done, grace])
    }

    // The service's one session (the lock's, its backups'), which zk() opened: a connect under way included.
    const session = this.session ?? (await this.connecting?.catch(() => undefined))
    await session?.close()
  }

  private async acquire(id: string, kind: LockHolder['kind']): Promise<ZkSession> {
    if (this.stopped) throw new OperationError('The backup service is shutting down')
    const session = await this.zk()
    // A job records its end before it lets go of the lock: a client that saw it end and starts the
    // next job at once would be told "busy" for that moment, so a held lock is tried a little longer.
    const deadline = Date.now() + LOCK_SETTLE_MS
    while (!(await this.lock.tryAcquire(session, id, kind))) {
      if (Date.now() >= deadline) throw new BusyError()
      await sleep(LOCK_RETRY_MS)
    }

    return session
  }

  private async backUpComponents(
    session: ZkSession,
    backup: BackupInfo,
    components: Component[],
    {allowMissingRoot, save}: {allowMissingRoot: boolean; save: () => Promise<void>},
  ): Promise<void> {
    for (const {name, path} of components) {
      backup.component_status[name] = {status: 'STATUS_BACKING_UP'}
      await save()
      const {result} = await backupTree({
        allowMissingRoot,
        destination: this.store.archive(backup.id, name),
        exclude: this.exclude,
        root: path,
        session,
      })
      backup.component_status[name] = {status: 'STATUS_READY'}
      this.options.log.info(
        {backup: backup.id, component: name, znodes: result.znodes, bytes: result.archiveBytes},
        'component backed up',
      )
    }
  }

  /**
   * Before the lock: an archive whose header names another root than its component's configured
   * path (an archive planted in shared storage) is refused with nothing changed. The rest of each
   * archive is verified under the lock.
   */
  private async checkArchiveRoots(backup: BackupInfo): Promise<void> {
    for (const name of Object.keys(backup.component_status)) {
      const component = this.configuredComponent(backup, name)
      const archive = this.store.archive(backup.id, name)
      const root = await archiveRoot(archive, this.publicName(archive)).catch(() => undefined)
      // An unreadable archive fails the job, once the whole of it has been read under the lock.
      if (root !== undefined) requireRoot(backup, component, root, UsageError)
    }
  }

  private componentRestore(
    {path}: Component,
    source: StorageProvider,
    rollback: Partial<Pick<RestoreOptions, 'allowEmpty' | 'rollback' | 'rollbackFrom'>>,
  ): RestoreOptions {
    return {
      // The engine ends the session it is given; the lock stays with the service's own session.
      connect: () => ZkSession.connect(this.options.zk),
      exclude: this.exclude,
      // Only the configured path, whatever the archive says: one replaced since it was checked finds no znodes there and is refused.
      from: path,
      identities: identitiesOf(this.options.zk.auth),
      // Ours already (held by the service's own session): left alone, also by a restore of /.
      lock: {heldByCaller: true, job: 'service', path: this.lock.path},
      ...rollback,
      safetyBackup: null,
      source,
      target: path,
    }
  }

  private configuredComponent(backup: BackupInfo, name: string): Component {
    const component = this.options.components.find((candidate) => candidate.name === name)
    if (!component) {
      const configured = this.options.components.map((entry) => `${entry.name}=${entry.path}`).join(', ')
      throw new UsageError(
        `Backup ${backup.id} holds component ${JSON.stringify(name)}, which this service does not restore (its components: ${configured})`,
      )
    }

    return component
  }

  /** Only the lock holder runs a job, so while we hold it every job still marked running is dead. */
  private async failInterruptedJobs(session: ZkSession, current: string): Promise<void> {
    const {backups} = await this.store.list()
    for (const backup of backups) {
      const jobs = [backup, ...backup.restores].filter((job) => job.id !== current && inProgress(job.status))
      if (jobs.length === 0) continue
      for (const job of jobs) markFailed(job, INTERRUPTED)
      await this.saveUnderLock(session, current, backup)
      this.options.log.warn({jobs: jobs.map((job) => job.id)}, 'interrupted jobs marked failed')
    }
  }

  private async failInterruptedJobsIfAny(): Promise<void> {
    if (this.running || this.stopped) return
    const {backups} = await this.store.list()
    if (!backups.some((backup) => [backup, ...backup.restores].some((job) => inProgress(job.status)))) return
    const id = newId('cleanup')
    let session: ZkSession
    try {
      session = await this.acquire(id, 'cleanup')
    } catch (error) {
      if (error instanceof BusyError) return // the holder runs a job, and fails the dead ones itself
      throw error
    }

    try {
      await this.failInterruptedJobs(session, id)
    } finally {
      await this.lock.release(session, id)
    }
  }

  /** Keeps the newest `keep` ready scheduled backups and drops every scheduled backup older than them. */
  private async pruneScheduled(keep: number): Promise<void> {
    const scheduled = (await this.list()).filter((backup) => backup.scheduled && !inProgress(backup.status))
    const ready = scheduled.filter((backup) => isReady(backup))
    if (ready.length <= keep) return
    const oldestKept = ready[keep - 1]
    for (const backup of scheduled) {
      if (newestFirst(backup, oldestKept) <= 0 || backup.restores.some((restore) => inProgress(restore.status)))
        continue
      await this.store.remove(backup.id)
      this.options.log.info({backup: backup.id}, 'scheduled backup pruned')
    }
  }

  private publicName(archive: StorageProvider): string {
    return this.store.hideLocation(archive.display)
  }

  /** Records a failed job; if even that fails (the lock or storage is gone), the clean-up records it later. */
  private async recordFailure(
    job: BackupInfo | RestoreInfo,
    error: unknown,
    save: () => Promise<void>,
    suffix = '',
  ): Promise<void> {
    const reason = `${this.publicMessage(error)}${suffix}`
    markFailed(job, reason)
    this.options.log.error({detail: describeForLog(error), job: job.id, reason}, 'job failed')
    await save().catch((error: unknown) =>
      this.options.log.error({error: describeForLog(error), job: job.id}, 'could not record the failure'),
    )
  }

  /** Runs `task` every `intervalMs` (first at once when `now`), never two at a time; failures are logged. */
  private repeat(name: string, intervalMs: number, task: () => Promise<void>, now: boolean): void {
    const run = async () => {
      this.timers.delete(timer)
      await task().catch((error: unknown) => this.options.log.warn({error: describeForLog(error)}, `${name} failed`))
      if (!this.stopped) schedule(intervalMs)
    }

    let timer: NodeJS.Timeout
    const schedule = (delay: number) => {
      timer = setTimeout(run, delay)
      timer.unref()
      this.timers.add(timer)
    }

    schedule(now ? 0 : intervalMs)
  }

  /**
   * Restores one component from backup `id` (verified already when `prepared` is given); on failure
   * the engine puts it back from `safetyId`'s archive, when given.
   */
  private async restoreComponent(
    id: string,
    component: Component,
    restore: RestoreInfo,
    safetyId?: string,
    prepared?: PreparedRestore,
  ): Promise<void> {
    const {name} = component
    // Restoring a safety backup (a rollback) of a component that did not exist empties it.
    const rollback = safetyId ? {rollbackFrom: this.store.archive(safetyId, name)} : {allowEmpty: true, rollback: false}
    const result = await restoreTree(this.componentRestore(component, this.store.archive(id, name), rollback), prepared)
    this.options.log.info(
      {component: name, created: result.created, deleted: result.deleted, restore: restore.id},
      'component restored',
    )
  }

  /**
   * A restore that failed part way: the component that failed was rolled back by the engine; the
   * ones restored before it are put back from the safety backup too, so the whole restore changes
   * nothing. Returns what to add to the failure's reason.
   */
  private async rollBackComponents(restored: Component[], safetyId: string, restore: RestoreInfo): Promise<string> {
    try {
      for (const component of restored.reverse()) {
        await this.restoreComponent(safetyId, component, restore)
      }
    } catch (error) {
      this.options.log.error({detail: describeForLog(error), restore: restore.id}, 'rollback failed')
      return `; rolling back the components restored before it failed too (${this.publicMessage(error)}): the state before the restore is backup ${safetyId} (dcos backup restore ${safetyId})`
    }

    return restored.length > 0
      ? `; the components restored before it were rolled back from the safety backup ${safetyId}`
      : ''
  }

  private async runBackup(session: ZkSession, backup: BackupInfo): Promise<void> {
    const save = () => this.saveUnderLock(session, backup.id, backup)
    try {
      const {components} = this.options
      await this.backUpComponents(session, backup, components, {allowMissingRoot: false, save})
      backup.status = 'STATUS_READY'
      await save()
      this.options.log.info({backup: backup.id}, 'backup ready')
      if (backup.scheduled && this.options.schedule) await this.pruneScheduled(this.options.schedule.keep)
    } catch (error) {
      await this.recordFailure(backup, error, save)
    }
  }

  /**
   * Checks every archive (intact, and of its component's configured path), saves the current
   * state of each component as a backup of its own (the safety backup), and only then replaces
   * the components one after the other, each only at its configured path.
   */
  private async runRestore(session: ZkSession, backup: BackupInfo, restore: RestoreInfo): Promise<void> {
    const save = () => this.saveUnderLock(session, restore.id, backup)
    const restored: Component[] = []
    try {
      const prepared = await this.verifyArchives(backup)
      const components = [...prepared.keys()]
      const safetyId = await this.safetyBackup(session, restore, components)
      restore.safety_backup_id = safetyId
      await save()
      for (const component of components) {
        restore.component_status[component.name] = {status: 'STATUS_RESTORING'}
        await save()
        await this.restoreComponent(backup.id, component, restore, safetyId, prepared.get(component))
        restored.push(component)
        restore.component_status[component.name] = {status: 'STATUS_READY'}
      }

      restore.status = 'STATUS_READY'
      await save()
      this.options.log.info({backup: backup.id, restore: restore.id}, 'restore done')
    } catch (error) {
      const safetyId = restore.safety_backup_id
      const undo = safetyId ? await this.rollBackComponents(restored, safetyId, restore) : ''
      await this.recordFailure(restore, error, save, undo)
    }
  }

  private async runScheduledBackup(): Promise<void> {
    const backup = await this.create(SCHEDULED_LABEL, true)
    await this.running?.done
    this.options.log.info({backup: backup.id}, 'scheduled backup finished')
  }

  private async safetyBackup(session: ZkSession, restore: RestoreInfo, components: Component[]): Promise<string> {
    const safety: BackupInfo = {
      component_status: componentStatuses(
        components.map((component) => component.name),
        'STATUS_UNKNOWN',
      ),
      dcos_version: this.options.version,
      id: newId(SAFETY_LABEL),
      restores: [],
      safety_for_restore: restore.id,
      status: 'STATUS_BACKING_UP',
      timestamp: timestamp(),
    }
    const save = () => this.saveUnderLock(session, restore.id, safety)
    try {
      await this.backUpComponents(session, safety, components, {allowMissingRoot: true, save})
      safety.status = 'STATUS_READY'
      await save()
      return safety.id
    } catch (error) {
      await this.recordFailure(safety, error, save)
      throw new OperationError(
        `The safety backup ${safety.id} failed, so nothing was restored: ${this.publicMessage(error)}`,
      )
    }
  }

  /** Writes metadata only while the lock is still ours: with an expired session, another instance may already own it. */
  private async saveUnderLock(session: ZkSession, job: string, backup: BackupInfo): Promise<void> {
    if ((await this.lock.holder(session))?.job !== job) {
      throw new OperationError(`Lost the cluster lock while running ${job} (ZooKeeper session expired?)`)
    }

    await this.store.save(backup)
  }

  /** Runs `prepare` under the lock (after failing jobs whose instance died), then its work in the background. */
  private async startJob(
    id: string,
    kind: 'backup' | 'restore',
    prepare: () => Promise<(session: ZkSession) => Promise<void>>,
  ): Promise<void> {
    // A job that recorded its end is done for any client that watched it: its lock release is waited for.
    if (this.running?.workEnded) await this.running.done
    if (this.running) throw new BusyError()
    const session = await this.acquire(id, kind)
    let work: (session: ZkSession) => Promise<void>
    try {
      await this.failInterruptedJobs(session, id)
      work = await prepare()
    } catch (error) {
      await this.lock.release(session, id).catch(() => {})
      throw error
    }

    this.options.log.info({job: id, kind}, `${kind} started`)
    const job: RunningJob = {done: Promise.resolve(), id, workEnded: false}
    job.done = (async () => {
      try {
        await this.options.beforeJobWork?.({id, kind})
        await work(session)
      } finally {
        job.workEnded = true
        await this.options.beforeLockRelease?.({id, kind})
        await this.lock
          .release(session, id)
          .catch((error: unknown) =>
            this.options.log.warn({error: describeForLog(error), job: id}, 'could not release the lock'),
          )
        this.running = undefined
      }
    })()
    this.running = job
  }

  private async unknownBackup(id: string): Promise<UsageError> {
    const owner = (await this.list()).find((backup) => backup.restores.some((restore) => restore.id === id))
    if (owner) return new UsageError(`${id} is a restore of backup ${owner.id}, not a backup`)
    return new UsageError(`No backup with id ${id}: see dcos backup list`)
  }

  /**
   * Every archive of the backup, read whole and verified, and each of its component's configured
   * path: what each restore takes, so the restores that follow need not verify them again.
   */
  private async verifyArchives(backup: BackupInfo): Promise<Map<Component, PreparedRestore>> {
    const prepared = new Map<Component, PreparedRestore>()
    for (const name of Object.keys(backup.component_status)) {
      const component = this.configuredComponent(backup, name)
      const archive = this.store.archive(backup.id, component.name)
      const publicArchive = new ProviderView(archive, {display: this.publicName(archive)})
      const header = await archiveRoot(archive, publicArchive.display)
      requireRoot(backup, component, header, OperationError)
      const ready = await prepareRestore(this.componentRestore(component, publicArchive, {}))
      requireRoot(backup, component, ready.selection.archiveRoot, OperationError)
      prepared.set(component, ready)
    }

    return prepared
  }

  /** The service's own session, for the lock and for backups; reconnected after it expired. */
  private async zk(): Promise<ZkSession> {
    if (this.session?.alive) return this.session
    this.connecting ??= ZkSession.connect(this.options.zk)
      .then((session) => {
        this.session = session
        session.onClose(() => {
          if (!this.stopped)
            this.options.log.warn({instance: INSTANCE}, 'ZooKeeper session ended; the next job opens a new one')
        })
        return session
      })
      .finally(() => {
        this.connecting = undefined
      })
    return this.connecting
  }
}

function componentStatuses(names: string[], status: Status): Record<string, ComponentStatus> {
  return Object.fromEntries(names.map((name) => [name, {status}]))
}

function inProgress(status: Status): boolean {
  return status === 'STATUS_BACKING_UP' || status === 'STATUS_RESTORING'
}

function markFailed(job: BackupInfo | RestoreInfo, reason: string): void {
  job.status = 'STATUS_ERROR'
  job.reason = reason
  for (const component of Object.values(job.component_status)) {
    if (component.status !== 'STATUS_READY') Object.assign(component, {reason, status: 'STATUS_ERROR'})
  }
}

/** For the service's log: with the detail of a storage failure. */
export function describeForLog(error: unknown): string {
  return error instanceof StorageError ? `${error.message}: ${error.detail}` : redactLocation(errorMessage(error))
}

function requireRoot(
  backup: BackupInfo,
  component: Component,
  root: string,
  Failure: typeof OperationError | typeof UsageError,
): void {
  if (root === component.path) return
  throw new Failure(
    `Backup ${backup.id}'s archive of ${component.name} holds ${printable(root)}, not ${component.path} (the path of component ${component.name}): refusing to restore it; nothing was changed`,
  )
}

/** Text from an archive, with control characters escaped: it reaches clients' terminals. */
function printable(text: string): string {
  return /[\u0000-\u001F\u007F-\u009F]/.test(text) ? JSON.stringify(text).slice(1, -1) : text
}

/** The root in an archive's header, its first member: the rest is not read. */
async function archiveRoot(archive: StorageProvider, location: string): Promise<string> {
  const items = readArchive(await archive.read(), location)
  try {
    const first = await items.next()
    if (first.done || first.value.kind !== 'header') throw new OperationError(`${location} has no header`)
    return first.value.header.source.root
  } finally {
    await items.return(undefined)
  }
}
