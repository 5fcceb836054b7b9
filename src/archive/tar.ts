import {Parser, type ReadEntry} from 'tar'

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
