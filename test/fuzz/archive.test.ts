/**
 * The archive fuzzer in the suite (test/fuzz/archive-fuzz.ts; `npm run fuzz` runs it long): 300
 * reader-only mutants, then some of them restored into a real ensemble. An accepted mutant must
 * restore to exactly the tree it describes (checked with the independent oracle); a refused one
 * must leave the live tree as it was. FUZZ_SEED=<n> reproduces a run.
 */
import {expect} from 'chai'
import {writeFile} from 'node:fs/promises'
import {join} from 'node:path'

import {sharedEnsemble} from '../harness/hooks.js'
import {dcos, zkUri} from '../helpers/cli.js'
import {removeDir, tempDir} from '../helpers/fixtures.js'
import {readTreeIndependently} from '../helpers/oracle.js'
import {connect, uniquePath} from '../helpers/tree.js'
import {expectedLiveTree, fuzzReader, type FuzzReport, restorable} from './archive-fuzz.js'

const SEED = Number(process.env.FUZZ_SEED ?? 20_261_201)
const READER_MUTANTS = 300
const RESTORED_ACCEPTED = 6
const RESTORED_REFUSED = 4

describe(`archive fuzzer (seed ${SEED}; FUZZ_SEED=${SEED} reproduces it)`, function () {
  this.timeout(120_000)
  let report: FuzzReport

  before(async () => {
    report = await fuzzReader(SEED, READER_MUTANTS, 50)
  })

  it(`${READER_MUTANTS} mutants: each refused with an ArchiveError, or a valid ZooKeeper tree`, () => {
    const findings = report.findings.map(
      ({description, mutant, problem}) => `mutant ${mutant} (${description}): ${problem}`,
    )
    expect(findings, `seed ${SEED}`).to.deep.equal([])
    expect(report.mutants).to.equal(READER_MUTANTS)
    // The mutants must exercise both sides (a fuzzer whose mutants are all refused tests little).
    expect(report.refused).to.be.greaterThan(READER_MUTANTS / 2)
    expect(report.accepted).to.be.greaterThan(10)
  })

  describe('restored into a real ensemble', () => {
    let dir: string
    let hosts: string

    before(async () => {
      hosts = (await sharedEnsemble()).connectString
      dir = await tempDir('fuzz')
    })

    after(() => removeDir(dir))

    it(`accepted mutants restore to exactly the tree they describe (up to ${RESTORED_ACCEPTED})`, async () => {
      const chosen = report.acceptedMutants.filter(({outcome}) => restorable(outcome)).slice(0, RESTORED_ACCEPTED)
      expect(chosen.length, 'restorable accepted mutants').to.be.greaterThan(0)
      for (const {bytes, description, mutant, outcome} of chosen) {
        const file = join(dir, `accepted-${mutant}.tar.gz`)
        await writeFile(file, bytes)
        const target = uniquePath('fuzz-accepted')
        const restore = await dcos(['zk', 'restore', file, '--zk', zkUri(hosts, target), '--yes', '--no-safety-backup'])
        const context = `seed ${SEED} mutant ${mutant} (${description}): ${restore.stdout}${restore.stderr}`
        expect(restore.code, context).to.equal(0)
        expect(await readTreeIndependently(hosts, target), context).to.deep.equal(expectedLiveTree(outcome))
      }
    })

    it(`refused mutants leave the live tree unchanged (${RESTORED_REFUSED})`, async () => {
      const session = await connect(hosts)
      try {
        for (const {bytes, description, mutant} of report.refusedMutants.slice(0, RESTORED_REFUSED)) {
          const file = join(dir, `refused-${mutant}.tar.gz`)
          await writeFile(file, bytes)
          const target = uniquePath('fuzz-refused')
          await session.create(target, Buffer.from('live'), 0)
          await session.create(`${target}/kept`, Buffer.from('kept'), 0)
          const before = await readTreeIndependently(hosts, target)
          const restore = await dcos([
            'zk',
            'restore',
            file,
            '--zk',
            zkUri(hosts, target),
            '--yes',
            '--no-safety-backup',
          ])
          const context = `seed ${SEED} mutant ${mutant} (${description}): ${restore.stdout}${restore.stderr}`
          expect(restore.code, context).to.not.equal(0)
          expect(await readTreeIndependently(hosts, target), context).to.deep.equal(before)
        }
      } finally {
        await session.close()
      }
    })
  })
})
