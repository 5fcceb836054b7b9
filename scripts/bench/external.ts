/**
 * Parts of the bench that need their own servers, run as the standalone scripts they are (each
 * starts what it measures): the 3.9 AdminServer snapshot path (scripts/bench-admin.ts), the
 * snapshot reader and archive writer on a real data directory (scripts/bench-zkdisk.ts), and the hot
 * backup and the archiver on a running node under load (scripts/bench-archive.ts), and the
 * point-in-time restore from an archive repository (scripts/bench-pitr.ts).
 */
import {execFile} from 'node:child_process'
import {readFile} from 'node:fs/promises'
import {join} from 'node:path'
import {fileURLToPath} from 'node:url'
import {promisify} from 'node:util'

import type {BenchOptions} from './options.js'
import type {Section} from './section.js'

const SCRIPTS = fileURLToPath(new URL('..', import.meta.url))

function externalSection(name: string, script: string, args: (options: BenchOptions) => string[]): Section {
  return {
    name,
    async run({options, work}) {
      const out = join(work, `${script}.json`)
      const {stdout} = await promisify(execFile)(
        'npx',
        ['tsx', join(SCRIPTS, script), ...args(options), '--out', out],
        {maxBuffer: 64 * 1024 * 1024},
      )
      return {json: JSON.parse(await readFile(out, 'utf8')), lines: stdout.trimEnd().split('\n')}
    },
  }
}

/** Only on 3.9 (the snapshot command is 3.9+): the bare stream, `zk backup --admin-url`, the client path, and their ratio. */
export const adminSection = externalSection('AdminServer snapshot (3.9)', 'bench-admin.ts', (options) => [
  '--znodes',
  String(options.znodes),
  '--runs',
  String(options.runs),
])

/** The snapshot reader and the archive writer on a real 3.8 node's data directory of --zkdisk-znodes znodes. */
export const zkdiskSection = externalSection('snapshot reader and archive writer', 'bench-zkdisk.ts', (options) => [
  '--znodes',
  String(options.zkdiskZnodes),
  '--runs',
  String(options.runs),
])

/** The hot backup against tar czf, the archiver's RPO and its CPU, on a running 3.8 node of --hot-znodes znodes under a steady write load. */
export const archiveSection = externalSection('hot backup and archiver', 'bench-archive.ts', (options) => [
  '--znodes',
  String(options.hotZnodes),
  '--runs',
  String(options.runs),
  '--seconds',
  String(options.archiveSeconds),
  '--force-sync',
  options.forceSync,
])

/** The replay of --pitr-znodes znodes and --pitr-txns txns against ZooKeeper 3.8's own load, and the restore to that point offline and online, once (the online restore alone takes minutes at 300,000 znodes). */
export const pitrSection = externalSection('point-in-time restore', 'bench-pitr.ts', (options) => [
  '--znodes',
  String(options.pitrZnodes),
  '--txns',
  String(options.pitrTxns),
  '--online-znodes',
  String(Math.min(options.pitrOnlineZnodes, options.pitrZnodes)),
  '--runs',
  '1',
  '--force-sync',
  options.forceSync,
])
