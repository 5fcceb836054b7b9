import {createHash} from 'node:crypto'
import {PassThrough, type Readable} from 'node:stream'

import {CHUNK_BYTES, chunkPool, type ChunkResult, RECORD_FIELDS} from './chunk-workers.js'
import {
  type ArchiveHeader,
  DATA_NAME,
  encodeRecord,
  entryDirectory,
  HEADER_ENTRY,
  type Manifest,
  MANIFEST_ENTRY,
  RECORD_NAME,
  recordBody,
  SHA_PREFIX_LENGTH,
  SUMS_ENTRY,
  TREE_SUMS_NAME,
  type ZnodeRecord,
} from './format.js'
import {crc32Combine, GZIP_HEADER, gzipEnd} from './gzip-frame.js'
import {FileHeaders, TAR_END, tarPadding} from './tar.js'

/** A tar block: records are gathered into chunks (CHUNK_BYTES), each hashed and compressed apart by a worker. */
const BLOCK = 512
/** The most records a chunk holds: each takes a header block and at least one block of JSON. */
const MAX_RECORDS = CHUNK_BYTES / (2 * BLOCK)
/** Chunks handed to the workers and not yet written out, per worker: enough to keep each busy. */
const IN_FLIGHT_PER_WORKER = 2
/**
 * zlib's fastest strategy (levels 1 to 3 share it; 3 searches deepest): a tar of znodes is mostly
 * block padding and JSON, which level 3 compresses in a third of level 6's CPU time, into about a
 * fifth more bytes (650 MiB of tar for 333k znodes: 2.2 s rather than 6.2 s, 30 MiB rather than 24).
 */
export const GZIP_LEVEL = 3

/** The bytes of whole blocks that hold `size` bytes. */
const blocks = (size: number) => Math.ceil(size / BLOCK) * BLOCK

/**
 * Writes the archive as one gzip stream (`output`), one entry at a time. Entries are written straight
 * into a zeroed chunk (their padding is already there), each record's JSON with room for its SHA-256;
 * a full chunk goes to a worker thread, which fills in the hashes and compresses it, while the next
 * one is filled. Results are written out in order; the caller is made to wait whenever enough chunks
 * are in flight or the consumer is slower, so memory stays bounded.
 */
export class ArchiveWriter {
  readonly output: Readable
  private chunk = chunkPool.chunk()
  private crc = 0
  private failure?: Error
  /** SHA-256 values of records hashed here (too large for a chunk), to chain before the next chunk's. */
  private hashedHere = ''
  private readonly headers = new FileHeaders({gid: 0, mode: 0o644, mtime: new Date(), type: 'File', uid: 0})
  private readonly headerSha256: string
  private inFlight = 0
  private readonly maxInFlight = IN_FLIGHT_PER_WORKER * chunkPool.size
  private plainBytes = 0
  private recordFields = 0
  private records = new Int32Array(MAX_RECORDS * RECORD_FIELDS)
  private room?: {promise: Promise<void>; reject: (error: Error) => void; resolve: () => void}
  private readonly stream = new PassThrough()
  private readonly treeHash = createHash('sha256')
  private used = 0
  /** Every chunk in flight, written out in order: the promise of the last one written. */
  private written: Promise<void> = Promise.resolve()

  constructor(readonly header: ArchiveHeader) {
    this.output = this.stream
    this.stream.on('drain', () => this.checkRoom())
    this.stream.write(GZIP_HEADER)
    this.headerSha256 = this.writeJsonEntry(HEADER_ENTRY, header)
  }

  /** Ends the stream with an error, so the provider discards whatever was written. */
  abort(error: Error): void {
    this.failure ??= error
    this.room?.reject(error)
    this.room = undefined
    this.stream.destroy(error)
  }

  /**
   * Adds one znode. Returns a promise to wait for when the stream cannot take more yet, nothing
   * otherwise (no promise per znode: awaiting undefined costs less).
   */
  addZnode(relativePath: string, record: ZnodeRecord, data: Buffer): Promise<unknown> | undefined {
    if (this.failure) return Promise.reject(this.failure)
    const directory = entryDirectory(relativePath)
    const body = recordBody(record)
    if (!this.writeZnodeIntoChunk(directory, body, data)) {
      const {json, sha256} = encodeRecord(record, data, body)
      // Chained after every record before it, which are all in chunks already handed over.
      this.seal()
      this.hashedHere += sha256
      this.writeEntry(`${directory}/${RECORD_NAME}`, json)
      if (data.length > 0) this.writeEntry(`${directory}/${DATA_NAME}`, data)
    }

    return this.mustWait() ? this.waitForRoom() : undefined
  }

  /** Writes the manifest and checksums and ends the stream, once every record's hash is in. */
  async finish(summary: Omit<Manifest, 'treeDigest' | keyof ArchiveHeader>): Promise<Manifest> {
    this.seal()
    await this.written
    const manifest: Manifest = {...this.header, ...summary, treeDigest: this.treeHash.digest('hex')}
    const manifestSha256 = this.writeJsonEntry(MANIFEST_ENTRY, manifest)
    const sums = [
      `${this.headerSha256}  ${HEADER_ENTRY}`,
      `${manifestSha256}  ${MANIFEST_ENTRY}`,
      `${manifest.treeDigest}  ${TREE_SUMS_NAME}`,
      '',
    ].join('\n')
    this.writeEntry(SUMS_ENTRY, Buffer.from(sums))
    this.writeEntry(undefined, TAR_END)
    this.seal()
    await this.written
    this.stream.end(gzipEnd(this.crc, this.plainBytes))
    return manifest
  }

  private checkRoom(): void {
    if (!this.room || this.mustWait()) return
    this.room.resolve()
    this.room = undefined
  }

  private hand(bytes: Buffer, records: Int32Array | undefined): void {
    const hashedBefore = this.hashedHere
    this.hashedHere = ''
    const result = chunkPool.run({bytes, level: GZIP_LEVEL, records})
    this.inFlight++
    this.written = Promise.all([this.written, result]).then(
      ([, done]) => this.writeOut(hashedBefore, done),
      (error: Error) => {
        this.abort(error)
        throw error
      },
    )
    // Seen by finish, or by the caller through abort: never an unhandled rejection.
    this.written.catch(() => {})
  }

  private mustWait(): boolean {
    return this.inFlight >= this.maxInFlight || this.stream.writableNeedDrain
  }

  /** Hands the chunk filled so far to a worker and starts a new one. */
  private seal(): void {
    if (this.used === 0) return
    this.hand(this.chunk.subarray(0, this.used), this.records.subarray(0, this.recordFields))
    this.chunk = chunkPool.chunk()
    this.used = 0
    this.records = new Int32Array(MAX_RECORDS * RECORD_FIELDS)
    this.recordFields = 0
  }

  /** One wait shared by every caller, however many znodes are in flight. */
  private waitForRoom(): Promise<void> {
    if (!this.room) {
      let resolve!: () => void
      let reject!: (error: Error) => void
      const promise = new Promise<void>((yes, no) => {
        resolve = yes
        reject = no
      })
      this.room = {promise, reject, resolve}
    }

    return this.room.promise
  }

  /** Writes an entry (or, without a name, bare blocks) into the chunk, or as a chunk of its own when it is larger. */
  private writeEntry(path: string | undefined, body: Buffer): void {
    const padded = body.length + tarPadding(body.length).length
    const headerBytes = path === undefined ? 0 : BLOCK
    if (headerBytes + padded <= CHUNK_BYTES) {
      if (this.used + headerBytes + padded > CHUNK_BYTES) this.seal()
      if (path === undefined || this.headers.writeInto(this.chunk, this.used, path, body.length)) {
        this.used += headerBytes
        body.copy(this.chunk, this.used)
        this.used += padded
        return
      }
    }

    // A name that needs a pax header, or a body larger than a chunk: one chunk of its own.
    this.seal()
    const header = path === undefined ? Buffer.alloc(0) : this.headers.header(path, body.length)
    const own = Buffer.from(new ArrayBuffer(header.length + padded))
    header.copy(own)
    body.copy(own, header.length)
    this.hand(own, undefined)
  }

  private writeJsonEntry(name: string, value: unknown): string {
    const body = Buffer.from(`${JSON.stringify(value, null, 2)}\n`)
    this.writeEntry(name, body)
    return createHash('sha256').update(body).digest('hex')
  }

  private writeOut(hashedBefore: string, {crc, deflated, hashes, length}: ChunkResult): void {
    this.inFlight--
    if (this.failure) throw this.failure
    // The metadata's chunks, after the digest is taken, hold no records.
    if (hashedBefore.length > 0) this.treeHash.update(hashedBefore)
    if (hashes.length > 0) this.treeHash.update(hashes)
    this.crc = crc32Combine(this.crc, crc, length)
    this.plainBytes += length
    this.stream.write(deflated)
    this.checkRoom()
  }

  /**
   * The record and data entries of a znode written straight into the chunk, when both fit in one and
   * their names in ustar headers (false otherwise, nothing written): the body is encoded in place
   * after the room for its hash, the data in its entry, and the worker hashes the two.
   */
  private writeZnodeIntoChunk(directory: string, body: string, data: Buffer): boolean {
    const recordName = `${directory}/${RECORD_NAME}`
    const maxJson = SHA_PREFIX_LENGTH - 1 + body.length * 3
    const dataBlocks = data.length > 0 ? BLOCK + blocks(data.length) : 0
    const most = BLOCK + blocks(maxJson) + dataBlocks
    // The data entry's name is shorter than the record's, and ASCII when that is.
    if (most > CHUNK_BYTES || !this.headers.fits(recordName, maxJson)) return false
    if (this.used + most > CHUNK_BYTES || this.recordFields === this.records.length) this.seal()
    const {chunk} = this
    const jsonAt = this.used + BLOCK
    // The body's `{` sits where the prefix's closing `",` ends: the hashed bytes are the body as
    // encoded, and the worker writes the whole prefix, over the `{`, once it has hashed them.
    const bodyAt = jsonAt + SHA_PREFIX_LENGTH - 1
    const bodyEnd = bodyAt + chunk.write(body, bodyAt, 'utf8')
    const jsonLength = bodyEnd - jsonAt
    const dataAt = jsonAt + blocks(jsonLength) + BLOCK
    this.headers.writeFitting(chunk, this.used, recordName, jsonLength)
    this.used = dataAt - BLOCK
    if (data.length > 0) {
      this.headers.writeFitting(chunk, this.used, `${directory}/${DATA_NAME}`, data.length)
      chunk.set(data, dataAt)
      this.used += dataBlocks
    }

    const {records} = this
    let at = this.recordFields
    records[at++] = bodyAt
    records[at++] = bodyEnd
    records[at++] = dataAt
    records[at++] = data.length
    records[at++] = jsonAt
    this.recordFields = at
    return true
  }
}
