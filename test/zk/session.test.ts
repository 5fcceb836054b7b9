import {expect} from 'chai'
import {type ChildProcess, spawn} from 'node:child_process'
import {readdir, readlink} from 'node:fs/promises'

import {ZkSession} from '../../src/zk/session.js'
import {sharedEnsemble} from '../harness/hooks.js'

async function openSockets(pid: number): Promise<string[]> {
  const fds = await readdir(`/proc/${pid}/fd`)
  const targets = await Promise.all(fds.map((fd) => readlink(`/proc/${pid}/fd/${fd}`).catch(() => '')))
  return targets.filter((target) => target.startsWith('socket:'))
}

describe('ZooKeeper session', () => {
  let hosts: string[]
  const children: ChildProcess[] = []

  before(async () => {
    hosts = (await sharedEnsemble()).connectString.split(',')
  })

  after(() => {
    for (const child of children) child.kill('SIGKILL')
  })

  function spawnLongLived(): ChildProcess {
    const child = spawn('sleep', ['60'], {stdio: 'ignore'})
    children.push(child)
    return child
  }

  it('keeps its socket out of child processes, so sessions opened after the child still connect', async () => {
    const first = await ZkSession.connect({hosts})
    const child = spawnLongLived()
    await new Promise((resolve) => child.once('spawn', resolve))
    expect(await openSockets(child.pid!)).to.deep.equal([])

    // With an inherited copy of the closed socket, the next session on the same descriptor never connected.
    await first.close()
    const second = await ZkSession.connect({connectTimeoutMs: 5000, hosts})
    try {
      expect(await second.exists('/')).to.not.equal(undefined)
    } finally {
      await second.close()
    }
  })
})
