/**
 * One gzip member (RFC 1952) around deflate segments compressed apart, as pigz builds it: each
 * segment sync-flushed (it ends on a byte boundary, no final block), an empty final block after the
 * last, and the CRC-32 of the whole computed from the segments' own (zlib's crc32_combine).
 */

/** Magic, deflate, no flags, no mtime, no extra flags, Unix. */
export const GZIP_HEADER = Buffer.from([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3])

/** An empty final block with fixed codes: what ends a deflate stream of sync-flushed segments. */
const FINAL_BLOCK = Buffer.from([0x03, 0x00])

/** The end of the member: the final block, then the CRC-32 and length (modulo 2^32) of the plain bytes. */
export function gzipEnd(crc: number, length: number): Buffer {
  const end = Buffer.alloc(FINAL_BLOCK.length + 8)
  FINAL_BLOCK.copy(end)
  end.writeUInt32LE(crc >>> 0, FINAL_BLOCK.length)
  end.writeUInt32LE(length % 2 ** 32, FINAL_BLOCK.length + 4)
  return end
}

/** The CRC-32 of A followed by B, from A's CRC, B's CRC and B's length (zlib's crc32_combine: GF(2) matrices). */
export function crc32Combine(crcA: number, crcB: number, lengthB: number): number {
  if (lengthB <= 0) return crcA >>> 0
  const odd = new Uint32Array(32)
  const even = new Uint32Array(32)
  // The operator for one zero bit, then squared into two, four, ... zero bits.
  odd[0] = 0xed_b8_83_20
  for (let bit = 1; bit < 32; bit++) odd[bit] = 2 ** (bit - 1)
  square(even, odd)
  square(odd, even)
  let crc = crcA >>> 0
  let rest = lengthB
  // Each step applies the operator for 8 * 2^k zero bits when bit k of the length is set.
  while (rest > 0) {
    square(even, odd)
    if (rest % 2 === 1) crc = times(even, crc)
    rest = Math.floor(rest / 2)
    if (rest === 0) break
    square(odd, even)
    if (rest % 2 === 1) crc = times(odd, crc)
    rest = Math.floor(rest / 2)
  }

  return (crc ^ crcB) >>> 0
}

function times(matrix: Uint32Array, vector: number): number {
  let sum = 0
  for (let rest = vector >>> 0, row = 0; rest !== 0; rest >>>= 1, row++) if (rest & 1) sum ^= matrix[row]
  return sum >>> 0
}

function square(target: Uint32Array, matrix: Uint32Array): void {
  for (let row = 0; row < 32; row++) target[row] = times(matrix, matrix[row])
}
