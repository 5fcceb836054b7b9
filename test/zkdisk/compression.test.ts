/**
 * Snapshots ZooKeeper writes gzip- or snappy-compressed (zookeeper.snapshot.compression.method), in a
 * data directory that holds the logs too, preallocated to ZooKeeper's default 64 MiB.
 */
import {expect} from 'chai'
import {readdirSync, readFileSync} from 'node:fs'
import {join} from 'node:path'

import {zkConstants, ZkSession} from '../../src/zk/session.js'
import {loadState, loadStateFromDirectories, readSnapshot} from '../../src/zkdisk/index.js'
import {Ensemble} from '../harness/ensemble.js'
import {ALL_BYTES} from '../helpers/fixtures.js'
import {eventually} from '../helpers/wait.js'
import {differences, lastDigestCheck, type LiveTree, readLiveTree} from './live.js'

const METHODS = [
  {compression: 'gzip', extension: '.gz', property: 'gz'},
  {compression: 'snappy', extension: '.snappy', property: 'snappy'},
] as const

interface Stopped {
  dataDir: string
  live: LiveTree
  node: Ensemble
}

describe('zkdisk: compressed snapshots', function () {
  this.timeout(120_000)
  const runs = new Map<string, Stopped>()

  before(async () => {
    await Promise.all(METHODS.map(async (method) => runs.set(method.compression, await runServer(method.property))))
  })

  after(async () => {
    await Promise.all([...runs.values()].map(({node}) => node.stop()))
  })

  for (const method of METHODS) {
    it(`reads ${method.compression} snapshots (snapshot.<zxid>${method.extension}) and replays the logs beside them`, async () => {
      const {dataDir, live} = runs.get(method.compression)!
      const state = await loadStateFromDirectories(dataDir)
      expect(differences(live, state)).to.deep.equal([])
      expect(state.snapshot?.name.endsWith(method.extension)).to.equal(true)
      expect(state.notes).to.deep.equal([])
      expect(lastDigestCheck(state)).to.deep.equal({matched: true, zxid: state.zxid})
      const names = readdirSync(join(dataDir, 'version-2')).filter((name) => name.startsWith('snapshot.'))
      expect(names.length).to.be.greaterThan(2)
      for (const name of names) {
        expect(name.endsWith(method.extension), name).to.equal(true)
        expect(readSnapshot({bytes: readFileSync(join(dataDir, 'version-2', name)), name}).compression).to.equal(
          method.compression,
        )
      }
    })

    it(`falls back to the previous snapshot when the newest ${method.compression} stream is cut short`, async () => {
      const {dataDir, live} = runs.get(method.compression)!
      const newestName = (await loadStateFromDirectories(dataDir)).snapshot!.name
      const files = readdirSync(join(dataDir, 'version-2'))
        .filter((name) => name.startsWith('snapshot.') || name.startsWith('log.'))
        .map((name) => ({bytes: readFileSync(join(dataDir, 'version-2', name)), name}))
      const newest = files.find((file) => file.name === newestName)!
      newest.bytes = newest.bytes.subarray(0, -20)
      const state = loadState(files)
      expect(state.notes).to.have.length(1)
      expect(state.notes[0]).to.match(
        new RegExp(`^skipped ${newest.name}: cannot decompress the ${method.compression} stream`),
      )
      expect(differences(live, state)).to.deep.equal([])
    })
  }
})

async function runServer(compressionMethod: string): Promise<Stopped> {
  const node = await Ensemble.start({
    config: {snapCount: '20'},
    jvmFlags: [`-Dzookeeper.snapshot.compression.method=${compressionMethod}`],
    nodes: 1,
  })
  try {
    const live = await writeAndRead(node)
    // Snapshots are written in the background (the session's close may start one): let them finish.
    await waitForCompleteSnapshots(join(node.nodes[0].dataDir, 'version-2'))
    await node.stopNode(1)
    return {dataDir: node.nodes[0].dataDir, live, node}
  } catch (error) {
    await node.stop()
    throw error
  }
}

async function writeAndRead(node: Ensemble): Promise<LiveTree> {
  const zk = await ZkSession.connect({hosts: [node.nodeConnectString(1)]})
  try {
    await zk.create('/compressed', Buffer.from('root'), 0)
    for (let index = 0; index < 60; index++) {
      // Repetitive data compresses: the snapshot's compressed stream holds back references.
      const data = index % 5 === 0 ? ALL_BYTES : Buffer.from(`value ${index} `.repeat(index * 10))
      await zk.create(`/compressed/node-${index}`, data, index % 7 === 0 ? zkConstants.ZOO_CONTAINER : 0)
      if (index % 4 === 0) await zk.setData(`/compressed/node-${index}`, Buffer.from(`changed ${index}`))
    }

    return await readLiveTree(zk)
  } finally {
    await zk.close()
  }
}

function waitForCompleteSnapshots(dir: string): Promise<true> {
  const complete = (name: string) => {
    try {
      readSnapshot({bytes: readFileSync(join(dir, name)), name})
      return true
    } catch {
      return false
    }
  }

  const snapshots = () => readdirSync(dir).filter((name) => name.startsWith('snapshot.'))
  // Complete, and no new one begun since the last look: a snapshot the last transaction started in the
  // background may appear just after a check, and stopping the node then cuts it short.
  let seen = ''
  return eventually(
    'every snapshot on disk to be complete, and no new one begun',
    async () => {
      const names = snapshots()
      const settled = names.every((name) => complete(name)) && names.join(',') === seen
      seen = names.join(',')
      return settled ? true : undefined
    },
    30_000,
    1000,
  )
}
