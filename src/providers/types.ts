import type {Readable} from 'node:stream'

/** What a provider knows about one stored object. */
export interface ObjectInfo {
  /** The object's location, in the same scheme as the provider's, with secrets redacted. */
  location: string
  modified: Date
  /** The key or file name relative to the listed prefix's parent "directory". */
  name: string
  size: number
}

export interface WriteOptions {
  /** Replace an existing object. Without it, writing over an existing object fails with UsageError. */
  overwrite?: boolean
}

/**
 * One storage location (a file, an S3 object, stdout/stdin), resolved from a location string by the
 * registry. Every method streams; nothing holds a whole archive in memory or makes a temp copy of it.
 */
export interface StorageProvider {
  /** The location of `name` inside this location (a file in a directory, a key under a prefix). */
  child(name: string): StorageProvider
  /** Delete the object; a missing object throws UsageError. */
  delete(): Promise<void>

  /** The location as it may be shown to people: secrets (keys, passwords, tokens) redacted. */
  readonly display: string

  /**
   * Objects whose location starts with this location (a directory lists its files; an S3 key lists
   * keys under that prefix), sorted by name.
   */
  list(): Promise<ObjectInfo[]>

  /** Open the object for reading. A missing object throws UsageError naming the location. */
  read(): Promise<Readable>

  /** The scheme this provider was registered under: "file", "s3", "-". */
  readonly scheme: string

  /** Size and modification time, or undefined when nothing is there. */
  stat(): Promise<ObjectInfo | undefined>

  /**
   * Consume `source` into the location atomically: until `source` ends and the provider commits,
   * nobody sees a finished object at the location. If `source` errors or the write fails, whatever
   * was written is removed (temp file unlinked, multipart upload aborted) and the error is thrown.
   * Returns the number of bytes written.
   */
  write(source: Readable, options?: WriteOptions): Promise<number>
}

export type ProviderFactory = (location: string) => StorageProvider
