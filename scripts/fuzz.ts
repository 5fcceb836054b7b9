/**
 * The archive fuzzer, long: `npm run fuzz -- --mutants 100000 --seed 42 [--restore 20]`.
 *
 * Reader-only mutants (see test/fuzz/archive-fuzz.ts): each must be refused with an ArchiveError or
 * describe a valid ZooKeeper tree. With --restore N, N accepted and N refused mutants are then
 * restored into a fresh one-node ensemble (Java and ZooKeeper as the tests need them): an accepted
 * one must come back as exactly the tree it describes (read by the independent oracle), a refused
 * one must leave the live tree unchanged. Prints the seed; the same seed gives the same mutants.
 * Exit code 1 when anything was found.
 */
import {execFile} from 'node:child_process'
import {mkdtemp, rm, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {fileURLToPath} from 'node:url'
import {isDeepStrictEqual, parseArgs, promisify} from 'node:util'

import {expectedLiveTree, fuzzReader, restorable} from '../test/fuzz/archive-fuzz.js'
import {Ensemble} from '../test/harness/ensemble.js'
import {readTreeIndependently} from '../test/helpers/oracle.js'

const {values} = parseArgs({
  options: {
    mutants: {default: '10000', type: 'string'},
    restore: {default: '0', type: 'string'},
    seed: {type: 'string'},
  },
})
const seed = values.seed === undefined ? Math.floor(Math.random() * 2 ** 31) : Number(values.seed)
const mutants = Number(values.mutants)
const restores = Number(values.restore)
console.log(
  `archive fuzzer: seed ${seed}, ${mutants} mutants${restores ? `, ${restores} restored each way` : ''} (reproduce with --seed ${seed})`,
)

const started = Date.now()
const report = await fuzzReader(seed, mutants, Math.max(restores * 20, 20))
console.log(
  `${report.mutants} mutants in ${((Date.now() - started) / 1000).toFixed(1)}s: ${report.refused} refused, ${report.accepted} accepted as valid trees, ${report.findings.length} findings`,
)
console.log('refusals by reason:')
for (const [reason, count] of [...report.reasons].sort((a, b) => b[1] - a[1]).slice(0, 30))
  console.log(`  ${String(count).padStart(6)}  ${reason}`)
const findings: string[] = report.findings.map(
  ({description, mutant, problem}) => `mutant ${mutant} (${description}): ${problem}`,
)

if (restores > 0) {
  const ensemble = await Ensemble.start({nodes: 1})
  const dir = await mkdtemp(join(tmpdir(), 'dcos-fuzz-'))
  const hosts = ensemble.connectString
  const dcos = (args: string[]) =>
    promisify(execFile)(process.execPath, [fileURLToPath(new URL('../bin/run.js', import.meta.url)), ...args]).then(
      () => 0,
      (error: {code?: number}) => error.code ?? -1,
    )
  try {
    let n = 0
    for (const {bytes, description, mutant, outcome} of report.acceptedMutants
      .filter(({outcome}) => restorable(outcome))
      .slice(0, restores)) {
      const file = join(dir, `accepted-${mutant}.tar.gz`)
      await writeFile(file, bytes)
      const target = `/fuzz-accepted-${n++}`
      const code = await dcos(['zk', 'restore', file, '--zk', `zk://${hosts}${target}`, '--yes', '--no-safety-backup'])
      if (code !== 0)
        findings.push(`mutant ${mutant} (${description}): accepted by the reader, but its restore exited ${code}`)
      else if (!isDeepStrictEqual(await readTreeIndependently(hosts, target), expectedLiveTree(outcome)))
        findings.push(`mutant ${mutant} (${description}): the restored tree is not the archive's`)
    }

    for (const {bytes, description, mutant} of report.refusedMutants.slice(0, restores)) {
      const file = join(dir, `refused-${mutant}.tar.gz`)
      await writeFile(file, bytes)
      const target = `/fuzz-refused-${n++}`
      const before = await readTreeIndependently(hosts, target)
      const code = await dcos(['zk', 'restore', file, '--zk', `zk://${hosts}${target}`, '--yes', '--no-safety-backup'])
      if (code === 0)
        findings.push(`mutant ${mutant} (${description}): refused by the reader, but its restore succeeded`)
      else if (!isDeepStrictEqual(await readTreeIndependently(hosts, target), before))
        findings.push(`mutant ${mutant} (${description}): a refused restore changed the live tree`)
    }

    console.log(`restored ${n} mutants into a one-node ensemble`)
  } finally {
    await ensemble.stop()
    await rm(dir, {force: true, recursive: true})
  }
}

for (const finding of findings) console.log(`FINDING: ${finding}`)
console.log(findings.length === 0 ? `no findings (seed ${seed})` : `${findings.length} findings (seed ${seed})`)
process.exitCode = findings.length === 0 ? 0 : 1
