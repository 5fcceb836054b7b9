/**
 * A full garbage collection, asked for where a command has just let go of a large structure (a
 * replayed tree) and its next step would otherwise add its own memory to the dead one's: V8 collects
 * old objects only as the heap grows, and a copy that streams hardly grows it, so the tree, the
 * snapshot bytes under it and the worker threads the copy starts would all be held at once.
 */
import {setFlagsFromString} from 'node:v8'
import {runInNewContext} from 'node:vm'

let collect: (() => void) | undefined

export function collectGarbage(): void {
  collect ??= (globalThis as {gc?: () => void}).gc ?? exposedGc()
  collect()
}

/** V8's gc function, made visible for one new context only (as node --expose-gc would for all of them). */
function exposedGc(): () => void {
  setFlagsFromString('--expose-gc')
  try {
    return runInNewContext('gc') as () => void
  } finally {
    setFlagsFromString('--no-expose-gc')
  }
}
