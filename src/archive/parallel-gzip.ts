/**
 * One gzip member of a byte stream, compressed in 1 MiB chunks on the archive writer's worker
 * threads (as pigz does): a data-directory archive is a few large files, which one zlib stream
 * would compress on one core.
 */
import {CHUNK_BYTES, chunkPool, type ChunkResult} from './chunk-workers.js'
import {crc32Combine, GZIP_HEADER, gzipEnd} from './gzip-frame.js'

/** Chunks compressed at once per worker: enough to keep each busy while the next is read. */
const IN_FLIGHT_PER_WORKER = 2

/** gzip's own default level, as `tar czf` and dcos-zk compress. */
export const DEFAULT_GZIP_LEVEL = 6

export async function* parallelGzip(source: AsyncIterable<Buffer>, level = DEFAULT_GZIP_LEVEL): AsyncGenerator<Buffer> {
  const maxInFlight = IN_FLIGHT_PER_WORKER * chunkPool.size
  const inFlight: Array<Promise<ChunkResult>> = []
  let crc = 0
  let length = 0
  let chunk = chunkPool.chunk()
  let used = 0

  const hand = () => {
    // Each chunk is an ArrayBuffer of its own: it moves to the worker.
    const result = chunkPool.run({bytes: chunk.subarray(0, used), level})
    result.catch(() => {}) // awaited in order below; never an unhandled rejection meanwhile
    inFlight.push(result)
    chunk = chunkPool.chunk()
    used = 0
  }

  const oldest = async (): Promise<Buffer> => {
    const done = await inFlight.shift()!
    crc = crc32Combine(crc, done.crc, done.length)
    length += done.length
    return done.deflated
  }

  yield GZIP_HEADER
  for await (const piece of source) {
    for (let at = 0; at < piece.length;) {
      const taken = Math.min(piece.length - at, CHUNK_BYTES - used)
      piece.copy(chunk, used, at, at + taken)
      used += taken
      at += taken
      if (used < CHUNK_BYTES) continue
      hand()
      while (inFlight.length >= maxInFlight) yield await oldest()
    }
  }

  if (used > 0) hand()
  while (inFlight.length > 0) yield await oldest()
  yield gzipEnd(crc, length)
}
