import type {JuteFailure} from '../jute/reader.js'

import {OperationError} from '../errors.js'

export interface DiskFormatErrorOptions {
  /** Qualifies the offset, e.g. " of the decompressed stream". */
  offsetNote?: string
  /** The file ended inside the record being read (rather than holding a wrong value). */
  truncated?: boolean
}

/**
 * A snapshot or transaction log that cannot be read: bad magic, a checksum mismatch, a truncated or
 * malformed record. The message names the file and, where there is one, the byte offset.
 */
export class DiskFormatError extends OperationError {
  readonly truncated: boolean

  constructor(
    readonly file: string,
    readonly offset: number | undefined,
    readonly problem: string,
    options: DiskFormatErrorOptions = {},
  ) {
    super(
      offset === undefined ? `${file}: ${problem}` : `${file} at byte ${offset}${options.offsetNote ?? ''}: ${problem}`,
    )
    this.name = 'DiskFormatError'
    this.truncated = options.truncated ?? false
  }
}

/** How a file's reader fails: a DiskFormatError naming the file and the offset (qualified by `offsetNote`). */
export function diskFormatFailure(offsetNote = ''): JuteFailure {
  return (file, at, problem, truncated) => new DiskFormatError(file, at, problem, {offsetNote, truncated})
}
