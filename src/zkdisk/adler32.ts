const MODULUS = 65_521
/** zlib's bound: the sums stay below 2^32 between reductions (and fast in V8; bigger chunks are slower). */
const CHUNK = 5552

/** Adler-32 of bytes[start, end), as java.util.zip.Adler32 computes it: an unsigned 32-bit number. */
export function adler32(bytes: Uint8Array, start = 0, end = bytes.length): number {
  return new Adler32().update(bytes, start, end).value
}

/** A running Adler-32, for checksums over a growing prefix of the same bytes. */
export class Adler32 {
  private a = 1
  private b = 0

  update(bytes: Uint8Array, start = 0, end = bytes.length): this {
    let {a, b} = this
    let index = start
    while (index < end) {
      const stop = Math.min(index + CHUNK, end)
      for (; index < stop; index++) {
        a += bytes[index]
        b += a
      }

      a %= MODULUS
      b %= MODULUS
    }

    this.a = a
    this.b = b
    return this
  }

  get value(): number {
    return this.b * 65_536 + this.a
  }
}
