import type {Readable} from 'node:stream'

import {readFileSync, readlinkSync} from 'node:fs'
import {pipeline} from 'node:stream/promises'

import type {ObjectInfo, StorageProvider} from './types.js'

import {errorMessage, OperationError, UsageError} from '../errors.js'
import {registerProvider} from './registry.js'

/** "-": write to standard output, read from standard input. */
export class StdioProvider implements StorageProvider {
  readonly display = '-'
  readonly scheme = '-'

  child(): StorageProvider {
    throw new UsageError('Naming a file inside a location is not supported for -')
  }

  async delete(): Promise<void> {
    throw new UsageError('Deleting is not supported for -')
  }

  async list(): Promise<ObjectInfo[]> {
    throw new UsageError('Listing is not supported for -')
  }

  async read(): Promise<Readable> {
    return process.stdin
  }

  async stat(): Promise<ObjectInfo | undefined> {
    return undefined
  }

  /**
   * Unlike the other providers this cannot be atomic: the consumer sees the bytes as they come and
   * cannot be told to discard them, so it has to notice a failure from our exit status (or from
   * the archive being truncated).
   */
  async write(source: Readable): Promise<number> {
    let bytes = 0
    try {
      await pipeline(
        source,
        async function* (chunks: AsyncIterable<Buffer>) {
          for await (const chunk of chunks) {
            bytes += chunk.length
            yield chunk
          }
        },
        process.stdout,
        {end: false},
      )
      return bytes
    } catch (error) {
      if (error instanceof UsageError || error instanceof OperationError) throw error
      if ((error as NodeJS.ErrnoException).code === 'EPIPE') {
        throw new OperationError(
          'Cannot write the archive to standard output: its reader closed it (EPIPE); the archive is incomplete',
          {cause: error},
        )
      }

      throw new OperationError(`Cannot write to standard output: ${errorMessage(error)}`, {cause: error})
    }
  }
}

/**
 * Refuses, before anything is done, a standard output that would lose the archive: a terminal (as
 * gzip does: the bytes garble it), or none at all.
 */
export function checkStdoutTakesArchive(): void {
  if (process.stdout.isTTY)
    throw new UsageError('Refusing to write compressed data to a terminal: redirect stdout to a file or a command')
  if (stdoutWasClosed())
    throw new UsageError('Standard output is closed: redirect it to a file or a command to receive the archive')
}

/**
 * Node opens /dev/null read-write in place of a closed descriptor at startup (`>&-`); a shell opens
 * it write-only for a `> /dev/null` chosen on purpose. Linux only (/proc): elsewhere a closed
 * stdout goes undetected.
 */
function stdoutWasClosed(): boolean {
  try {
    const flags = /^flags:\s*([0-7]+)$/m.exec(readFileSync('/proc/self/fdinfo/1', 'utf8'))?.[1]
    const O_ACCMODE = 0o3
    const O_RDWR = 0o2
    return (
      flags !== undefined &&
      (Number.parseInt(flags, 8) & O_ACCMODE) === O_RDWR &&
      readlinkSync('/proc/self/fd/1') === '/dev/null'
    )
  } catch {
    return false
  }
}

registerProvider('-', () => new StdioProvider())
