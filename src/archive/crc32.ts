import * as zlib from 'node:zlib'

/** The CRC-32 table (reflected, polynomial 0xedb88320), shared with the archive writer's worker threads. */
export const CRC_TABLE = Array.from({length: 256}, (_, n) => {
  let c = n
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xed_b8_83_20 ^ (c >>> 1) : c >>> 1
  return c >>> 0
})

/** The CRC-32 by table: what crc32 is on a Node without zlib.crc32 (exported for its test). */
export function tableCrc32(data: string | Uint8Array, value = 0): number {
  let c = ~value
  for (const byte of typeof data === 'string' ? Buffer.from(data) : data) c = CRC_TABLE[(c ^ byte) & 0xff] ^ (c >>> 8)
  return ~c >>> 0
}

// eslint-disable-next-line n/no-unsupported-features/node-builtins -- feature-detected: the table serves Node < 20.15
const native = (zlib as {crc32?: (data: string | Uint8Array, value?: number) => number}).crc32

/**
 * zlib's CRC-32 of `data` (a string as UTF-8), continuing from `value`: native from Node 20.15, by table
 * before (read through the namespace, so that loading this module needs no zlib.crc32 export). Empty
 * data is `value` itself: zlib.crc32 answers 0 for an empty buffer whose memory pointer is null (zlib's
 * "initial value" call), which an empty znode's data can be.
 */
export const crc32: (data: string | Uint8Array, value?: number) => number = native
  ? (data, value = 0) => (data.length === 0 ? value >>> 0 : native(data, value))
  : tableCrc32
