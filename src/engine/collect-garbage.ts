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
 * A collection for a replay's pauses (before each log, and every few thousand txns): always at the
 * first (the snapshot's parse and what came before it are garbage, and the logs would add to them),
 * then once the heap grew REPLAY_HEAP_GROWTH past what the last one left. V8 lets an old generation grow to about twice its
 * live size before it marks again; the replaced znodes, stats and data a replay leaves are old by
 * then, so without this they were held beside the tree (its peak was the replay's end).
 */
export function replayCollector(): () => void {
  let liveAfter: number | undefined
  return () => {
    if (liveAfter !== undefined && getHeapStatistics().used_heap_size < liveAfter + REPLAY_HEAP_GROWTH) return
    collectGarbage()
    liveAfter = getHeapStatistics().used_heap_size
  }
}
