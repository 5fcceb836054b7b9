import {randomUUID} from 'node:crypto'
import {Readable} from 'node:stream'
import {buffer} from 'node:stream/consumers'

import {errorMessage, OperationError, UsageError} from '../errors.js'
import type {StorageProvider} from '../providers/types.js'
import {type BackupInfo, isId, STATUSES} from './wire.js'

const METADATA_SUFFIX = '.json'

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

  constructor(storage: StorageProvider) {
    this.directory = storage.child('')
  }

  get display(): string {
    return this.directory.display
  }

  /** Fails unless the location can be listed, written and deleted: a typo or a read-only mount shows at start. */
  async checkWritable(): Promise<void> {
    await this.directory.list()
    const probe = this.directory.child(`.dcos-backup-probe-${randomUUID()}`)
    try {
      await probe.write(Readable.from([Buffer.from('probe\n')]))
    } catch (error) {
      throw new UsageError(`Cannot write to --storage ${this.display}: ${errorMessage(error)}`)
    }

    await probe.delete()
  }

  archive(id: string, component: string): StorageProvider {
    return this.directory.child(`${id}.${component}.tar.gz`)
  }

  /** Every backup's metadata, and the metadata objects that could not be read. */
  async list(): Promise<{backups: BackupInfo[]; problems: StoreProblem[]}> {
    const objects = await this.directory.list()
    const names = objects.map((object) => object.name).filter((name) => name.endsWith(METADATA_SUFFIX) && isId(name.slice(0, -METADATA_SUFFIX.length)))
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

  async get(id: string): Promise<BackupInfo | undefined> {
    if (!isId(id) || !(await this.metadata(id).stat())) return undefined
    return this.read(`${id}${METADATA_SUFFIX}`)
  }

  /** Replaces the metadata atomically: readers see the old or the new version, never a mix. */
  async save(backup: BackupInfo): Promise<void> {
    await this.metadata(backup.id).write(Readable.from([Buffer.from(JSON.stringify(backup, null, 2) + '\n')]), {overwrite: true})
  }

  /** The metadata goes first, so a backup is never listed without its archives. */
  async remove(id: string): Promise<void> {
    await this.metadata(id).delete()
    const archives = (await this.directory.list()).filter((object) => object.name.startsWith(`${id}.`) && object.name.endsWith('.tar.gz'))
    await Promise.all(archives.map((object) => this.directory.child(object.name).delete()))
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
