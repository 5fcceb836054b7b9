/**
 * A data-directory archive of a real ZooKeeper node, read without Java: inspected, converted to the
 * online format, and restored online into a running ensemble — whole or in part.
 */
import {expect} from 'chai'
import {execFileSync} from 'node:child_process'
import {copyFile, mkdir} from 'node:fs/promises'
import {join} from 'node:path'

import type {ZnodeRecord} from '../../../src/archive/format.js'

import {walkTree} from '../../../src/engine/znodes/read-tree.js'
import {zkConstants, ZkSession} from '../../../src/zk/session.js'
import {Ensemble} from '../../harness/ensemble.js'
import {sharedEnsemble} from '../../harness/hooks.js'
import {readArchiveFile} from '../../helpers/archive.js'
import {dcos, expectExit, expectUsageError} from '../../helpers/cli.js'
import {removeDir, tempDir} from '../../helpers/fixtures.js'
import {secret as registerSecret} from '../../helpers/secrets.js'
import {digestId, READ_ONLY, snapshotTree, uniquePath, ZOO_PERM_ALL} from '../../helpers/tree.js'

const APPS = 60

/** What the online walk sees of each znode, keyed by path: everything but the ephemerals. */
async function liveRecords(
  session: ZkSession,
  root: string,
): Promise<Record<string, {data: string; record: ZnodeRecord}>> {
  const records: Record<string, {data: string; record: ZnodeRecord}> = {}
  await walkTree({
    onZnode({data, record}) {
      records[record.path] = {data: data.toString('base64'), record}
    },
    root,
    session,
  })
  return records
}

function withoutSha256(record: ZnodeRecord): ZnodeRecord {
  const {sha256: _, ...rest} = record as ZnodeRecord & {sha256?: string}
  return rest
}

describe('data-directory archives online: zk inspect --tree, zk convert, zk restore --from', function () {
  this.timeout(120_000)
  let node: Ensemble
  let dir: string
  let archive: string
  let live: Awaited<ReturnType<typeof liveRecords>>
  const secret = {password: registerSecret('dd-secret'), user: 'ops'}

  before(async () => {
    // A small snapCount: snapshots are taken mid-way, and logs follow them.
    node = await Ensemble.start({config: {snapCount: '40'}, dataLogDirs: true, nodes: 1})
    dir = await tempDir('convert')
    archive = join(dir, 'datadir.tar.gz')
    const session = await ZkSession.connect({auth: secret, hosts: [node.nodeConnectString(1)]})
    const ephemeralOwner = await ZkSession.connect({hosts: [node.nodeConnectString(1)]})
    try {
      await session.create('/app', Buffer.from('root'), 0)
      await session.create('/app/state', Buffer.alloc(0), 0)
      for (let index = 0; index < APPS; index++) {
        await session.create(`/app/state/app-${index}`, Buffer.from(`{"id": ${index}}`), 0)
        if (index % 3 === 0) await session.setData(`/app/state/app-${index}`, Buffer.from(`{"id": ${index}, "v": 2}`))
        if (index % 7 === 0) await session.delete(`/app/state/app-${index}`)
      }

      await session.create('/app/binary', Buffer.from([0, 1, 2, 255, 254]), 0)
      await session.create('/app/seq-', Buffer.from('s'), zkConstants.ZOO_PERSISTENT_SEQUENTIAL)
      await session.create('/app/container', Buffer.alloc(0), zkConstants.ZOO_CONTAINER)
      await session.create('/app/container/kept', Buffer.from('c'), 0)
      await session.create('/app/ttl', Buffer.from('t'), zkConstants.ZOO_PERSISTENT_WITH_TTL, 3_600_000)
      await session.create('/app/secret', Buffer.from('hidden'), 0)
      await session.setAcl('/app/secret', [
        {id: digestId(secret.user, secret.password), perms: ZOO_PERM_ALL, scheme: 'digest'},
      ])
      await session.create('/app/read-only', Buffer.from('ro'), 0)
      await session.setAcl('/app/read-only', READ_ONLY)
      await ephemeralOwner.create('/app/ephemeral', Buffer.from('e'), zkConstants.ZOO_EPHEMERAL)
      await session.create('/other', Buffer.from('other'), 0)
      live = await liveRecords(session, '/app')
    } finally {
      await session.close()
    }

    await node.stopNode(1)
    await ephemeralOwner.close()
    const [nodeState] = node.nodes
    expectExit(
      await dcos(['zk', 'backup', archive, '--data-dir', nodeState.dataDir, '--log-dir', nodeState.dataLogDir]),
      0,
    )
  })

  after(async () => {
    await node?.stop()
    await removeDir(dir)
  })

  it('inspect replays the state and lists the znodes of a subtree with --tree <path>', async () => {
    const {stdout} = expectExit(await dcos(['zk', 'inspect', archive, '--tree', '/app/state']), 0)
    expect(stdout).to.match(/^State\s+zxid 0x[0-9a-f]+: snapshot\.[0-9a-f]+ \+ \d+ logs, \d+ transactions replayed$/m)
    expect(stdout).to.include('/app/state/app-1  persistent')
    expect(stdout).to.not.include('/app/state/app-7  ')
    expect(stdout).to.not.include('/app/binary')
    const json = JSON.parse(expectExit(await dcos(['zk', 'inspect', archive, '--tree', '--json']), 0).stdout) as {
      state: {ephemerals: number; znodes: number}
      tree: Array<{path: string; type: string}>
    }
    expect(json.state.ephemerals).to.equal(1)
    expect(json.tree.find((entry) => entry.path === '/app/container')?.type).to.equal('container')
    expect(json.tree.find((entry) => entry.path === '/app/ttl')?.type).to.equal('ttl(3600000ms)')
  })

  it('inspect reads a data directory itself, with --log-dir', async () => {
    const [nodeState] = node.nodes
    const json = JSON.parse(
      expectExit(await dcos(['zk', 'inspect', nodeState.dataDir, '--log-dir', nodeState.dataLogDir, '--json']), 0)
        .stdout,
    ) as {state: {zxid: string}}
    expect(json.state.zxid).to.match(/^0x[0-9a-f]+$/)
  })

  it('convert writes an online archive equal, znode by znode, to what a client read before the node stopped', async () => {
    const converted = join(dir, 'converted.tar.gz')
    const result = expectExit(await dcos(['zk', 'convert', archive, converted, '--from', '/app']), 0)
    expect(result.stdout).to.match(/^Converted .* znodes under \/app/m)
    const {header, records} = await readArchiveFile(converted)
    expect(header.source).to.include({convertedFrom: archive, root: '/app'})
    // The reader adds each record's own SHA-256, which the walk does not compute.
    const fromDisk = Object.fromEntries(records.map((record) => [record.path, withoutSha256(record)]))
    expect(Object.keys(fromDisk).sort()).to.deep.equal(Object.keys(live).sort())
    for (const [path, {record}] of Object.entries(live)) {
      const disk = fromDisk[path]
      // The server hides container and TTL types from clients; the files know them.
      const expectedType = path === '/app/container' ? 'container' : path === '/app/ttl' ? 'ttl' : record.type
      expect({...disk, ttl: undefined, type: undefined}, path).to.deep.equal({
        ...record,
        ttl: undefined,
        type: undefined,
      })
      expect(disk.type, path).to.equal(expectedType)
    }

    expectUsageError(await dcos(['zk', 'convert', archive, converted]), 'already exists')
    expectUsageError(
      await dcos(['zk', 'convert', archive, join(dir, 'x.tar.gz'), '--from', '/missing']),
      'holds no znode at /missing',
    )
    expectUsageError(await dcos(['zk', 'convert', converted, join(dir, 'y.tar.gz')]), 'is not a data-directory archive')
  })

  it('restores a subtree of the archive online into a running ensemble, verified, with --dry-run first', async () => {
    const hosts = (await sharedEnsemble()).connectString
    const target = uniquePath('from-datadir')
    const plan = expectExit(
      await dcos([
        'zk',
        'restore',
        archive,
        '--zk',
        `zk://${hosts}${target}`,
        '--from',
        '/app',
        '--dry-run',
        '--zk-auth',
        `${secret.user}:${secret.password}`,
      ]),
      0,
    )
    expect(plan.stdout).to.include('Dry run: nothing was changed.')

    const restored = expectExit(
      await dcos([
        'zk',
        'restore',
        archive,
        '--zk',
        `zk://${hosts}${target}`,
        '--from',
        '/app',
        '--yes',
        '--no-safety-backup',
        '--zk-auth',
        `${secret.user}:${secret.password}`,
      ]),
      0,
    )
    expect(restored.stdout).to.match(/verified by re-reading/)
    const session = await ZkSession.connect({auth: secret, hosts: [hosts]})
    try {
      const tree = await snapshotTree(session, target)
      const expected = Object.fromEntries(
        Object.entries(live).map(([path, {data, record}]) => [
          path.slice('/app'.length) || '/',
          {acl: record.acl, data, ttl: record.ttl ?? null, type: record.type},
        ]),
      )
      // Restored from the files, containers and TTL znodes are created as such (the server then shows them as persistent).
      expect(tree).to.deep.equal(
        Object.fromEntries(Object.entries(expected).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))),
      )
    } finally {
      await session.close()
    }
  })

  describe('archives made by dcos-zk (Python tarfile), GNU tar, and plain (uncompressed) tar', () => {
    const kinds: Record<string, string> = {}

    before(async () => {
      // The node's files as dcos-zk's temp dir holds them: zookeeper/snapshot/... and zookeeper/transactions/...
      const tree = join(dir, 'dcos-zk-tree')
      await mkdir(tree)
      execFileSync('tar', ['xzf', archive, '-C', tree, '--exclude', './dcos-zk-backup.json'])
      // dcos-zk: tarfile.open(..., 'w:gz') and tar.add(<tmp>/zookeeper, arcname='./zookeeper'): directory members first, pax headers.
      kinds.python = join(dir, 'dcos-zk.tar.gz')
      execFileSync('python3', [
        '-c',
        'import sys, tarfile\nwith tarfile.open(sys.argv[1], "w:gz") as tar:\n    tar.add(sys.argv[2] + "/zookeeper", arcname="./zookeeper")',
        kinds.python,
        tree,
      ])
      kinds.gnu = join(dir, 'gnu.tar.gz')
      execFileSync('tar', ['czf', kinds.gnu, '-C', tree, './zookeeper'])
      kinds.plain = join(dir, 'plain.tar')
      execFileSync('tar', ['cf', kinds.plain, '-C', tree, './zookeeper'])
      // Named .tar.gz but not compressed: the bytes tell, not the name.
      kinds.misnamed = join(dir, 'plain-named.tar.gz')
      await copyFile(kinds.plain, kinds.misnamed)
    })

    for (const kind of ['python', 'gnu', 'plain', 'misnamed']) {
      it(`${kind}: inspect, inspect --tree, convert and an online restore --dry-run accept it`, async () => {
        const file = kinds[kind]
        const summary = expectExit(await dcos(['zk', 'inspect', file]), 0)
        expect(summary.stdout).to.match(/Integrity\s+OK|verified/i)
        const {stdout} = expectExit(await dcos(['zk', 'inspect', file, '--tree', '/app/state']), 0)
        expect(stdout).to.include('/app/state/app-1  persistent')
        const converted = join(dir, `converted-${kind}.tar.gz`)
        expectExit(await dcos(['zk', 'convert', file, converted, '--from', '/app']), 0)
        expect(Object.keys((await readArchiveFile(converted)).tree)).to.include('/state/app-1')
        const hosts = (await sharedEnsemble()).connectString
        const plan = expectExit(
          await dcos([
            'zk',
            'restore',
            file,
            '--zk',
            `zk://${hosts}${uniquePath('dcos-zk')}`,
            '--from',
            '/app',
            '--dry-run',
            '--zk-auth',
            `${secret.user}:${secret.password}`,
          ]),
          0,
        )
        expect(plan.stdout).to.include('Dry run: nothing was changed.')
      })
    }

    it('an online archive as a plain tar (GNU tar of its members): inspect and restore --dry-run', async () => {
      const converted = join(dir, 'converted-python.tar.gz')
      const members = join(dir, 'online-members')
      await mkdir(members)
      execFileSync('tar', ['xzf', converted, '-C', members])
      const names = execFileSync('tar', ['tzf', converted]).toString().trim().split('\n')
      const plain = join(dir, 'online.tar')
      execFileSync('tar', ['cf', plain, '--no-recursion', '-C', members, ...names])
      expect(expectExit(await dcos(['zk', 'inspect', plain]), 0).stdout).to.match(/Integrity\s+OK/)
      const hosts = (await sharedEnsemble()).connectString
      const plan = expectExit(
        await dcos(['zk', 'restore', plain, '--zk', `zk://${hosts}${uniquePath('plain')}`, '--dry-run']),
        0,
      )
      expect(plan.stdout).to.include('Dry run: nothing was changed.')
    })
  })
})
