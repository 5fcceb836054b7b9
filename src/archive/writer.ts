import {createHash} from 'node:crypto'
import {once} from 'node:events'
import {PassThrough, type Readable} from 'node:stream'
import {createGzip} from 'node:zlib'

import {
  type ArchiveHeader,
  DATA_NAME,
  encodeRecord,
  entryDirectory,
  HEADER_ENTRY,
  type Manifest,
  MANIFEST_ENTRY,
  RECORD_NAME,
  SUMS_ENTRY,
  TREE_SUMS_NAME,
  type ZnodeRecord,
} from './format.js'
import {TAR_END, tarHeader, tarPadding} from './tar.js'

/** Tar blocks are gathered into writes of this size: one zlib call per small block costs more than compressing. */
const BATCH_BYTES = 128 * 1024

/**
 * Writes the archive as a gzip stream (`output`), one entry at a time, waiting whenever the consumer
 * is slower than the producer so nothing piles up in memory.
 */
export class ArchiveWriter {
  readonly output: Readable
  private readonly gzip = createGzip()
  private readonly treeHash = createHash('sha256')
  private readonly mtime = new Date()
  private readonly headerSha256: string
  private readonly aborted = new AbortController()
  private drained?: Promise<unknown>
  private batch: Buffer[] = []
  private batchBytes = 0

  constructor(readonly header: ArchiveHeader) {
    const output = new PassThrough()
    this.gzip.pipe(output)
    this.gzip.on('error', (error) => output.destroy(error))
    this.output = output
    this.headerSha256 = this.writeJsonEntry(HEADER_ENTRY, header)
  }

  /** Adds one znode; the promise settles when the stream can take more. */
  async addZnode(relativePath: string, record: ZnodeRecord, data: Buffer): Promise<string> {
    const directory = entryDirectory(relativePath)
    const {json, sha256} = encodeRecord(record, data)
    this.treeHash.update(sha256)
    this.writeEntry(`${directory}/${RECORD_NAME}`, json)
    if (data.length > 0) this.writeEntry(`${directory}/${DATA_NAME}`, data)
    if (this.batchBytes >= BATCH_BYTES && !this.flush()) await this.waitForDrain()
    return sha256
  }

  /** One wait shared by every caller, however many znodes are in flight. */
  private waitForDrain(): Promise<unknown> {
    this.drained ??= once(this.gzip, 'drain', {signal: this.aborted.signal}).finally(() => {
      this.drained = undefined
    })
    return this.drained
  }

  /** Writes the manifest and checksums and ends the stream. */
  finish(summary: Omit<Manifest, keyof ArchiveHeader | 'treeDigest'>): Manifest {
    const manifest: Manifest = {...this.header, ...summary, treeDigest: this.treeHash.digest('hex')}
    const manifestSha256 = this.writeJsonEntry(MANIFEST_ENTRY, manifest)
    const sums = [
      `${this.headerSha256}  ${HEADER_ENTRY}`,
      `${manifestSha256}  ${MANIFEST_ENTRY}`,
      `${manifest.treeDigest}  ${TREE_SUMS_NAME}`,
      '',
    ].join('\n')
    this.writeEntry(SUMS_ENTRY, Buffer.from(sums))
    this.push(TAR_END)
    this.flush()
    this.gzip.end()
    return manifest
  }

  /** Ends the stream with an error, so the provider discards whatever was written. */
  abort(error: Error): void {
    this.aborted.abort(error)
    this.output.destroy(error)
    this.gzip.destroy()
  }

  private writeJsonEntry(name: string, value: unknown): string {
    const body = Buffer.from(`${JSON.stringify(value, null, 2)}\n`)
    this.writeEntry(name, body)
    return createHash('sha256').update(body).digest('hex')
  }

  private writeEntry(path: string, body: Buffer): void {
    this.push(tarHeader({gid: 0, mode: 0o644, mtime: this.mtime, path, size: body.length, type: 'File', uid: 0}))
    if (body.length === 0) return
    this.push(body)
    this.push(tarPadding(body.length))
  }

  private push(chunk: Buffer): void {
    this.batch.push(chunk)
    this.batchBytes += chunk.length
  }

  /** Hands the gathered blocks to gzip; false when gzip wants the caller to wait for 'drain'. */
  private flush(): boolean {
    const chunk = Buffer.concat(this.batch, this.batchBytes)
    this.batch = []
    this.batchBytes = 0
    return this.gzip.write(chunk)
  }
}
