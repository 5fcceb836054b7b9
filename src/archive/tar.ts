import {Header, Parser, Pax, type ReadEntry} from 'tar'

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
    onwarn(code: string, message: string | Error) {
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
  path: string
  size: number
  mode: number
  mtime: Date
  type: 'Directory' | 'File'
  uid: number
  gid: number
}

/** A member's header block, preceded by a pax header when the name is too long for ustar (as GNU tar and bsdtar write it). */
export function tarHeader(fields: TarMemberFields): Buffer {
  const block = Buffer.alloc(BLOCK)
  if (!new Header(fields).encode(block)) return block
  return Buffer.concat([new Pax(fields, false).encode(), block])
}

/** The zero bytes that pad a member's body of `size` bytes to a whole block. */
export function tarPadding(size: number): Buffer {
  return ZEROS.subarray(0, (BLOCK - (size % BLOCK)) % BLOCK)
}

/** What a zlib error says about an archive; any other error is thrown as it is. */
export function describeGzipError(error: unknown): string {
  const {code, message} = error as NodeJS.ErrnoException
  if (code === 'Z_DATA_ERROR' && /header/.test(message)) return 'not a gzip archive'
  if (code === 'Z_BUF_ERROR' || /unexpected end/.test(message)) return 'the archive is truncated (the gzip stream ends early)'
  if (code?.startsWith('Z_')) return `the gzip stream is corrupt (${message})`
  throw error
}
