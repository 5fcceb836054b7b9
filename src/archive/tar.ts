import type {Readable} from 'node:stream'

import {createInflateRaw} from 'node:zlib'
import {Header, Parser, Pax, type ReadEntry} from 'tar'

import {crc32} from './crc32.js'

/**
 * A strict tar parser whose warnings and errors (bad checksums, invalid headers, a stream that is not
 * tar) are reported once, as `fail`'s error, through `onProblem`.
 */
export function strictTarParser(
  onReadEntry: (entry: ReadEntry) => void,
  onProblem: (problem: Error) => void,
  fail: (problem: string) => Error,
): Parser {
  const parser = new Parser({
    onReadEntry,
    onwarn(code: string, message: Error | string) {
      onProblem(fail(`not a valid tar stream (${code}: ${typeof message === 'string' ? message : message.message})`))
    },
    strict: true,
  })
  parser.on('error', (error: Error) => onProblem(fail(`not a valid tar stream (${error.message})`)))
  return parser
}

const BLOCK = 512
const ZEROS = Buffer.alloc(BLOCK * 2)

/** Two zero blocks: the end of a tar archive. */
export const TAR_END = ZEROS

export interface TarMemberFields {
  gid: number
  mode: number
  mtime: Date
  path: string
  size: number
  type: 'Directory' | 'File'
  uid: number
}

/** A member's header block, preceded by a pax header when the name is too long for ustar (as GNU tar and bsdtar write it). */
export function tarHeader(fields: TarMemberFields): Buffer {
  const block = Buffer.alloc(BLOCK)
  if (!new Header(fields).encode(block)) return block
  return Buffer.concat([new Pax(fields, false).encode(), block])
}

const NAME_BYTES = 100
const SIZE_FIELD = 124
const SIZE_BYTES = 12
const CHECKSUM_FIELD = 148
const CHECKSUM_BYTES = 8

/**
 * Header blocks of files that differ only in name and size (same mode, owner and mtime), byte for byte
 * what tarHeader writes, without building a node-tar Header per member: the fields they share are
 * encoded once and their part of the checksum summed once. Names that are not short ASCII (ustar's
 * name field, no prefix split, no pax) go through tarHeader.
 */
export class FileHeaders {
  private readonly template: Buffer
  /** The template's bytes from its first non-zero one to its last: all a zeroed block needs copied. */
  private readonly templateBytes: Uint8Array
  private readonly templateStart: number
  private readonly templateSum: number

  constructor(private readonly fields: Omit<TarMemberFields, 'path' | 'size'>) {
    this.template = tarHeader({...fields, path: '', size: 0})
    this.template.fill(0, SIZE_FIELD, SIZE_FIELD + SIZE_BYTES)
    this.template.fill(0x20, CHECKSUM_FIELD, CHECKSUM_FIELD + CHECKSUM_BYTES)
    let sum = 0
    for (const byte of this.template) sum += byte
    this.templateSum = sum
    this.templateStart = this.template.findIndex((byte) => byte !== 0)
    this.templateBytes = this.template.subarray(
      this.templateStart,
      this.template.findLastIndex((byte) => byte !== 0) + 1,
    )
  }

  /** Whether writeInto can write the header of `path` (`size` bytes): a short ASCII name. */
  fits(path: string, size: number): boolean {
    return path.length < NAME_BYTES && size < 8 ** 11 && isAscii(path)
  }

  /** The header of `path` (`size` bytes), with a pax header before it when needed. */
  header(path: string, size: number): Buffer {
    const block = Buffer.alloc(BLOCK)
    return this.writeInto(block, 0, path, size) ? block : tarHeader({...this.fields, path, size})
  }

  /** writeInto for a `path` and `size` that fit (the caller checked). */
  writeFitting(target: Buffer, offset: number, path: string, size: number): void {
    // TypedArray set and a loop of char codes: for a few hundred bytes, Buffer's copy and write cost more in their checks than in the bytes.
    target.set(this.templateBytes, offset + this.templateStart)
    let sum = this.templateSum + writeOctal(target, offset + SIZE_FIELD, size, SIZE_BYTES)
    for (let index = 0; index < path.length; index++) {
      const code = path.charCodeAt(index)
      target[offset + index] = code
      sum += code
    }

    writeOctal(target, offset + CHECKSUM_FIELD, sum, CHECKSUM_BYTES)
  }

  /** Writes the header of `path` (`size` bytes) at `offset` of `target` (512 zero bytes); false when `path` needs tarHeader. */
  writeInto(target: Buffer, offset: number, path: string, size: number): boolean {
    if (!this.fits(path, size)) return false
    this.writeFitting(target, offset, path, size)
    return true
  }
}

function isAscii(text: string): boolean {
  for (let index = 0; index < text.length; index++) if (text.charCodeAt(index) > 0x7f) return false
  return true
}

/**
 * Writes node-tar's numeric field at `offset`: octal digits zero-padded to size - 2, then a space and
 * a NUL (size - 1 digits and a NUL when that many are needed). Returns the sum of the bytes written.
 */
function writeOctal(target: Buffer, offset: number, value: number, size: number): number {
  const full = value >= 8 ** (size - 2)
  const digits = full ? size - 1 : size - 2
  let sum = 0
  // Integer shifts while the value fits 32 bits (every header the writer makes in a chunk), division past that.
  for (let index = digits - 1, rest = value; index >= 0; index--) {
    const small = rest <= 0xff_ff_ff_ff
    const byte = 0x30 + (small ? rest & 7 : rest % 8)
    target[offset + index] = byte
    sum += byte
    rest = small ? rest >>> 3 : Math.floor(rest / 8)
  }

  target[offset + size - 1] = 0
  if (full) return sum
  target[offset + size - 2] = 0x20
  return sum + 0x20
}

/** The zero bytes that pad a member's body of `size` bytes to a whole block. */
export function tarPadding(size: number): Buffer {
  return ZEROS.subarray(0, (BLOCK - (size % BLOCK)) % BLOCK)
}

/** What a zlib error says about an archive; any other error is thrown as it is. */
export function describeGzipError(error: unknown): string {
  const {code, message} = error as NodeJS.ErrnoException
  if (code === 'Z_DATA_ERROR' && /header/.test(message)) return 'not a gzip archive'
  if (code === 'Z_BUF_ERROR' || /unexpected end/.test(message))
    return 'the archive is truncated (the gzip stream ends early)'
  if (code?.startsWith('Z_')) return `the gzip stream is corrupt (${message})`
  throw error
}

// ---------------------------------------------------------------------------------------------
// Reading: gzip or plain tar, up to the end-of-archive marker and no further.

/** GNU tar and Python's tarfile pad an archive to whole records of 20 blocks. */
export const TAR_RECORD = 10_240
/** Zero bytes accepted after the end-of-archive marker: at most one record of padding. */
export const MAX_TRAILING_ZEROS = TAR_RECORD
const GZIP_MAGIC = [0x1f, 0x8b]
/** node-tar's default: a larger pax or long-name member is skipped, its fields not applied. */
const MAX_META_BYTES = 1024 * 1024
const MAX_GZIP_HEADER_BYTES = 64 * 1024

export interface TarReadOptions {
  /** Builds the caller's error for a problem with the archive. */
  fail: (problem: string) => Error
  /** Called with the parser's first problem (an error built with `fail`). */
  onProblem: (problem: Error) => void
  /** The strict parser's onReadEntry. */
  onReadEntry: (entry: ReadEntry) => void
}

/**
 * Reads a tar archive from `input`, gzip-compressed or not (told by its first two bytes, 1f 8b, not
 * by its name), and feeds it to a strict tar parser up to the end of the archive (its two zero
 * blocks). After the marker only zero padding is accepted, one record at most, and after a gzip
 * stream nothing at all (no second gzip member); anything else is refused as soon as it is seen,
 * so the input is never read further than that. Yields after each chunk written to the parser, so
 * the caller can take the entries it completed. Throws `fail`'s errors; the input's own errors
 * (a file that cannot be read) are thrown as they are.
 */
export async function* readTar(input: Readable, {fail, onProblem, onReadEntry}: TarReadOptions): AsyncGenerator<void> {
  const parser = strictTarParser(onReadEntry, onProblem, fail)
  const bounds = new TarBounds(fail)
  const source = input[Symbol.asyncIterator]() as AsyncIterator<Buffer>
  try {
    const first = await startOf(source)
    if (first.length === 0) throw fail('the archive is empty')
    const gzip = first[0] === GZIP_MAGIC[0] && (first.length < 2 || first[1] === GZIP_MAGIC[1])
    if (!gzip && !looksLikeTar(first))
      throw fail(first.length < 512 ? 'not a gzip or tar archive (too short)' : 'not a gzip or tar archive')
    const plain = gzip ? gunzipMember(first, source, fail) : plainChunks(first, source)
    let plainBytes = 0
    for await (const chunk of plain) {
      plainBytes += chunk.length
      const body = bounds.take(chunk)
      if (body.length > 0) {
        parser.write(body)
        yield
      }
    }

    if (plainBytes === 0) throw fail('the archive is empty')
    if (!bounds.ended) throw fail('the archive is truncated: it ends before the end-of-archive marker')
    parser.end()
    yield
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code?.startsWith('Z_')) throw fail(describeGzipError(error))
    throw error
  } finally {
    await source.return?.()
    input.destroy()
  }
}

/** At least 512 bytes of the input (less when it is shorter), in one buffer. */
async function startOf(source: AsyncIterator<Buffer>): Promise<Buffer> {
  const chunks: Buffer[] = []
  let length = 0
  while (length < BLOCK) {
    const next = await source.next()
    if (next.done) break
    const chunk = Buffer.isBuffer(next.value) ? next.value : Buffer.from(next.value as Uint8Array)
    chunks.push(chunk)
    length += chunk.length
  }

  return Buffer.concat(chunks, length)
}

/** A first block that is a tar header with a valid checksum (or the end marker of an empty archive). */
function looksLikeTar(first: Buffer): boolean {
  if (first.length < BLOCK) return false
  const block = first.subarray(0, BLOCK)
  try {
    const header = new Header(block)
    return header.nullBlock || header.cksumValid
  } catch {
    return false
  }
}

async function* plainChunks(first: Buffer, source: AsyncIterator<Buffer>): AsyncGenerator<Buffer> {
  yield first
  while (true) {
    const next = await source.next()
    if (next.done) return
    yield next.value
  }
}

const ZERO_BLOCK = Buffer.alloc(BLOCK)

function isZeros(part: Buffer): boolean {
  for (let offset = 0; offset < part.length; offset += BLOCK) {
    const piece = part.subarray(offset, offset + BLOCK)
    if (!piece.equals(ZERO_BLOCK.subarray(0, piece.length))) return false
  }

  return true
}

/** pax (x, X, g) and GNU long names (L, K, N): they describe the next member. */
const META_TYPES = new Set(['x', 'X', 'g', 'L', 'K', 'N'])

/** The size field of a header block: octal, or base-256 when its first byte has the high bit set (GNU). */
function headerSize(block: Buffer): number {
  if (block[124] & 0x80) {
    let value = 0
    for (let index = 125; index < 136; index++) value = value * 256 + block[index]
    return value
  }

  const text = block
    .toString('latin1', 124, 136)
    .replace(/[\0 ].*$/s, '')
    .trim()
  const value = Number.parseInt(text || '0', 8)
  return Number.isFinite(value) ? value : 0
}

/**
 * Follows the tar blocks of the plain stream: where each member's body ends (its size, or a pax
 * header's), and where the two zero blocks end the archive. `take` returns the part of a chunk that
 * belongs to the archive and checks that whatever follows is the padding tar writes.
 */
class TarBounds {
  ended = false
  private extended?: Record<string, unknown>
  private globalExtended?: Record<string, unknown>
  private readonly header = Buffer.alloc(BLOCK)
  private headerBytes = 0
  /** A pax or long-name member's body, collected to read the size it sets for the next member. */
  private meta?: {bytes: number; chunks: Buffer[]; global: boolean; size: number}
  private nullBlocks = 0
  /** Body bytes (with their padding) still to pass before the next header. */
  private skip = 0
  private trailing = 0

  constructor(private readonly fail: (problem: string) => Error) {}

  take(chunk: Buffer): Buffer {
    if (this.ended) {
      this.checkTrailing(chunk)
      return chunk.subarray(0, 0)
    }

    let position = 0
    while (position < chunk.length && !this.ended) {
      if (this.skip > 0) {
        const step = Math.min(this.skip, chunk.length - position)
        if (this.meta) this.collectMeta(chunk.subarray(position, position + step))
        this.skip -= step
        position += step
        if (this.skip === 0 && this.meta) this.applyMeta()
        continue
      }

      const step = Math.min(BLOCK - this.headerBytes, chunk.length - position)
      chunk.copy(this.header, this.headerBytes, position, position + step)
      this.headerBytes += step
      position += step
      if (this.headerBytes === BLOCK) {
        this.headerBytes = 0
        this.onHeader()
      }
    }

    if (this.ended) this.checkTrailing(chunk.subarray(position))
    return chunk.subarray(0, position)
  }

  private applyMeta(): void {
    const meta = this.meta!
    this.meta = undefined
    const text = Buffer.concat(meta.chunks).toString('utf8')
    try {
      if (meta.global) this.globalExtended = Pax.parse(text, this.globalExtended as never, true) as never
      else this.extended = Pax.parse(text, this.extended as never, false) as never
    } catch {
      // the parser reports it
    }
  }

  private checkTrailing(part: Buffer): void {
    this.trailing += part.length
    if (this.trailing > MAX_TRAILING_ZEROS || !isZeros(part)) {
      throw this.fail('unexpected bytes after the end of the archive')
    }
  }

  private collectMeta(part: Buffer): void {
    const meta = this.meta!
    const wanted = Math.min(part.length, meta.size - meta.bytes)
    if (wanted > 0) meta.chunks.push(part.subarray(0, wanted))
    meta.bytes += wanted
  }

  private onHeader(): void {
    if (this.header.equals(ZERO_BLOCK)) {
      this.nullBlocks++
      if (this.nullBlocks === 2) this.ended = true
      return
    }

    this.nullBlocks = 0
    // Only the type and size matter here (the parser checks the rest): read them without decoding the whole header.
    const type = String.fromCharCode(this.header[156])
    const paxSize = this.extended?.size ?? this.globalExtended?.size
    const size = typeof paxSize === 'number' && !META_TYPES.has(type) ? paxSize : headerSize(this.header)
    this.skip = BLOCK * Math.ceil(size / BLOCK)
    const global = type === 'g'
    if (type === 'x' || type === 'X' || global) {
      if (size > 0 && size <= MAX_META_BYTES) this.meta = {bytes: 0, chunks: [], global, size}
    } else if (!META_TYPES.has(type)) {
      this.extended = undefined
    }
  }
}

/** zlib's output per call: its default 16 KiB made ten thousand round trips to the thread pool for 170 MiB. */
const INFLATE_OUTPUT_BYTES = 256 * 1024
/**
 * Compressed input handed to zlib ahead of what it has consumed: as much as it has consumed so far,
 * from 16 KiB up to 1 MiB. A long archive keeps zlib from waiting on each read; a short hostile one
 * (a bomb that fails a check at once) is read no further than its first few KiB.
 */
const lookaheadBytes = (consumed: number) => Math.min(1024 * 1024, Math.max(16 * 1024, consumed))

/**
 * The plain bytes of exactly one gzip member (RFC 1952): its header read here, the deflate stream
 * inflated by zlib, the CRC-32 and length of its trailer checked, and nothing allowed after it (zlib's
 * gunzip would go on to decompress a second member, and ignore trailing zeros).
 */
async function* gunzipMember(
  first: Buffer,
  source: AsyncIterator<Buffer>,
  fail: (problem: string) => Error,
): AsyncGenerator<Buffer> {
  let pending = first
  let done = false
  const more = async (): Promise<boolean> => {
    if (done) return false
    const next = await source.next()
    if (next.done) {
      done = true
      return false
    }

    pending = pending.length === 0 ? next.value : Buffer.concat([pending, next.value])
    return true
  }

  // The header: magic, method 8 (deflate), flags, then the optional fields the flags announce.
  let headerLength: number | undefined
  while ((headerLength = gzipHeaderLength(pending, fail)) === undefined) {
    if (pending.length > MAX_GZIP_HEADER_BYTES) throw fail('not a gzip archive (its header is too long)')
    if (!(await more())) throw fail('the archive is truncated (the gzip stream ends early)')
  }

  const inflate = createInflateRaw({chunkSize: INFLATE_OUTPUT_BYTES})
  const output: Buffer[] = []
  let streamEnded = false
  let inflateError: Error | undefined
  let wake: (() => void) | undefined
  const notify = () => {
    wake?.()
    wake = undefined
  }

  inflate.on('data', (chunk: Buffer) => {
    output.push(chunk)
    notify()
  })
  inflate.on('end', () => {
    streamEnded = true
    notify()
  })
  inflate.on('error', (error: Error) => {
    inflateError = error
    notify()
  })

  // What was written to zlib and not yet consumed by it: at the end, the trailer and anything after the member.
  const written: Buffer[] = []
  let writtenBytes = 0
  let droppedBytes = 0
  const write = (chunk: Buffer) => {
    written.push(chunk)
    writtenBytes += chunk.length
    inflate.write(chunk, notify)
  }

  const dropConsumed = () => {
    while (written.length > 0 && droppedBytes + written[0].length <= inflate.bytesWritten)
      droppedBytes += written.shift()!.length
  }

  let crc = 0
  let plainBytes = 0
  try {
    if (pending.length > headerLength) write(pending.subarray(headerLength))
    pending = Buffer.alloc(0)
    let inputDone = false
    while (true) {
      while (output.length > 0) {
        const chunk = output.shift()!
        crc = crc32(chunk, crc)
        plainBytes += chunk.length
        yield chunk
      }

      if (inflateError) throw inflateError
      if (streamEnded) break
      // Feed zlib only while it has little unconsumed input (as a pipe would, but enough that it never
      // waits for the next read), so that memory stays flat and a hostile stream is read no further than needed.
      dropConsumed()
      if (!inputDone && writtenBytes - inflate.bytesWritten < lookaheadBytes(inflate.bytesWritten)) {
        const next = await source.next()
        if (next.done) {
          inputDone = true
          inflate.end()
        } else {
          write(next.value)
        }

        continue
      }

      await new Promise<void>((resolve) => {
        wake = resolve
        if (output.length > 0 || streamEnded || inflateError) notify()
      })
    }

    // The bytes after the deflate stream: those zlib was given but did not consume, then the rest.
    dropConsumed()
    let skip = inflate.bytesWritten - droppedBytes
    const rest: Buffer[] = []
    for (const chunk of written) {
      if (skip >= chunk.length) skip -= chunk.length
      else {
        rest.push(chunk.subarray(skip))
        skip = 0
      }
    }

    let after = Buffer.concat(rest)
    // eslint-disable-next-line no-unmodified-loop-condition -- done is set by the inflater's 'end' listener
    while (after.length <= 8 && !done) {
      const next = await source.next()
      if (next.done) break
      after = Buffer.concat([after, next.value])
    }

    if (after.length < 8) throw fail('the archive is truncated (the gzip stream ends early)')
    if (after.readUInt32LE(0) !== crc >>> 0) throw fail('the gzip stream is corrupt (its CRC-32 does not match)')
    if (after.readUInt32LE(4) !== plainBytes % 2 ** 32)
      throw fail('the gzip stream is corrupt (its length does not match)')
    if (after.length > 8 || !(await source.next()).done)
      throw fail('unexpected bytes after the end of the gzip stream (a second gzip member or other data)')
  } finally {
    inflate.destroy()
  }
}

/** The length of the gzip header at the start of `bytes`, or undefined when more bytes are needed. */
function gzipHeaderLength(bytes: Buffer, fail: (problem: string) => Error): number | undefined {
  if (bytes.length < 10) return undefined
  if (bytes[0] !== GZIP_MAGIC[0] || bytes[1] !== GZIP_MAGIC[1]) throw fail('not a gzip archive')
  if (bytes[2] !== 8) throw fail(`not a gzip archive (compression method ${bytes[2]}, not deflate)`)
  const flags = bytes[3]
  if (flags & 0xe0) throw fail('not a gzip archive (reserved header flags are set)')
  let length = 10
  if (flags & 0x04) {
    if (bytes.length < length + 2) return undefined
    length += 2 + bytes.readUInt16LE(length)
  }

  for (const flag of [0x08, 0x10]) {
    if (!(flags & flag)) continue
    const zero = bytes.indexOf(0, length)
    if (zero === -1) return undefined
    length = zero + 1
  }

  if (flags & 0x02) length += 2
  return bytes.length < length ? undefined : length
}

/**
 * The name of the first member of the plain tar bytes `plain` (a pax or GNU long name applied, pax
 * and long-name members themselves skipped), or undefined when `plain` ends before it.
 */
export function firstMemberName(plain: Buffer): string | undefined {
  let extended: Record<string, unknown> | undefined
  let global: Record<string, unknown> | undefined
  for (let offset = 0; offset + BLOCK <= plain.length;) {
    const block = plain.subarray(offset, offset + BLOCK)
    offset += BLOCK
    if (block.every((byte) => byte === 0)) continue
    let header: Header
    try {
      header = new Header(block, 0, extended as never, global as never)
    } catch {
      return ''
    }

    if (!header.cksumValid) return ''
    const size = header.size ?? 0
    const body = plain.subarray(offset, offset + size)
    offset += BLOCK * Math.ceil(size / BLOCK)
    const meta =
      /^(ExtendedHeader|OldExtendedHeader|GlobalExtendedHeader|NextFileHasLongPath|OldGnuLongPath|NextFileHasLongLinkpath)$/.test(
        header.type ?? '',
      )
    if (!meta) return header.path ?? ''
    if (body.length < size) return undefined
    const text = body.toString('utf8')
    if (header.type === 'GlobalExtendedHeader') global = Pax.parse(text, global as never, true) as never
    else if (header.type === 'NextFileHasLongPath' || header.type === 'OldGnuLongPath')
      extended = {...extended, path: text.replace(/\0.*/s, '')}
    else if (header.type !== 'NextFileHasLongLinkpath') extended = Pax.parse(text, extended as never, false) as never
  }

  return undefined
}
