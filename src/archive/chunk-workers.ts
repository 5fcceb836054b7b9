/**
 * The archive writer's chunks finished off the main thread: each record's SHA-256 filled in, then the
 * chunk's CRC-32 and its deflate segment, by a small pool of worker threads, so hashing and
 * compressing run beside the walk (and beside each other) rather than after it.
 */
import {availableParallelism} from 'node:os'
import {Worker} from 'node:worker_threads'

import {CRC_TABLE} from './crc32.js'
import {SHA_PREFIX} from './format.js'

/** The chunks the writers fill and hand over: what a worker sends back is filled again. */
export const CHUNK_BYTES = 1024 * 1024
/** Spare chunks kept: more than are ever in flight at once. */
const MAX_SPARE_CHUNKS = 16

/** Where a record sits in its chunk: its hashed body, its data, and where its JSON starts (`{"sha256":"<hex>",` goes there). */
export const RECORD_FIELDS = 5

export interface ChunkJob {
  bytes: Buffer
  level: number
  /** RECORD_FIELDS numbers a record: bodyStart, bodyEnd, dataStart, dataLength, jsonStart. */
  records?: Int32Array
}

export interface ChunkResult {
  crc: number
  /** The raw deflate segment, sync-flushed: segments in order make one deflate stream. */
  deflated: Buffer
  /** The records' SHA-256 values in hex, in order, concatenated. */
  hashes: string
  length: number
}

/**
 * The worker's code, as source (eval): it needs only node's own modules, and no loader (tsx, a
 * bundler) has to find a second file.
 */
const WORKER_SOURCE = `
const {parentPort, workerData} = require('node:worker_threads')
const crypto = require('node:crypto')
const zlib = require('node:zlib')
const table = workerData.crcTable
const crc32 = typeof zlib.crc32 === 'function' ? (data) => zlib.crc32(data) : (data) => {
  let c = ~0
  for (let i = 0; i < data.length; i++) c = table[(c ^ data[i]) & 0xff] ^ (c >>> 8)
  return ~c >>> 0
}
// One-shot hashing (crypto.hash, Node 20.12+) of the body and data copied together: half the cost of a Hash object.
const sha256Hex = typeof crypto.hash === 'function' ? (bytes) => crypto.hash('sha256', bytes, 'hex') : (bytes) => crypto.createHash('sha256').update(bytes).digest('hex')
let scratch = Buffer.alloc(64 * 1024)
parentPort.on('message', ({id, bytes, records, level}) => {
  try {
    const chunk = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
    let hashes = ''
    for (let at = 0; records && at < records.length; at += ${RECORD_FIELDS}) {
      const bodyLength = records[at + 1] - records[at]
      const length = bodyLength + records[at + 3]
      if (scratch.length < length) scratch = Buffer.alloc(Math.max(length, 2 * scratch.length))
      chunk.copy(scratch, 0, records[at], records[at + 1])
      if (records[at + 3] > 0) chunk.copy(scratch, bodyLength, records[at + 2], records[at + 2] + records[at + 3])
      const hex = sha256Hex(scratch.subarray(0, length))
      chunk.write(${JSON.stringify(SHA_PREFIX)} + hex + '",', records[at + 4], 'latin1')
      hashes += hex
    }
    const segment = zlib.deflateRawSync(chunk, {level, finishFlush: zlib.constants.Z_SYNC_FLUSH})
    const deflated = new Uint8Array(segment.length)
    deflated.set(segment)
    // The chunk's buffer goes back too, to be filled again: a worker whose heap barely grows would
    // otherwise hold every chunk it was sent as garbage until its rare collection.
    parentPort.postMessage({id, returned: bytes, result: {crc: crc32(chunk), deflated, hashes, length: chunk.length}}, [deflated.buffer, bytes.buffer])
  } catch (error) {
    parentPort.postMessage({id, error: String(error && error.stack || error)})
  }
})
`

interface Waiting {
  reject: (error: Error) => void
  resolve: (result: ChunkResult) => void
}

/** One worker; referenced (keeping the process alive) only while it has chunks to finish. */
class ChunkWorker {
  readonly waiting = new Map<number, Waiting>()
  private nextId = 0
  private readonly worker: Worker

  constructor(
    private readonly onExit: (worker: ChunkWorker) => void,
    private readonly onReturned: (bytes: Uint8Array) => void,
  ) {
    this.worker = new Worker(WORKER_SOURCE, {eval: true, execArgv: [], workerData: {crcTable: CRC_TABLE}})
    this.worker.on('message', (message: {error?: string; id: number; result?: ChunkResult; returned?: Uint8Array}) => {
      const {error, id, result, returned} = message
      if (returned) this.onReturned(returned)
      const waiting = this.waiting.get(id)!
      this.waiting.delete(id)
      if (this.waiting.size === 0) this.worker.unref()
      if (result)
        waiting.resolve({
          ...result,
          deflated: Buffer.from(result.deflated.buffer, result.deflated.byteOffset, result.deflated.byteLength),
        })
      else waiting.reject(new Error(`compressing the archive failed: ${error}`))
    })
    this.worker.on('error', (error) => this.fail(error))
    this.worker.on('exit', (code) =>
      this.fail(new Error(`compressing the archive failed: its worker thread exited (code ${code})`)),
    )
    // After the listeners: adding one refers the worker again.
    this.worker.unref()
  }

  run(job: ChunkJob): Promise<ChunkResult> {
    const id = this.nextId++
    if (this.waiting.size === 0) this.worker.ref()
    return new Promise((resolve, reject) => {
      this.waiting.set(id, {reject, resolve})
      const transfer = [job.bytes.buffer as ArrayBuffer, ...(job.records ? [job.records.buffer as ArrayBuffer] : [])]
      this.worker.postMessage({bytes: job.bytes, id, level: job.level, records: job.records}, transfer)
    })
  }

  private fail(error: Error): void {
    this.onExit(this)
    for (const waiting of this.waiting.values()) waiting.reject(error)
    this.waiting.clear()
  }
}

/** At most this many workers: past it the main thread, which encodes the records, is the bound. */
const MAX_WORKERS = 4

/** The workers every writer of the process shares, started on first use. */
class ChunkPool {
  readonly size = Math.max(1, Math.min(MAX_WORKERS, availableParallelism()))
  private readonly spare: Buffer[] = []
  private readonly workers: ChunkWorker[] = []

  /** Chunks sent back and not yet filled again. */
  get spareChunks(): number {
    return this.spare.length
  }

  /** A zeroed chunk of CHUNK_BYTES with an ArrayBuffer of its own, as run needs: one a worker sent back, or a new one. */
  chunk(): Buffer {
    return this.spare.pop()?.fill(0) ?? Buffer.alloc(CHUNK_BYTES)
  }

  /**
   * Finishes `job` on the least busy worker. Its buffers are moved to the worker: the caller must not
   * touch them again, and `bytes` must be the start of an ArrayBuffer of its own (a chunk of
   * Buffer.alloc, never a pooled Buffer or a slice of someone else's).
   */
  run(job: ChunkJob): Promise<ChunkResult> {
    let best = this.workers[0]
    for (const worker of this.workers) if (worker.waiting.size < best.waiting.size) best = worker
    if (!best || (best.waiting.size > 0 && this.workers.length < this.size)) {
      best = new ChunkWorker(
        (gone) => this.forget(gone),
        (returned) => this.keepSpare(returned),
      )
      this.workers.push(best)
    }

    return best.run(job)
  }

  private forget(worker: ChunkWorker): void {
    const index = this.workers.indexOf(worker)
    if (index !== -1) this.workers.splice(index, 1)
  }

  private keepSpare(returned: Uint8Array): void {
    if (returned.buffer.byteLength === CHUNK_BYTES && this.spare.length < MAX_SPARE_CHUNKS)
      this.spare.push(Buffer.from(returned.buffer as ArrayBuffer))
  }
}

export const chunkPool = new ChunkPool()
