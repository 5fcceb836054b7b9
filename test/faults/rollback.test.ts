/**
 * The quorum lost for a moment in the middle of a restore: the restore fails, and its rollback,
 * on a new session once the ensemble answers again, puts the tree back as it was.
 */
import {expect} from 'chai'
import {existsSync} from 'node:fs'
import {join} from 'node:path'

import {Ensemble} from '../harness/ensemble.js'
import {dcos, expectExit, spawnDcos, zkUri} from '../helpers/cli.js'
import {removeDir, tempDir} from '../helpers/fixtures.js'
import {oracleDiff, readTreeIndependently} from '../helpers/oracle.js'
import {connect, seedTree, waitUntilGone} from '../helpers/tree.js'
import {eventually} from '../helpers/wait.js'

const ZNODES = 3000

describe('faults: a restore that loses its quorum for a moment rolls back', function () {
  this.timeout(180_000)
  let dir: string

  before(async () => {
    dir = await tempDir('rollback-faults')
  })

  after(() => removeDir(dir))

  it('the quorum gone mid-restore and back: exit 1, rolled back, the tree exactly as before (read by another client)', async () => {
    const ensemble = await Ensemble.start({nodes: 3})
    try {
      const hosts = ensemble.connectString
      const root = '/app'
      const session = await connect(hosts)
      try {
        await seedTree(session, root, [{data: 'archived', path: '/'}, ...Array.from({length: ZNODES}, (_, index) => ({data: `archived ${index} `.repeat(8), path: `/z-${index}`}))])
      } finally {
        session.close()
      }

      const archive = join(dir, 'quorum.tar.gz')
      expectExit(await dcos(['zk', 'backup', archive, '--zk', zkUri(hosts, root)]), 0)
      await (async () => {
        const writer = await connect(hosts)
        try {
          await writer.setData(`${root}/z-10`, Buffer.from('changed since the backup'))
          await writer.create(`${root}/new`, Buffer.from('new since the backup'), 0)
        } finally {
          writer.close()
        }
      })()
      const before = await readTreeIndependently(hosts, root)

      const safety = join(dir, 'quorum-safety.tar.gz')
      const restore = spawnDcos(['zk', 'restore', archive, '--zk', zkUri(hosts, root), '--yes', '--safety-backup', safety, '--session-timeout', '4'])
      await eventually('the safety backup', async () => (existsSync(safety) ? true : undefined), 60_000)
      const watcher = await connect(ensemble.nodeConnectString(3))
      try {
        await waitUntilGone(watcher, `${root}/z-1500`, {intervalMs: 5, timeoutMs: 60_000})
      } finally {
        watcher.close()
      }

      // Held while the quorum goes, so that it cannot finish first; the quorum comes back soon after.
      restore.child.kill('SIGSTOP')
      await Promise.all([ensemble.stopNode(1), ensemble.stopNode(2)])
      restore.child.kill('SIGCONT')
      await new Promise((resolve) => setTimeout(resolve, 3000))
      await Promise.all([ensemble.startNode(1), ensemble.startNode(2)])
      const {code, stderr} = await restore.exited
      expect(code, stderr).to.equal(1)
      expect(stderr.trim().split('\n'), stderr).to.have.length(1)
      expect(stderr.trim(), stderr).to.match(/^Error: Restore failed: .*\. Rolled back: \/app is as it was before the restore \(from the safety backup .*, verified\)$/)
      await ensemble.waitServing()
      expect(oracleDiff(before, await readTreeIndependently(hosts, root))).to.deep.equal([])
    } finally {
      await ensemble.stop()
    }
  })
})
