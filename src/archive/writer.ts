import * as crypto from 'node:crypto'
import {createHash} from 'node:crypto'
import {once} from 'node:events'
import {PassThrough, type Readable} from 'node:stream'
import {createGzip} from 'node:zlib'

import {
  type ArchiveHeader,
  DATA_NAME,
  encodeRecord,
  entryDirectory,
  recordBody,
  SHA_PREFIX,
  SHA_PREFIX_LENGTH,
  HEADER_ENTRY,
  type Manifest,
  MANIFEST_ENTRY,
  RECORD_NAME,
  SUMS_ENTRY,
  TREE_SUMS_NAME,
  type ZnodeRecord,
} from './format.js'
import {FileHeaders, TAR_END, tarPadding} from './tar.js'

/** Tar blocks are gathered into chunks of this size: one zlib call per small block costs more than compressing. */
const CHUNK_BYTES = 128 * 1024
const BLOCK = 512
/**
 * zlib's fastest strategy (levels 1 to 3 share it; 3 searches deepest): a tar of znodes is mostly
 * block padding and JSON, which level 3 compresses in a third of level 6's CPU time, into about a
 * fifth more bytes (650 MiB of tar for 333k znodes: 2.2 s rather than 6.2 s, 30 MiB rather than 24).
 */
export const GZIP_LEVEL = 3

/** The bytes of whole blocks that hold `size` bytes. */
const blocks = (size: number) => Math.ceil(size / BLOCK) * BLOCK

/** One-shot SHA-256 (crypto.hash, Node 20.12+): half the cost of a Hash object for a small input. */
const sha256Hex: (bytes: Buffer) => string =
  typeof (crypto as {hash?: unknown}).hash === 'function'
    ? (bytes) => crypto.hash('sha256', bytes, 'hex')
    : (bytes) => createHash('sha256').update(bytes).digest('hex')

/**
 * Writes the archive as a gzip stream (`output`), one entry at a time, waiting whenever the consumer
 * is slower than the producer so nothing piles up in memory. Entries are written straight into a
 * zeroed chunk (their padding is already there); an entry larger than a chunk goes as its own writes.
 */
export class ArchiveWriter {
  readonly output: Readable
  private readonly gzip = createGzip({level: GZIP_LEVEL})
  private readonly treeHash = createHash('sha256')
  private readonly headers = new FileHeaders({gid: 0, mode: 0o644, mtime: new Date(), type: 'File', uid: 0})
  private readonly headerSha256: string
  private readonly aborted = new AbortController()
  private drained?: Promise<unknown>
  private chunk = Buffer.alloc(CHUNK_BYTES)
  private used = 0
  /** Sealed chunks and large entries, in order, not yet handed to gzip. */
  private ready: Buffer[] = []
  private readyBytes = 0

  constructor(readonly header: ArchiveHeader) {
    const output = new PassThrough()
    this.gzip.pipe(output)
    this.gzip.on('error', (error) => output.destroy(error))
    this.output = output
    this.headerSha256 = this.writeJsonEntry(HEADER_ENTRY, header)
  }

  /**
   * Adds one znode. Returns a promise to wait for when the stream cannot take more yet, nothing
   * otherwise (no promise per znode: awaiting undefined costs less).
   */
  addZnode(relativePath: string, record: ZnodeRecord, data: Buffer): Promise<unknown> | undefined {
    const directory = entryDirectory(relativePath)
    const body = recordBody(record)
    if (!this.writeZnodeIntoChunk(directory, body, data)) {
      const {json, sha256} = encodeRecord(record, data, body)
      this.treeHash.update(sha256)
      this.writeEntry(`${directory}/${RECORD_NAME}`, json)
      if (data.length > 0) this.writeEntry(`${directory}/${DATA_NAME}`, data)
    }

    if (this.readyBytes > 0 && !this.flush()) return this.waitForDrain()
    return undefined
  }

  /**
   * The record and data entries of a znode written straight into the chunk, when both fit in one and
   * their names in ustar headers (false otherwise, nothing written): the record's body is encoded in
   * place, the data copied right after it so one SHA-256 call covers both, then moved to its entry.
   */
  private writeZnodeIntoChunk(directory: string, body: string, data: Buffer): boolean {
    const recordName = `${directory}/${RECORD_NAME}`
    const dataName = `${directory}/${DATA_NAME}`
    const maxJson = SHA_PREFIX_LENGTH - 1 + body.length * 3
    const dataBlocks = data.length > 0 ? BLOCK + blocks(data.length) : 0
    const most = BLOCK + blocks(maxJson) + dataBlocks
    // The data entry's name is shorter than the record's, and ASCII when that is.
    if (most > CHUNK_BYTES || !this.headers.fits(recordName, maxJson)) return false
    if (this.used + most > CHUNK_BYTES) this.seal()
    const {chunk} = this
    const jsonAt = this.used + BLOCK
    // The body's `{` sits where the prefix's closing `",` ends: the hashed bytes are the body as encoded.
    const bodyAt = jsonAt + SHA_PREFIX_LENGTH - 1
    const bodyBytes = chunk.write(body, bodyAt, 'utf8')
    const bodyEnd = bodyAt + bodyBytes
    data.copy(chunk, bodyEnd)
    const sha256 = sha256Hex(chunk.subarray(bodyAt, bodyEnd + data.length))
    this.treeHash.update(sha256)
    const jsonLength = bodyEnd - jsonAt
    const dataAt = jsonAt + blocks(jsonLength) + BLOCK
    chunk.fill(0, bodyEnd, Math.min(bodyEnd + data.length, dataAt))
    chunk.write(`${SHA_PREFIX}${sha256}",`, jsonAt, 'latin1')
    this.headers.writeFitting(chunk, this.used, recordName, jsonLength)
    this.used = dataAt - BLOCK
    if (data.length > 0) {
      this.headers.writeFitting(chunk, this.used, dataName, data.length)
      data.copy(chunk, dataAt)
      this.used += dataBlocks
    }

    return true
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
    this.seal()
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
    const padded = body.length + tarPadding(body.length).length
    if (BLOCK + padded <= CHUNK_BYTES) {
      if (this.used + BLOCK + padded > CHUNK_BYTES) this.seal()
      if (this.headers.writeInto(this.chunk, this.used, path, body.length)) {
        this.used += BLOCK
        body.copy(this.chunk, this.used)
        this.used += padded
        return
      }
    }

    // A name that needs a pax header, or a body larger than a chunk: written as they are.
    this.seal()
    const header = this.headers.header(path, body.length)
    this.ready.push(header)
    if (body.length > 0) this.ready.push(body, tarPadding(body.length))
    this.readyBytes += header.length + padded
  }

  private push(chunk: Buffer): void {
    this.seal()
    this.ready.push(chunk)
    this.readyBytes += chunk.length
  }

  private seal(): void {
    if (this.used === 0) return
    this.ready.push(this.chunk.subarray(0, this.used))
    this.readyBytes += this.used
    this.chunk = Buffer.alloc(CHUNK_BYTES)
    this.used = 0
  }

  /** Hands the sealed chunks to gzip; false when gzip wants the caller to wait for 'drain'. */
  private flush(): boolean {
    let more = true
    for (const chunk of this.ready) more = this.gzip.write(chunk)
    this.ready = []
    this.readyBytes = 0
    return more
  }
}
