import {randomUUID} from 'node:crypto'
import {mkdir, stat} from 'node:fs/promises'
import {dirname} from 'node:path'
import {Readable} from 'node:stream'
import {buffer} from 'node:stream/consumers'

import type {StorageProvider} from '../providers/types.js'

import {errorMessage, OperationError, UsageError} from '../errors.js'
import {FileProvider} from '../providers/file.js'
import {redactLocation} from '../providers/index.js'
import {type BackupInfo, isId, STATUSES} from './api.js'

const METADATA_SUFFIX = '.json'
export const STORAGE_UNAVAILABLE = 'the backup storage is not available'

/** The storage failed: `message` is for clients (no server path), `detail` for the service's log. */
export class StorageError extends OperationError {
  constructor(
    message: string,
    readonly detail: string,
  ) {
    super(message)
    this.name = 'StorageError'
  }
}

export interface StoreProblem {
  name: string
  problem: string
}

/**
 * Backups in a storage location, which is the source of truth: `<id>.json` holds a backup's
 * metadata (its restores included) and `<id>.<component>.tar.gz` each component's archive, in the
 * foundation's format. Every service instance pointed at the location sees the same backups, with
 * or without ZooKeeper.
 */
export class BackupStore {
  /** The location itself, listed as a directory (a bucket prefix on S3). */
  private readonly directory: StorageProvider
  /** A local directory: it must exist (a missing one lists as empty). */
  private readonly localDirectory?: string

  constructor(storage: StorageProvider) {
    this.directory = storage.child('')
    if (storage instanceof FileProvider) this.localDirectory = storage.path
  }

  get display(): string {
    return this.directory.display
  }

  archive(id: string, component: string): StorageProvider {
    return this.directory.child(`${id}.${component}.tar.gz`)
  }

  /**
   * Creates a missing local directory (mode 0700: it holds the clusters' state) when its parent
   * exists, then fails unless the location can be listed, written and deleted: a typo or a
   * read-only mount shows at start.
   */
  async checkWritable(): Promise<void> {
    if (this.localDirectory) await this.createLocalDirectory(this.localDirectory)
    await this.directory.list()
    const probe = this.directory.child(`.dcos-backup-probe-${randomUUID()}`)
    try {
      await probe.write(Readable.from([Buffer.from('probe\n')]))
    } catch (error) {
      throw new UsageError(`Cannot write to --storage ${this.display}: ${errorMessage(error)}`)
    }

    await probe.delete()
  }

  async get(id: string): Promise<BackupInfo | undefined> {
    if (!isId(id)) return undefined
    const found = await this.guard(`read backup ${id}`, () => this.metadata(id).stat())
    return found && this.read(`${id}${METADATA_SUFFIX}`)
  }

  /** Server paths out of a message meant for clients: names in the storage stay, its directory goes. */
  hideLocation(message: string): string {
    const dir = this.localDirectory
    // "/" itself is in every path: nothing to hide.
    return dir && dir !== '/' ? message.replaceAll(`${dir}/`, '').replaceAll(dir, 'the backup storage') : message
  }

  /** Every backup's metadata, and the metadata objects that could not be read. */
  async list(): Promise<{backups: BackupInfo[]; problems: StoreProblem[]}> {
    const objects = await this.guard('list the backups', () => this.directory.list())
    const names = objects
      .map((object) => object.name)
      .filter((name) => name.endsWith(METADATA_SUFFIX) && isId(name.slice(0, -METADATA_SUFFIX.length)))
    const results = await Promise.all(
      names.map(async (name) => {
        try {
          return {backup: await this.read(name)}
        } catch (error) {
          return {problem: {name, problem: errorMessage(error)}}
        }
      }),
    )
    return {
      backups: results.flatMap((result) => (result.backup ? [result.backup] : [])),
      problems: results.flatMap((result) => (result.problem ? [result.problem] : [])),
    }
  }

  /** The metadata goes first, so a backup is never listed without its archives. */
  async remove(id: string): Promise<void> {
    await this.guard(`delete backup ${id}`, async () => {
      await this.metadata(id).delete()
      const archives = (await this.directory.list()).filter(
        (object) => object.name.startsWith(`${id}.`) && object.name.endsWith('.tar.gz'),
      )
      await Promise.all(archives.map((object) => this.directory.child(object.name).delete()))
    })
  }

  /** Replaces the metadata atomically: readers see the old or the new version, never a mix. */
  async save(backup: BackupInfo): Promise<void> {
    await this.guard(`save backup ${backup.id}`, () =>
      this.metadata(backup.id).write(Readable.from([Buffer.from(JSON.stringify(backup, null, 2) + '\n')]), {
        overwrite: true,
      }),
    )
  }

  private async createLocalDirectory(dir: string): Promise<void> {
    const info = await stat(dir).catch(() => undefined)
    if (info) {
      if (!info.isDirectory()) throw new UsageError(`Cannot write to --storage ${this.display}: it is not a directory`)
      return
    }

    const parent = dirname(dir)
    if (!(await stat(parent).catch(() => undefined))?.isDirectory()) {
      throw new UsageError(
        `Cannot write to --storage ${this.display}: its parent directory ${redactLocation(parent)} does not exist`,
      )
    }

    await mkdir(dir, {mode: 0o700}).catch((error: unknown) => {
      throw new UsageError(`Cannot write to --storage ${this.display}: cannot create it: ${errorMessage(error)}`)
    })
  }

  /** Storage failures, missing storage first, as StorageError: not the client's fault (500), and no server path in what clients see. */
  private async guard<T>(action: string, run: () => Promise<T>): Promise<T> {
    await this.requireAvailable()
    try {
      return await run()
    } catch (error) {
      await this.requireAvailable()
      throw new StorageError(`the backup storage could not ${action}`, redactLocation(errorMessage(error)))
    }
  }

  private metadata(id: string): StorageProvider {
    return this.directory.child(`${id}${METADATA_SUFFIX}`)
  }

  private async read(name: string): Promise<BackupInfo> {
    const text = (await buffer(await this.directory.child(name).read())).toString('utf8')
    let parsed: unknown
    try {
      parsed = JSON.parse(text)
    } catch {
      throw new OperationError(`${name} in ${this.display} is not JSON`)
    }

    if (!isBackupInfo(parsed) || `${parsed.id}${METADATA_SUFFIX}` !== name) {
      throw new OperationError(`${name} in ${this.display} is not the metadata of a backup`)
    }

    return parsed
  }

  private async requireAvailable(): Promise<void> {
    const dir = this.localDirectory
    if (!dir) return
    const info = await stat(dir).catch((error: unknown) => errorMessage(error))
    if (typeof info === 'string' || !info.isDirectory()) {
      throw new StorageError(
        STORAGE_UNAVAILABLE,
        `the storage directory ${dir} is not there: ${typeof info === 'string' ? info : 'not a directory'}`,
      )
    }
  }
}

function isBackupInfo(value: unknown): value is BackupInfo {
  const backup = value as BackupInfo
  return (
    typeof backup === 'object' &&
    backup !== null &&
    typeof backup.id === 'string' &&
    typeof backup.timestamp === 'string' &&
    STATUSES.includes(backup.status) &&
    typeof backup.component_status === 'object' &&
    backup.component_status !== null &&
    Array.isArray(backup.restores)
  )
}
