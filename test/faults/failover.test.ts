/**
 * The ZooKeeper node of the session doing a backup's or restore's work is stopped half way: the
 * operation goes on through another node within the session timeout, and its result verifies.
 * Batched, that is the session sending the multi-reads or multis, found through the servers' `cons`.
 */
import {expect} from 'chai'
import {randomBytes} from 'node:crypto'
import {writeFile} from 'node:fs/promises'
import {join} from 'node:path'
import {setTimeout as delay} from 'node:timers/promises'

import {Ensemble, fourLetterWord} from '../harness/ensemble.js'
import {dcos, expectExit, spawnDcos, zkUri} from '../helpers/cli.js'
import {removeDir, tempDir} from '../helpers/fixtures.js'
import {connectionsOf} from '../helpers/net.js'
import {expectArchiveHolds, expectSameTree, type OracleTree, readTreeIndependently} from '../helpers/oracle.js'
import {connect, seedTree, waitUntilGone} from '../helpers/tree.js'
import {eventually} from '../helpers/wait.js'

const ZNODES = 5000
const ROOT_PATH = '/failover'
/**
 * The sessions of the backups and restores a node stops under: the process is held (SIGSTOP) while
 * its node shuts down and the others elect a leader, which took past the harness's 10 s maximum
 * (20 ticks of 500 ms) once in a loaded clean-clone run, and the restore then rightly expired and
 * rolled back. ZooKeeper's own default maximum is 40 s.
 */
const SESSION_TIMEOUT_S = 30

describe('faults: the connected ZooKeeper node stopped mid-operation', function () {
  this.timeout(180_000)
  let ensemble: Ensemble
  let dir: string
  let archived: OracleTree
  /** The tree as archived, by a backup no fault touched: what every restore brings back. */
  let archive: string

  before(async () => {
    ;[ensemble, dir] = await Promise.all([
      Ensemble.start({config: {maxSessionTimeout: String(SESSION_TIMEOUT_S * 1000)}, nodes: 3}),
      tempDir('failover'),
    ])
    const session = await connect(ensemble.connectString)
    try {
      // Incompressible data, so that the archive outgrows every buffer between the walk and a reader.
      await seedTree(session, ROOT_PATH, [
        {path: '/'},
        ...Array.from({length: ZNODES}, (_, index) => ({data: randomBytes(300), path: `/z-${index}`})),
      ])
      archived = await readTreeIndependently(ensemble.connectString, ROOT_PATH)
    } finally {
      await session.close()
    }

    archive = join(dir, 'failover.tar.gz')
    expectExit(await dcos(['zk', 'backup', archive, '--zk', zkUri(ensemble.connectString, ROOT_PATH)]), 0)
    await expectArchiveHolds(archive, archived)
  })

  after(async () => {
    await Promise.all([ensemble?.stop(), removeDir(dir)])
  })

  afterEach(async () => {
    await ensemble.startStopped()
  })

  /**
   * The id of the node that the session of process `pid` whose last request was `operation` (as the
   * server's `cons` names it: MLTR multi-read, MULT multi) is connected to; with no `operation`, the
   * node of any of its sessions.
   */
  function workingNode(pid: number, operation?: string): Promise<number> {
    return eventually(
      `the CLI's ${operation ?? ''} session`,
      async () => {
        const ports = (await connectionsOf(pid)).map((connection) => connection.localPort)
        for (const node of ensemble.nodes.filter((one) => one.running)) {
          const connections = (await fourLetterWord(node.clientPort, 'cons').catch(() => '')).split('\n')
          const working = connections.some(
            (line) =>
              ports.some((port) => line.includes(`:${port}[`)) && (!operation || line.includes(`lop=${operation},`)),
          )
          if (working) return node.id
        }

        return undefined
      },
      30_000,
      20,
    )
  }

  // Batched, the CLI holds a session on every node (they share the ACL reads), but one session, on
  // one node, sends the multi-reads and multis: that node is stopped. With single requests the CLI
  // has one session, doing everything.
  // A restore deletes through the native session, one request each, and creates through the batching
  // one, in multis: batched, each phase has its own session to lose.
  for (const {batch, creates, deletes, reads} of [
    {batch: 'on', creates: 'MULT', deletes: 'DELE', reads: 'MLTR'},
    {batch: 'off'},
  ]) {
    describe(`--batch ${batch}`, () => {
      it('a backup goes on through another node and its archive holds the whole tree', async () => {
        // Writing to stdout that nobody reads yet holds the backup half way, its session open.
        const backup = spawnDcos(
          [
            'zk',
            'backup',
            '-',
            '--zk',
            zkUri(ensemble.connectString, ROOT_PATH),
            '--batch',
            batch,
            '--session-timeout',
            String(SESSION_TIMEOUT_S),
          ],
          {ownStdout: true},
        )
        const node = await workingNode(backup.child.pid!, reads)
        await delay(1000)
        expect(backup.child.exitCode, 'the backup finished before the node was stopped').to.equal(null)

        await ensemble.stopNode(node)
        const chunks: Buffer[] = []
        backup.child.stdout!.on('data', (chunk: Buffer) => chunks.push(chunk))
        const {code, stderr} = await backup.exited
        expect(code, stderr).to.equal(0)

        const file = join(dir, `failover-backup-${batch}.tar.gz`)
        await writeFile(file, Buffer.concat(chunks))
        expectExit(await dcos(['zk', 'inspect', file]), 0)
        await expectArchiveHolds(file, archived)
      })

      for (const phase of ['delete', 'create'] as const) {
        it(`a restore goes on through another node (stopped while it ${phase}s) and the tree matches the archive`, async () => {
          const session = await connect(ensemble.connectString)
          try {
            await Promise.all(
              Array.from({length: ZNODES}, (_, index) =>
                session.setData(`${ROOT_PATH}/z-${index}`, Buffer.from('changed')),
              ),
            )
          } finally {
            await session.close()
          }

          const safety = join(dir, `failover-safety-${batch}-${phase}.tar.gz`)
          const watcher = await connect(ensemble.connectString)
          let restore: ReturnType<typeof spawnDcos>
          try {
            const rootCreatedAt = (await watcher.exists(ROOT_PATH))!.czxid
            restore = spawnDcos([
              'zk',
              'restore',
              archive,
              '--zk',
              zkUri(ensemble.connectString, ROOT_PATH),
              '--yes',
              '--safety-backup',
              safety,
              '--batch',
              batch,
              '--session-timeout',
              String(SESSION_TIMEOUT_S),
            ])
            // Held (SIGSTOP) half way through the phase, its requests in flight, while its node goes.
            if (phase === 'delete')
              await waitUntilGone(watcher, `${ROOT_PATH}/z-${ZNODES / 2}`, {intervalMs: 5, timeoutMs: 60_000})
            else {
              // The root goes last when deleting and comes back first when creating, sooner than any
              // poll could see it gone: a new czxid is what says it was made again.
              await eventually(
                'the restore to be creating',
                async () => {
                  const root = await watcher.exists(ROOT_PATH)
                  return (root && root.czxid !== rootCreatedAt && root.numChildren >= ZNODES / 5) || undefined
                },
                60_000,
                5,
              )
            }
          } finally {
            await watcher.close()
          }

          restore.child.kill('SIGSTOP')
          try {
            expect(restore.child.exitCode, 'the restore finished before its node was stopped').to.equal(null)
            await ensemble.stopNode(await workingNode(restore.child.pid!, phase === 'delete' ? deletes : creates))
          } finally {
            restore.child.kill('SIGCONT')
          }

          const {code, stderr} = await restore.exited
          expect(code, stderr).to.equal(0)
          await expectSameTree(archived, ensemble.connectString, ROOT_PATH)
        })
      }
    })
  }
})
