import {expect} from 'chai'
import {readdir} from 'node:fs/promises'
import {join} from 'node:path'

import {zkConstants, type ZkSession} from '../../../src/zk/session.js'
import {Ensemble, type ZookeeperVersion} from '../../harness/ensemble.js'
import {runZookeeperTool} from '../../harness/zookeeper-releases.js'
import {readArchiveFile} from '../../helpers/archive.js'
import {dcos, expectExit, zkUri} from '../../helpers/cli.js'
import {removeDir, tempDir} from '../../helpers/fixtures.js'
import {createSequentialIndependently as nextSequentialName} from '../../helpers/oracle.js'
import {connect} from '../../helpers/tree.js'

const HOUR = 3_600_000
/** /q gets items 0-4 (1-3 deleted again) and a plain child created and deleted twice: its next sequential number is 7, with 2 children. */
const NEXT = 7
const RESTORED_CHILDREN = 2

/** The tree whose counters a restore must give back; containers and TTL znodes where the server has them. */
async function seed(session: ZkSession, root: string, extendedTypes: boolean): Promise<void> {
  await session.create(root, Buffer.alloc(0), 0)
  await session.create(`${root}/q`, Buffer.from('queue'), 0)
  for (let index = 0; index < 5; index++)
    await session.create(`${root}/q/item-`, Buffer.from(`${index}`), zkConstants.ZOO_PERSISTENT_SEQUENTIAL)
  for (const index of [1, 2, 3]) await session.delete(`${root}/q/item-${String(index).padStart(10, '0')}`)
  for (let round = 0; round < 2; round++) {
    await session.create(`${root}/q/plain`, Buffer.alloc(0), 0)
    await session.delete(`${root}/q/plain`)
  }

  if (!extendedTypes) return
  await session.create(`${root}/container`, Buffer.from('c'), zkConstants.ZOO_CONTAINER)
  await session.create(`${root}/container/child`, Buffer.from('in it'), 0)
  await session.create(`${root}/ttl`, Buffer.from('t'), zkConstants.ZOO_PERSISTENT_WITH_TTL, HOUR)
}

/** ZooKeeper's own SnapshotFormatter on the newest snapshot: each znode's stored cversion and raw ephemeralOwner. */
async function snapshotStats(
  version: ZookeeperVersion,
  dataDir: string,
): Promise<Map<string, {cversion: number; ephemeralOwner: bigint}>> {
  const dir = join(dataDir, 'version-2')
  const snapshots = (await readdir(dir))
    .filter((name) => name.startsWith('snapshot.'))
    .sort((a, b) => Number(BigInt(`0x${a.split('.')[1]}`) - BigInt(`0x${b.split('.')[1]}`)))
  const stdout = await runZookeeperTool(
    'org.apache.zookeeper.server.SnapshotFormatter',
    [join(dir, snapshots.at(-1)!)],
    version,
  )
  const stats = new Map<string, {cversion: number; ephemeralOwner: bigint}>()
  let path: string | undefined
  for (const line of stdout.split('\n')) {
    if (line.startsWith('/')) path = line.trim()
    const field = /^ {2}(cversion|ephemeralOwner) = (\S+)/.exec(line)
    if (!path || !field) continue
    const stat = stats.get(path) ?? {cversion: Number.NaN, ephemeralOwner: -1n}
    if (field[1] === 'cversion') stat.cversion = Number(field[2])
    else stat.ephemeralOwner = BigInt(field[2])
    stats.set(path, stat)
  }

  return stats
}

for (const version of ['3.9', '3.8', '3.4'] as const) {
  describe(`restore gives parents back their next sequential number (ZooKeeper ${version})`, function () {
    this.timeout(240_000)
    const extendedTypes = version !== '3.4'
    let ensemble: Ensemble
    let hosts: string
    let dir: string
    let online: string
    let dataDirArchive: string
    const root = '/counters'

    before(async () => {
      ensemble = await Ensemble.start({nodes: 1, version})
      hosts = ensemble.connectString
      dir = await tempDir(`counters-${version}`)
      online = join(dir, 'online.tar.gz')
      dataDirArchive = join(dir, 'datadir.tar.gz')
      const session = await connect(hosts)
      try {
        await seed(session, root, extendedTypes)
      } finally {
        await session.close()
      }

      expectExit(await dcos(['zk', 'backup', online, '--zk', zkUri(hosts, root)]), 0)
      await ensemble.stopNode(1)
      const [node] = ensemble.nodes
      expectExit(
        await dcos(['zk', 'backup', dataDirArchive, '--data-dir', node.dataDir, '--log-dir', node.dataLogDir]),
        0,
      )
      await ensemble.startNode(1)
      await ensemble.waitServing()
    })

    after(async () => {
      await ensemble?.stop()
      await removeDir(dir)
    })

    it('the online archive records the counter (the create count, not the children left)', async () => {
      const {records} = await readArchiveFile(online)
      const queue = records.find((record) => record.path === `${root}/q`)!
      expect(queue.nextSequence).to.equal(NEXT)
      expect(queue.stat.numChildren).to.equal(RESTORED_CHILDREN)
    })

    const paths = version === '3.4' ? ['auto'] : ['on', 'off']
    for (const batch of paths) {
      it(`online archive, --batch ${batch}: the dry run counts the pairs; after the restore the next sequential create gets the archived number`, async () => {
        const target = `/restored-online-${batch}`
        const plan = expectExit(
          await dcos(['zk', 'restore', online, '--zk', zkUri(hosts, target), '--dry-run']),
          0,
        ).stdout
        expect(plan).to.match(
          new RegExp(
            `counters\\s+1\\s+parents' sequence counters raised with ${NEXT - RESTORED_CHILDREN} create-and-delete pairs`,
          ),
        )
        const result = JSON.parse(
          expectExit(
            await dcos(['zk', 'restore', online, '--zk', zkUri(hosts, target), '--yes', '--batch', batch, '--json']),
            0,
          ).stdout,
        ) as {sequencePairs: number; verified: boolean}
        expect(result).to.include({sequencePairs: NEXT - RESTORED_CHILDREN, verified: true})
        expect(await nextSequentialName(hosts, `${target}/q`)).to.equal(
          `${target}/q/next-${String(NEXT).padStart(10, '0')}`,
        )
      })
    }

    it('data-directory archive: the same, from the stored cversion', async () => {
      const target = '/restored-datadir'
      expectExit(
        await dcos(['zk', 'restore', dataDirArchive, '--zk', zkUri(hosts, target), '--from', root, '--yes']),
        0,
      )
      expect(await nextSequentialName(hosts, `${target}/q`)).to.equal(
        `${target}/q/next-${String(NEXT).padStart(10, '0')}`,
      )
    })

    it('--sequence-counters off leaves the counter at the children restored; a restore onto that same tree then only raises it', async () => {
      const target = '/restored-off'
      expectExit(
        await dcos(['zk', 'restore', online, '--zk', zkUri(hosts, target), '--yes', '--sequence-counters', 'off']),
        0,
      )
      const again = JSON.parse(
        expectExit(await dcos(['zk', 'restore', online, '--zk', zkUri(hosts, target), '--yes', '--json']), 0).stdout,
      ) as Record<string, unknown>
      expect(again).to.include({created: 0, deleted: 0, sequencePairs: NEXT - RESTORED_CHILDREN, verified: true})
      expect(await nextSequentialName(hosts, `${target}/q`)).to.equal(
        `${target}/q/next-${String(NEXT).padStart(10, '0')}`,
      )
    })

    it("a parent kept in place (an excluded child) whose counter is past the archive's keeps it, with a warning", async () => {
      const target = '/restored-ahead'
      expectExit(await dcos(['zk', 'restore', online, '--zk', zkUri(hosts, target), '--yes']), 0)
      const session = await connect(hosts)
      try {
        for (let round = 0; round < 10; round++) {
          await session.create(`${target}/q/bump`, Buffer.alloc(0), 0)
          await session.delete(`${target}/q/bump`)
        }
      } finally {
        await session.close()
      }

      const result = expectExit(
        await dcos([
          'zk',
          'restore',
          online,
          '--zk',
          zkUri(hosts, target),
          '--yes',
          '--exclude',
          `${root}/q/item-0000000000`,
        ]),
        0,
      )
      // oclif wraps warnings to the terminal's width, continuing each line with "›".
      expect(result.stderr.replaceAll(/\s*›\s*/g, ' ').replaceAll(/\s+/g, ' ')).to.match(
        new RegExp(
          `1 parents kept in place have a sequence counter already past the archive's; it can't be lowered and stays \\(${target}/q\\)`,
        ),
      )
      expect(await nextSequentialName(hosts, `${target}/q`)).to.equal(
        `${target}/q/next-${String(NEXT + 10).padStart(10, '0')}`,
      )
    })

    it('more pairs than --max-sequence-pairs: refused with nothing changed', async () => {
      const target = '/restored-refused'
      const result = expectExit(
        await dcos(['zk', 'restore', online, '--zk', zkUri(hosts, target), '--yes', '--max-sequence-pairs', '4']),
        1,
      )
      expect(result.stderr).to.include('--max-sequence-pairs 4')
      const session = await connect(hosts)
      try {
        expect(await session.exists(target)).to.equal(undefined)
      } finally {
        await session.close()
      }
    })

    if (version === '3.9') {
      // Clients are shown containers and TTL znodes as persistent: only a data directory's archive knows their types.
      it("types and counters survive the round trip from a data directory, as ZooKeeper's SnapshotFormatter sees them on the restored server", async () => {
        const target = '/restored-snapshot'
        expectExit(
          await dcos(['zk', 'restore', dataDirArchive, '--zk', zkUri(hosts, target), '--from', root, '--yes']),
          0,
        )
        // A restart writes a snapshot of the whole tree.
        await ensemble.stopNode(1)
        await ensemble.startNode(1)
        await ensemble.waitServing()
        const stats = await snapshotStats(version, ensemble.nodes[0].dataDir)
        expect(stats.get(`${root}/q`)?.cversion).to.equal(NEXT)
        expect(stats.get(`${target}/q`)?.cversion).to.equal(NEXT)
        expect(stats.get(`${root}/container`)?.ephemeralOwner).to.equal(0x80_00_00_00_00_00_00_00n)
        expect(stats.get(`${target}/container`)?.ephemeralOwner).to.equal(0x80_00_00_00_00_00_00_00n)
        expect(stats.get(`${target}/ttl`)?.ephemeralOwner).to.equal(0xff_00_00_00_00_00_00_00n | BigInt(HOUR))
        expect(stats.get(`${target}/q`)?.ephemeralOwner).to.equal(0n)
      })
    }
  })
}
