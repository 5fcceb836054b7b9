/** The memory check: backup and restore (batched, the default) of trees of each --memory size, once each: peak RSS must not grow with the tree. */
import {rm} from 'node:fs/promises'
import {join} from 'node:path'

import type {Section} from './section.js'

import {cli} from './cli.js'
import {deleteTree, seedTree} from './tree.js'

export const memorySection: Section = {
  name: 'memory',
  async run({connectString, options, spec, wire, work}) {
    const results = []
    for (const count of options.memory) {
      const sized = {...spec, count}
      await seedTree(wire, '/memory', sized)
      const archive = join(work, `memory-${count}.tar.gz`)
      const backup = await cli(['zk', 'backup', archive, '--zk', `${connectString}/memory`])
      const restore = await cli([
        'zk',
        'restore',
        archive,
        '--zk',
        `${connectString}/memory-restored`,
        '--yes',
        '--no-safety-backup',
      ])
      console.error(
        `memory at ${count} znodes: backup ${backup.seconds.toFixed(1)} s, restore ${restore.seconds.toFixed(1)} s`,
      )
      results.push({
        backupPeakRssMiB: backup.peakRssMiB,
        backupSeconds: Number(backup.seconds.toFixed(1)),
        restorePeakRssMiB: restore.peakRssMiB,
        restoreSeconds: Number(restore.seconds.toFixed(1)),
        znodes: count,
      })
      await deleteTree(wire, '/memory', sized)
      await deleteTree(wire, '/memory-restored', sized)
      await rm(archive)
    }

    const lines = results.map(
      (one) =>
        `memory at ${one.znodes} znodes: backup ${one.backupPeakRssMiB ?? '?'} MiB (${one.backupSeconds} s), restore ${one.restorePeakRssMiB ?? '?'} MiB (${one.restoreSeconds} s)`,
    )
    return {json: results, lines: lines.length > 0 ? lines : ["memory check skipped (--memory '')"]}
  },
}
