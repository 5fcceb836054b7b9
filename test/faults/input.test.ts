/**
 * Bad input and unreachable peers: refused with one line and the documented exit code, within a
 * bounded time, leaving every byte where it was. (Malformed locations, archives, labels, ids and
 * znode paths are refused in the tests of each command; these are the ones about reaching things.)
 */
import {expect} from 'chai'
import {readdir} from 'node:fs/promises'
import {join} from 'node:path'

import type {ZkSession} from '../../src/zk/session.js'

import {DEFAULT_LOCK_PATH} from '../../src/zk/lock.js'
import {Ensemble} from '../harness/ensemble.js'
import {sharedEnsemble} from '../harness/hooks.js'
import {type S3Server, startS3} from '../harness/s3.js'
import {dcos, expectExit, expectUsageError, spawnDcos, zkUri} from '../helpers/cli.js'
import {removeDir, tempDir} from '../helpers/fixtures.js'
import {closedPort, silentServer} from '../helpers/net.js'
import {expectSameTree, type OracleTree, readTreeIndependently} from '../helpers/oracle.js'
import {connect, seedTree, uniquePath} from '../helpers/tree.js'
import {eventually} from '../helpers/wait.js'

describe('faults: unreachable peers and bad input', function () {
  this.timeout(120_000)
  let dir: string
  let hosts: string
  let session: ZkSession
  let s3: S3Server
  let root: string
  let archive: string
  let live: OracleTree

  before(async () => {
    ;[dir, hosts, s3] = await Promise.all([
      tempDir('faults-input'),
      sharedEnsemble().then((ensemble) => ensemble.connectString),
      startS3(),
    ])
    session = await connect(hosts)
    root = uniquePath('input')
    await seedTree(session, root, [
      {data: 'root', path: '/'},
      ...Array.from({length: 50}, (_, index) => ({data: `v${index}`, path: `/z-${index}`})),
    ])
    archive = join(dir, 'good.tar.gz')
    expectExit(await dcos(['zk', 'backup', archive, '--zk', zkUri(hosts, root)]), 0)
    await session.setData(`${root}/z-1`, Buffer.from('changed since the backup'))
    live = await readTreeIndependently(hosts, root)
  })

  after(async () => {
    await session?.close()
    await Promise.all([s3?.stop(), removeDir(dir)])
  })

  /** Runs `dcos args`, returning its result and how long it took in seconds. */
  async function timed(args: string[]) {
    const started = Date.now()
    const result = await dcos(args)
    return {...result, seconds: (Date.now() - started) / 1000}
  }

  const unreachable: Array<[string, () => Promise<{close?: () => Promise<void>; host: string}>, number, RegExp]> = [
    [
      'a host name that does not resolve',
      async () => ({host: 'zk-1.no-such-cluster.invalid:2181'}),
      2,
      /^Error: Cannot resolve the ZooKeeper host zk-1\.no-such-cluster\.invalid: check the names in --zk$/,
    ],
    [
      'a port nobody listens on',
      async () => ({host: `127.0.0.1:${await closedPort()}`}),
      1,
      /^Error: Cannot connect to ZooKeeper at 127\.0\.0\.1:\d+ within 1s/,
    ],
    [
      'a server that accepts and never answers',
      async () => {
        const server = await silentServer()
        return {close: server.close, host: `127.0.0.1:${server.port}`}
      },
      1,
      /^Error: Cannot connect to ZooKeeper at 127\.0\.0\.1:\d+ within 1s/,
    ],
  ]
  for (const [name, peer, code, message] of unreachable) {
    it(`${name}: backup and restore give up within the session timeout, writing and changing nothing`, async () => {
      const {close, host} = await peer()
      try {
        const target = join(dir, 'unreachable.tar.gz')
        // The shortest session timeout: the wait for a peer that never answers is the whole of these cases.
        const backup = await timed(['zk', 'backup', target, '--zk', `zk://${host}${root}`, '--session-timeout', '1'])
        const restore = await timed([
          'zk',
          'restore',
          archive,
          '--zk',
          `zk://${host}${root}`,
          '--session-timeout',
          '1',
          '--yes',
          '--safety-backup',
          join(dir, 'unreachable-safety.tar.gz'),
        ])
        for (const result of [backup, restore]) {
          if (code === 2) expectUsageError(result, message)
          else expect(expectExit(result, code).stderr.trimEnd()).to.match(message)
          expect(result.seconds).to.be.below(15)
        }

        expect((await readdir(dir)).sort()).to.deep.equal(['good.tar.gz'])
      } finally {
        await close?.()
      }
    })
  }

  it('a bucket that does not exist: exit 2 naming it, for a backup and for a restore', async () => {
    const location = s3.uri('zk.tar.gz').replace(`s3://${s3.bucket}/`, 's3://no-such-bucket/')
    const backup = expectUsageError(
      await dcos(['zk', 'backup', location, '--zk', zkUri(hosts, root)]),
      '"no-such-bucket"',
    )
    const restore = expectUsageError(
      await dcos(['zk', 'restore', location, '--zk', zkUri(hosts, root), '--yes']),
      'no-such-bucket',
    )
    for (const line of [backup, restore]) expect(line).to.include('access_key=***')
    await expectSameTree(live, hosts, root)
  })

  it('a server with a small jute.maxbuffer: a znode larger than it is refused before anything changes; smaller ones are restored in smaller batches', async () => {
    const small = await Ensemble.start({jvmFlags: ['-Djute.maxbuffer=32768'], nodes: 1})
    const target = await connect(small.connectString)
    try {
      const bigRoot = uniquePath('too-big')
      await seedTree(session, bigRoot, [
        {data: 'root', path: '/'},
        {data: 'small', path: '/small'},
        {data: Buffer.alloc(200_000, 7), path: '/big'},
      ])
      const bigArchive = join(dir, 'too-big.tar.gz')
      expectExit(await dcos(['zk', 'backup', bigArchive, '--zk', zkUri(hosts, bigRoot)]), 0)
      await seedTree(target, '/app', [
        {data: 'live root', path: '/'},
        {data: 'live', path: '/small'},
      ])
      const before = await readTreeIndependently(small.connectString, '/app')

      const result = await dcos([
        'zk',
        'restore',
        bigArchive,
        '--zk',
        zkUri(small.connectString, '/app'),
        '--yes',
        '--no-safety-backup',
      ])
      expect(expectExit(result, 1).stderr.trim()).to.match(
        /^Error: Cannot restore: \/app\/big holds 200000 bytes, more than the ZooKeeper servers accept in one request \(their jute\.maxbuffer\); nothing was changed\./,
      )
      await expectSameTree(before, small.connectString, '/app')

      // Many znodes that fit one by one but not in our batches (sized for the default limit): the batches are split.
      const manyRoot = uniquePath('many')
      await seedTree(session, manyRoot, [
        {path: '/'},
        ...Array.from({length: 500}, (_, index) => ({data: Buffer.alloc(1000, index % 251), path: `/z-${index}`})),
      ])
      const manyArchive = join(dir, 'many.tar.gz')
      expectExit(await dcos(['zk', 'backup', manyArchive, '--zk', zkUri(hosts, manyRoot)]), 0)
      const restored = JSON.parse(
        expectExit(await dcos(['zk', 'restore', manyArchive, '--zk', zkUri(small.connectString, '/many'), '--json']), 0)
          .stdout,
      ) as {verified: boolean; writePath: string}
      expect(restored).to.include({verified: true, writePath: 'multi'})
      await expectSameTree(await readTreeIndependently(hosts, manyRoot), small.connectString, '/many')
    } finally {
      await target.close()
      await small.stop()
    }
  })

  it('two restores of one path started at once: one runs, the other is refused on the cluster lock, nothing changed by it', async () => {
    const args = (safety: string) => [
      'zk',
      'restore',
      archive,
      '--zk',
      zkUri(hosts, root),
      '--yes',
      '--safety-backup',
      join(dir, safety),
    ]
    const restores = [spawnDcos(args('first-safety.tar.gz')), spawnDcos(args('second-safety.tar.gz'))]
    // Whichever takes the lock is held there (SIGSTOP), so the other surely finds it taken.
    const holderPid = await eventually(
      'a restore to take the lock',
      async () => {
        const holder = await session.getData(DEFAULT_LOCK_PATH).catch(() => undefined)
        return holder && Number((JSON.parse(holder.data.toString()) as {instance: string}).instance.split(':').at(-1))
      },
      30_000,
      5,
    )
    const holder = restores.find((restore) => restore.child.pid === holderPid)!
    const other = restores.find((restore) => restore !== holder)!
    holder.child.kill('SIGSTOP')
    const refused = await other.exited
    holder.child.kill('SIGCONT')
    const held = await holder.exited

    expect(held.code, held.stderr).to.equal(0)
    expect(refused.code).to.equal(1)
    expect(refused.stderr.trim()).to.match(
      /^Error: Refusing to restore: a restore .+ holds the cluster lock \/dcos-backup\/lock; nothing was changed/,
    )
    // The refused one wrote no safety backup, and the tree is the archive's.
    expect((await readdir(dir)).filter((name) => name.endsWith('-safety.tar.gz'))).to.have.length(1)
    await session.setData(`${root}/z-1`, Buffer.from('changed since the backup'))
    await expectSameTree(live, hosts, root)
  })
})
