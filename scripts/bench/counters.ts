import type {Section} from './section.js'

/** Sequence counters: the create-and-delete pairs a restore sends to raise one parent's counter (what --max-sequence-pairs is sized by). */
import {raiseCounters} from '../../src/engine/restore/counters.js'
import {zkConstants} from '../../src/zk/session.js'

const PARENT = '/counter-bench'

export const countersSection: Section = {
  name: 'sequence counters',
  async run({options, session, wire}) {
    if (options.counterPairs === 0) return {json: null, lines: ['skipped (--counter-pairs 0)']}
    await session.create(PARENT, Buffer.alloc(0), zkConstants.ZOO_PERSISTENT)
    try {
      const started = performance.now()
      const pairs = await raiseCounters(wire, '/', new Map([[PARENT, options.counterPairs]]), () => {})
      const seconds = (performance.now() - started) / 1000
      const pairsPerSecond = Math.round(pairs / seconds)
      return {
        json: {pairs, pairsPerSecond, seconds},
        lines: [
          `${pairs} create-and-delete pairs in ${seconds.toFixed(2)} s: ${pairsPerSecond} pairs/s (one parent, multis of pairs)`,
        ],
      }
    } finally {
      await session.delete(PARENT)
    }
  },
}
