/**
 * A repository's segment read and checked against its sidecar as it streams: its size and SHA-256
 * must be the recorded ones before any of it is used (decoded, replayed or copied on).
 */
import {createHash} from 'node:crypto'
import {createWriteStream} from 'node:fs'
import {Transform, Writable} from 'node:stream'
import {pipeline} from 'node:stream/promises'

import type {StorageProvider} from '../../providers/types.js'

import {OperationError} from '../../errors.js'
import {segmentName, type SegmentRecord, SEGMENTS} from './repository.js'

/** The segment's location in the repository. */
export function segmentLocation(repo: StorageProvider, record: SegmentRecord): StorageProvider {
  return repo.child(`${SEGMENTS}/${segmentName(BigInt(record.fromZxid), BigInt(record.toZxid))}.seg`)
}

/**
 * The segment streamed into `into`: a local file's path, or memory (a buffer of the recorded size,
 * returned). Refused when it does not match its sidecar.
 */
export async function verifiedSegment(
  repo: StorageProvider,
  record: SegmentRecord,
  into: 'memory' | {path: string},
): Promise<Buffer | undefined> {
  const location = segmentLocation(repo, record)
  const hash = createHash('sha256')
  let bytes = 0
  const tap = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      hash.update(chunk)
      bytes += chunk.length
      done(null, chunk)
    },
  })
  const held = into === 'memory' ? Buffer.alloc(record.bytes) : undefined
  const sink = into === 'memory' ? intoBuffer(held!) : createWriteStream(into.path)
  await pipeline(await location.read(), tap, sink)
  const sha256 = hash.digest('hex')
  if (sha256 !== record.sha256 || bytes !== record.bytes)
    throw new OperationError(
      `${location.display} does not match its sidecar (SHA-256 ${sha256}, ${bytes} bytes; recorded ${record.sha256}, ${record.bytes} bytes): the repository is damaged; restore to a point before this segment, or the segment from a copy of the repository`,
    )
  return held
}

/** Writes into `target` up to its length; what goes past it is counted by the hash tap, not kept. */
function intoBuffer(target: Buffer): Writable {
  let offset = 0
  return new Writable({
    write(chunk: Buffer, _encoding, done) {
      if (offset < target.length) chunk.copy(target, offset)
      offset += chunk.length
      done()
    },
  })
}
