/**
 * Faults during a restore: whatever stops it half way, the safety backup it wrote first brings the
 * subtree back exactly as it was.
 */
import {expect} from 'chai'
import {existsSync} from 'node:fs'
import {join} from 'node:path'

import {Ensemble} from '../harness/ensemble.js'
import {sharedEnsemble} from '../harness/hooks.js'
import {dcos, expectExit, spawnDcos, zkUri} from '../helpers/cli.js'
import {removeDir, tempDir} from '../helpers/fixtures.js'
import {expectSameTree, oracleDiff, type OracleTree, readTreeIndependently} from '../helpers/oracle.js'
import {connect, seedTree, type SeedZnode, uniquePath, waitUntilGone} from '../helpers/tree.js'
import {eventually} from '../helpers/wait.js'

const ZNODES = 3000

function bigTree(label: string): SeedZnode[] {
  return [
    {data: label, path: '/'},
    ...Array.from({length: ZNODES}, (_, index) => ({data: `${label} ${index} `.repeat(8), path: `/z-${index}`})),
  ]
}

/**
 * The subtree once two reads in a row agree: the multis a killed restore had sent are still applied
 * by the server after it died, and a read among them can meet a znode deleted under it (NO_NODE).
 */
function settledTree(hosts: string, root: string): Promise<OracleTree> {
  let last: string | undefined
  return eventually(
    `${root} to stop changing`,
    async () => {
      const tree = await readTreeIndependently(hosts, root).catch(() => undefined)
      const seen = tree && JSON.stringify(tree)
      if (seen !== undefined && seen === last) return tree
      last = seen
      return undefined
    },
    30_000,
    200,
  )
}

describe('faults during a restore', function () {
  this.timeout(120_000)
  let dir: string

  before(async () => {
    dir = await tempDir('faults')
  })

  after(() => removeDir(dir))

  it('a restore killed (SIGKILL) half way: its safety backup brings the subtree back exactly', async () => {
    const hosts = (await sharedEnsemble()).connectString
    const session = await connect(hosts)
    try {
      const root = uniquePath('killed-restore')
      const lockPath = `${root}-lock`
      await seedTree(session, root, bigTree('archived'))
      const archive = join(dir, 'killed.tar.gz')
      expectExit(await dcos(['zk', 'backup', archive, '--zk', zkUri(hosts, root)]), 0)
      await session.setData(`${root}/z-1`, Buffer.from('changed since the backup'))
      await session.delete(`${root}/z-2`)
      await session.create(`${root}/new`, Buffer.from('new since the backup'), 0)
      const before = await readTreeIndependently(hosts, root)

      const safety = join(dir, 'killed-safety.tar.gz')
      const restore = spawnDcos([
        'zk',
        'restore',
        archive,
        '--zk',
        zkUri(hosts, root),
        '--yes',
        '--safety-backup',
        safety,
        '--lock-path',
        lockPath,
        '--session-timeout',
        '3',
      ])
      // The safety backup is published once the live tree is read: from then on the restore deletes and creates.
      await eventually('the safety backup', async () => (existsSync(safety) ? true : undefined), 60_000)
      await waitUntilGone(session, `${root}/z-1500`, {intervalMs: 5, timeoutMs: 60_000})
      restore.child.kill('SIGKILL')
      expect((await restore.exited).code).to.equal(null)
      expect(
        oracleDiff(before, await settledTree(hosts, root)),
        'the kill left the subtree half restored',
      ).to.not.deep.equal([])

      // The killed process's lock goes with its session (3 s); until then a restore is refused.
      await eventually(
        'the safety backup to be restored',
        async () => {
          const result = await dcos([
            'zk',
            'restore',
            safety,
            '--zk',
            zkUri(hosts, root),
            '--yes',
            '--no-safety-backup',
            '--lock-path',
            lockPath,
          ])
          return result.code === 0 ? true : undefined
        },
        30_000,
      )
      await expectSameTree(before, hosts, root)
    } finally {
      await session.close()
    }
  })

  /**
   * A restore of /app on its own 3-node ensemble, held (SIGSTOP) half way through deleting while two
   * nodes stop, then let go; `whileDown` runs before it is awaited. Returns its exit, the tree as it
   * was before (read by another client) and the safety backup.
   */
  async function restoreLosingQuorum(
    ensemble: Ensemble,
    label: string,
    whileDown: () => Promise<unknown>,
    rollbackWait: string,
  ) {
    const hosts = ensemble.connectString
    const root = `/app-${label}`
    const session = await connect(hosts)
    const archive = join(dir, `${label}.tar.gz`)
    try {
      await seedTree(session, root, bigTree('archived'))
      expectExit(await dcos(['zk', 'backup', archive, '--zk', zkUri(hosts, root)]), 0)
      await session.setData(`${root}/z-10`, Buffer.from('changed since the backup'))
      await session.create(`${root}/new`, Buffer.from('new since the backup'), 0)
    } finally {
      await session.close()
    }

    const before = await readTreeIndependently(hosts, root)
    const safety = join(dir, `${label}-safety.tar.gz`)
    const restore = spawnDcos([
      'zk',
      'restore',
      archive,
      '--zk',
      zkUri(hosts, root),
      '--yes',
      '--safety-backup',
      safety,
      '--session-timeout',
      '4',
      '--rollback-wait',
      rollbackWait,
    ])
    await eventually('the safety backup', async () => (existsSync(safety) ? true : undefined), 60_000)
    const watcher = await connect(ensemble.nodeConnectString(3))
    try {
      await waitUntilGone(watcher, `${root}/z-1500`, {intervalMs: 5, timeoutMs: 60_000})
    } finally {
      await watcher.close()
    }

    // Held while the quorum goes, so that it cannot finish first.
    restore.child.kill('SIGSTOP')
    await Promise.all([ensemble.stopNode(1), ensemble.stopNode(2)])
    restore.child.kill('SIGCONT')
    await whileDown()
    const {code, stderr} = await restore.exited
    return {before, code, hosts, root, safety, stderr}
  }

  describe('on an ensemble of its own, whose quorum goes', () => {
    let ensemble: Ensemble

    before(async () => {
      ensemble = await Ensemble.start({nodes: 3})
    })

    after(() => ensemble?.stop())

    afterEach(() => ensemble.startStopped())

    it('quorum lost mid-restore: exit 1 naming the safety backup, which brings the subtree back once the quorum returns', async () => {
      const {before, code, hosts, root, safety, stderr} = await restoreLosingQuorum(
        ensemble,
        'quorum',
        async () => {},
        '3s',
      )
      expect(code).to.equal(1)
      expect(stderr.trim().split('\n'), stderr).to.have.length(1)
      expect(stderr).to.include('The rollback failed too')
      expect(stderr).to.include('waited 3s for it (--rollback-wait)')
      expect(stderr).to.include(`The tree as it was is saved at ${safety}`)

      await ensemble.startStopped()
      // The failed restore could not release its lock without a quorum: it goes once that session expires (4 s).
      await eventually(
        'the safety backup to be restored',
        async () => {
          const result = await dcos([
            'zk',
            'restore',
            safety,
            '--zk',
            zkUri(hosts, root),
            '--yes',
            '--no-safety-backup',
          ])
          if (result.code !== 0) expect(result.stderr).to.include('holds the cluster lock')
          return result.code === 0 ? true : undefined
        },
        30_000,
      )
      await expectSameTree(before, hosts, root)
    })

    it('quorum lost mid-restore and back soon: the restore rolls back by itself on a new session, the tree exactly as before', async () => {
      const comeBack = async () => {
        await new Promise((resolve) => setTimeout(resolve, 3000))
        await ensemble.startStopped()
      }

      const {before, code, hosts, root, stderr} = await restoreLosingQuorum(ensemble, 'quorum-back', comeBack, '2m')
      expect(code, stderr).to.equal(1)
      expect(stderr.trim().split('\n'), stderr).to.have.length(1)
      expect(stderr.trim(), stderr).to.match(
        /^Error: Restore failed: .*\. Rolled back: \/app-quorum-back is as it was before the restore \(from the safety backup .*, verified\)$/,
      )
      await ensemble.waitServing()
      await expectSameTree(before, hosts, root)
    })
  })
})
