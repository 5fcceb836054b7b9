import type {Readable} from 'node:stream'
import {pipeline} from 'node:stream/promises'

import {errorMessage, OperationError, UsageError} from '../errors.js'
import {registerProvider} from './registry.js'
import type {ObjectInfo, StorageProvider} from './types.js'

/** "-": write to standard output, read from standard input. */
export class StdioProvider implements StorageProvider {
  readonly scheme = '-'
  readonly display = '-'

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
      throw new OperationError(`Cannot write to standard output: ${errorMessage(error)}`, {cause: error})
    }
  }

  async read(): Promise<Readable> {
    return process.stdin
  }

  async stat(): Promise<ObjectInfo | undefined> {
    return undefined
  }

  async list(): Promise<ObjectInfo[]> {
    throw new UsageError('Listing is not supported for -')
  }

  async delete(): Promise<void> {
    throw new UsageError('Deleting is not supported for -')
  }

  child(): StorageProvider {
    throw new UsageError('Naming a file inside a location is not supported for -')
  }
}

registerProvider('-', () => new StdioProvider())
