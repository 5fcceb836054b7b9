import type {Stats} from 'node:fs'
import type {Readable} from 'node:stream'

import {randomBytes} from 'node:crypto'
import {link, open, readdir, rename, rm, stat, unlink} from 'node:fs/promises'
import {basename, dirname, join, resolve, sep} from 'node:path'
import {fileURLToPath} from 'node:url'

import type {ObjectInfo, StorageProvider, WriteOptions} from './types.js'

import {errorMessage, OperationError, UsageError} from '../errors.js'
import {redactLocation} from './redact.js'
import {registerProvider} from './registry.js'

/** Names of the temp files write() streams into before publishing; list() skips them. */
export const TEMP_FILE = /^\..+\.tmp-(\d+)-[0-9a-f]+$/

/** A local file, or with list() a directory or a file name prefix ("/backups/zk-"). */
export class FileProvider implements StorageProvider {
  readonly display: string
  readonly scheme = 'file'

  /** `path` must be absolute; `isDirectory` says the location ended with "/". */
  constructor(
    readonly path: string,
    private readonly isDirectory = false,
  ) {
    this.display = redactLocation(path)
  }

  child(name: string): StorageProvider {
    return new FileProvider(join(this.path, name))
  }

  async delete(): Promise<void> {
    await unlink(this.path).catch((error) => {
      throw isCode(error, 'ENOENT', 'ENOTDIR') ? usage(`No archive at ${this.path}`) : this.failure('delete', error)
    })
  }

  async list(): Promise<ObjectInfo[]> {
    try {
      const isDirectory = this.isDirectory || (await statIfExists(this.path))?.isDirectory()
      const [directory, prefix] = isDirectory ? [this.path, ''] : [dirname(this.path), basename(this.path)]
      const entries = await readdir(directory, {withFileTypes: true}).catch((error) => {
        if (isCode(error, 'ENOENT', 'ENOTDIR')) return []
        throw error
      })
      const names = entries
        .filter((entry) => entry.isFile() && entry.name.startsWith(prefix) && !TEMP_FILE.test(entry.name))
        .map((entry) => entry.name)
        .sort()
      const infos = await Promise.all(
        names.map(async (name) => {
          const path = join(directory, name)
          const stats = await statIfExists(path)
          return stats && info(path, stats)
        }),
      )
      return infos.filter((entry) => entry !== undefined)
    } catch (error) {
      throw this.failure('list', error)
    }
  }

  async read(): Promise<Readable> {
    const file = await open(this.path, 'r').catch((error) => {
      throw isCode(error, 'ENOENT', 'ENOTDIR') ? usage(`No archive at ${this.path}`) : this.failure('read', error)
    })
    const stats = await file.stat().catch(async (error) => {
      await file.close()
      throw this.failure('read', error)
    })
    if (!stats.isFile()) {
      await file.close()
      throw usage(`Cannot read ${this.path}: not a file`)
    }

    return file.createReadStream()
  }

  async stat(): Promise<ObjectInfo | undefined> {
    const stats = await statIfExists(this.path).catch((error) => {
      throw this.failure('stat', error)
    })
    return stats?.isFile() ? info(this.path, stats) : undefined
  }

  async write(source: Readable, {overwrite = false}: WriteOptions = {}): Promise<number> {
    // The source may fail while we check the location: its error then surfaces when we read from it,
    // rather than as an 'error' event nobody listens to, which would end the process.
    source.on('error', () => {})
    const directory = dirname(this.path)
    const temp = join(directory, `.${basename(this.path)}.tmp-${process.pid}-${randomBytes(6).toString('hex')}`)
    try {
      if (!(await statIfExists(directory))?.isDirectory()) {
        throw usage(`Cannot write ${this.path}: directory ${directory} does not exist`)
      }

      if (!overwrite && (await statIfExists(this.path))) throw this.alreadyExists()
      const bytes = await writeSynced(temp, source)
      // link() fails with EEXIST instead of replacing a file that appeared while we were streaming.
      await (overwrite ? rename(temp, this.path) : link(temp, this.path))
      await syncDirectory(directory)
      return bytes
    } catch (error) {
      source.destroy()
      throw !overwrite && isCode(error, 'EEXIST') ? this.alreadyExists() : this.failure('write', error)
    } finally {
      await rm(temp, {force: true})
    }
  }

  private alreadyExists(): UsageError {
    return usage(`${this.path} already exists: choose another location or pass --force`)
  }

  private failure(action: string, error: unknown): Error {
    // Our own errors come from the source stream and already say what went wrong.
    if (error instanceof UsageError || error instanceof OperationError) return error
    return new OperationError(redactLocation(`Cannot ${action} ${this.path}: ${describe(error)}`), {cause: error})
  }
}

/** A plain path (relative to the current directory) or a file:///abs/path URL. */
export function fileProvider(location: string): FileProvider {
  const path = /^file:\/\//i.test(location) ? fileUrlToPath(location) : location
  return new FileProvider(resolve(path), path.endsWith('/') || path.endsWith(sep))
}

function fileUrlToPath(location: string): string {
  let url: URL
  try {
    url = new URL(location)
  } catch {
    throw usage(`Malformed file location ${location}: use file:///abs/path`)
  }

  if (url.hostname)
    throw usage(`Cannot use ${location}: only local files are supported (file:///abs/path), not host "${url.hostname}"`)
  if (!/^file:\/\/(localhost)?\//i.test(location))
    throw usage(`Malformed file location ${location}: use file:///abs/path`)
  try {
    return fileURLToPath(url)
  } catch (error) {
    throw usage(`Malformed file location ${location}: ${errorMessage(error)}`)
  }
}

/**
 * Copy `source` into a new file and fsync it, so that what gets published survives a crash. Plain
 * writes on a FileHandle, not a write stream: the file exists once open() returns (a stream opens it
 * lazily, possibly after our cleanup), and FileHandle.close() hangs while a stream still holds it.
 */
async function writeSynced(path: string, source: Readable): Promise<number> {
  let bytes = 0
  // Owner only: archives and metadata hold the whole state of a cluster.
  const file = await open(path, 'wx', 0o600)
  try {
    for await (const chunk of source as AsyncIterable<Buffer>) {
      for (let offset = 0; offset < chunk.length;) offset += (await file.write(chunk, offset)).bytesWritten
      bytes += chunk.length
    }

    await file.sync()
  } finally {
    await file.close()
  }

  return bytes
}

/** Makes the new directory entry durable as well, not only the file's bytes. */
async function syncDirectory(path: string): Promise<void> {
  const directory = await open(path, 'r')
  try {
    await directory.sync()
  } finally {
    await directory.close()
  }
}

async function statIfExists(path: string): Promise<Stats | undefined> {
  return stat(path).catch((error) => {
    if (isCode(error, 'ENOENT', 'ENOTDIR')) return undefined
    throw error
  })
}

function info(path: string, stats: Stats): ObjectInfo {
  return {location: redactLocation(path), name: basename(path), size: stats.size, modified: stats.mtime}
}

function isCode(error: unknown, ...codes: string[]): boolean {
  return codes.includes((error as NodeJS.ErrnoException)?.code ?? '')
}

/** Node's system errors read "ENOSPC: no space left on device, write": keep the human part. */
function describe(error: unknown): string {
  const message = errorMessage(error)
  return /^E[A-Z0-9]+: (.+?), \w+(?: '.*)?$/s.exec(message)?.[1] ?? message
}

function usage(message: string): UsageError {
  return new UsageError(redactLocation(message))
}

registerProvider('file', fileProvider)
