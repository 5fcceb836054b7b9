/**
 * Pins a running node's files before they are copied, so that autopurge (PurgeTxnLog) cannot take
 * them away mid-copy: a hard link in a staging directory beside version-2/ (same directory, so same
 * file system), or, where linking fails (another file system, read-only, no permission), an open
 * file handle. Either keeps the file's content reachable after ZooKeeper deletes its name.
 */
import {randomBytes} from 'node:crypto'
import {closeSync, openSync, readSync, type Stats} from 'node:fs'
import {type FileHandle, link, mkdir, open, readdir, rm, stat} from 'node:fs/promises'
import {basename, dirname, join} from 'node:path'

import {errorMessage, OperationError} from '../../errors.js'
import {pidAlive} from './running.js'

export const STAGING_PREFIX = '.dcos-backup-pin.'

export interface PinnedFile {
  /** The held handle, when no link could be made. */
  handle?: FileHandle
  /** The hard link, when one could be made. */
  link?: string
  /** The file's path in the node's directory. */
  original: string
  /** Its size when pinned. */
  size: number
  /** Its metadata when pinned, for the archive member. */
  stats: Stats
}

export class Pins {
  private readonly pinned: PinnedFile[] = []
  private readonly staging = new Map<string, null | string>()

  /**
   * The first `length` bytes (none past it, even if the file grows meanwhile), read into `buffer`
   * again and again: each chunk is good until the next is asked for. A copy of hundreds of MiB then
   * makes no garbage, which a process holding a large tree would otherwise let pile up.
   */
  async *chunks(file: PinnedFile, length: number, buffer: Buffer): AsyncGenerator<Buffer> {
    const handle = file.handle ?? (await open(file.link!, 'r'))
    try {
      for (let position = 0; position < length;) {
        const {bytesRead} = await handle.read(buffer, 0, Math.min(buffer.length, length - position), position)
        if (bytesRead === 0) return
        position += bytesRead
        yield buffer.subarray(0, bytesRead)
      }
    } finally {
      if (!file.handle) await handle.close()
    }
  }

  /** Links `path` (or holds it open); undefined when it no longer exists (purged since it was listed). */
  async pin(path: string): Promise<PinnedFile | undefined> {
    const stagingDir = await this.stagingFor(dirname(dirname(path)))
    if (stagingDir) {
      const linked = join(stagingDir, `${this.pinned.length}-${basename(path)}`)
      try {
        await link(path, linked)
        const stats = await stat(linked)
        return this.keep({link: linked, original: path, size: Number(stats.size), stats})
      } catch (error) {
        if (code(error) === 'ENOENT') return undefined
      }
    }

    let handle: FileHandle
    try {
      handle = await open(path, 'r')
    } catch (error) {
      if (code(error) === 'ENOENT') return undefined
      throw new OperationError(`cannot read ${path}: ${errorMessage(error)}`)
    }

    const stats = await handle.stat()
    return this.keep({handle, original: path, size: Number(stats.size), stats})
  }

  /**
   * The first `length` bytes of a pinned file, read whole (the log cut and the replay need them so,
   * and the replay reads synchronously).
   */
  read(file: PinnedFile, length = file.size): Buffer {
    return this.readAt(file, 0, length)
  }

  /** The `length` bytes of a pinned file from `position`, read synchronously. */
  readAt(file: PinnedFile, position: number, length: number): Buffer {
    const bytes = Buffer.alloc(length)
    const filled = this.readInto(file, bytes, position, length)
    if (filled < length)
      throw new OperationError(
        `${file.original} shrank to ${position + filled} bytes while it was copied (${position + length} expected): try again`,
      )
    return bytes
  }

  /** Up to `length` bytes of a pinned file from `position` into `target`; how many there were. */
  readInto(file: PinnedFile, target: Buffer, position: number, length: number): number {
    const fd = file.handle?.fd ?? openSync(file.link!, 'r')
    try {
      let filled = 0
      while (filled < length) {
        const read = readSync(fd, target, filled, length - filled, position + filled)
        if (read === 0) break
        filled += read
      }

      return filled
    } finally {
      if (!file.handle) closeSync(fd)
    }
  }

  /** Closes the handles and removes the staging directories: the files are ZooKeeper's again. */
  async release(): Promise<void> {
    for (const file of this.pinned) await file.handle?.close().catch(() => {})
    for (const dir of this.staging.values()) if (dir) await rm(dir, {force: true, recursive: true}).catch(() => {})
    this.pinned.length = 0
    this.staging.clear()
  }

  private keep(file: PinnedFile): PinnedFile {
    this.pinned.push(file)
    return file
  }

  /** `<dir>/.dcos-backup-pin.<pid>.<random>/`, made on first use; null when it cannot be made. */
  private async stagingFor(dir: string): Promise<null | string> {
    if (this.staging.has(dir)) return this.staging.get(dir)!
    await removeAbandoned(dir)
    const staging = join(dir, `${STAGING_PREFIX}${process.pid}.${randomBytes(4).toString('hex')}`)
    const made = await mkdir(staging, {mode: 0o700}).then(
      () => staging,
      () => null,
    )
    this.staging.set(dir, made)
    return made
  }
}

/** Staging directories of backups that were killed (their pid is gone) would keep purged files' space forever. */
async function removeAbandoned(dir: string): Promise<void> {
  const entries = await readdir(dir).catch(() => [] as string[])
  for (const entry of entries) {
    const pid = Number(/^\.dcos-backup-pin\.(\d+)\./.exec(entry)?.[1])
    if (pid > 0 && pid !== process.pid && !pidAlive(pid))
      await rm(join(dir, entry), {force: true, recursive: true}).catch(() => {})
  }
}

function code(error: unknown): string | undefined {
  return (error as NodeJS.ErrnoException).code
}
