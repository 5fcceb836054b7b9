/**
 * A full garbage collection, asked for where a command has just let go of a large structure (a
 * replayed tree) and its next step would otherwise add its own memory to the dead one's: V8 collects
 * old objects only as the heap grows, and a copy that streams hardly grows it, so the tree, the
 * snapshot bytes under it and the worker threads the copy starts would all be held at once.
 */
import {getHeapStatistics, setFlagsFromString} from 'node:v8'
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

/** How far the heap may grow past what the last collection left before a replay collects again. */
const REPLAY_HEAP_GROWTH = 24 * 1024 * 1024

/**
 * A collection for the pauses of a long pass over a large structure held whole (a replay: before
 * each log and every few thousand txns; a walk of a replayed tree: every few thousand znodes):
 * always at the first (what came before is garbage, and the pass would add to it), then once the
 * heap grew `growth` past what the last one left. V8 lets an old generation grow to about twice
 * its live size before it marks again; what the pass leaves behind is old by then (a replay's
 * replaced znodes, a walk's records waiting in a restore's pipeline), so without this it was held
 * beside the structure: 150 MiB more at the peak of an online restore of 300,000 znodes.
 */
export function growthCollector(growth = REPLAY_HEAP_GROWTH): () => void {
  let liveAfter: number | undefined
  return () => {
    if (liveAfter !== undefined && getHeapStatistics().used_heap_size < liveAfter + growth) return
    collectGarbage()
    liveAfter = getHeapStatistics().used_heap_size
  }
}
