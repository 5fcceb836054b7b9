/**
 * Every failure the engines report is one of these two, so that commands (and the backup service)
 * can map it to an exit code or an HTTP status without knowing where it came from.
 *
 * Exit codes: 0 success, 1 the operation failed, 2 bad usage or bad input (caught before anything
 * was changed), 3 done, but the archive has a gap (zk archive, zk timeline).
 */
export const EXIT_OK = 0
export const EXIT_FAILED = 1
export const EXIT_USAGE = 2
/** Not an error: the step or the listing succeeded, but transactions are missing from the archive. */
export const EXIT_GAP = 3

/** The command line or its input is wrong; nothing was touched. Exit code 2. */
export class UsageError extends Error {
  readonly exitCode = EXIT_USAGE

  constructor(message: string) {
    super(message)
    this.name = 'UsageError'
  }
}

/** The operation was attempted and failed (storage, ZooKeeper, integrity). Exit code 1. */
export class OperationError extends Error {
  readonly exitCode = EXIT_FAILED

  constructor(message: string, options?: {cause?: unknown}) {
    super(message, options)
    this.name = 'OperationError'
  }
}

export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error)
}
