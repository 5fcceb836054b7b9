/**
 * Loopback ports for the ZooKeeper nodes the tests start, from a block of its own per test process.
 *
 * A port picked by binding 127.0.0.1:0 and releasing it can be taken again before the JVM binds it:
 * by another test process's pick (mocha --parallel), or as the source port of any client socket,
 * since port 0 draws from the kernel's ephemeral range. Then a node fails to start, or, worse, a
 * test's srvr reaches another test's node. So each process claims a block below the ephemeral
 * range (a lock file naming its pid, taken over when that pid is gone) and hands out its ports in
 * turn, skipping any still bound.
 */
import {closeSync, openSync, readFileSync, unlinkSync, writeSync} from 'node:fs'
import * as net from 'node:net'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

/** Linux's ephemeral range starts at 32768 by default: no client socket is given a port below it. */
const FIRST_PORT = 20_000
const BLOCK_PORTS = 1000
const BLOCKS = 12

let block: undefined | {end: number; next: number; start: number}

/** `count` distinct loopback ports that nothing listens on now, from this process's block. */
export async function claimPorts(count: number): Promise<number[]> {
  block ??= claimBlock()
  const {end, start} = block
  const ports: number[] = []
  for (let tried = 0; ports.length < count; tried++) {
    if (tried >= end - start) throw new Error(`test ports: fewer than ${count} free in ${start}-${end - 1}`)
    const port = block.next
    block.next = port + 1 < end ? port + 1 : start
    if (await isFree(port)) ports.push(port)
  }

  return ports
}

function claimBlock(): {end: number; next: number; start: number} {
  for (let index = 0; index < BLOCKS; index++) {
    const start = FIRST_PORT + index * BLOCK_PORTS
    const lock = join(tmpdir(), `dcos-backup-test-ports.${start}`)
    if (!takeLock(lock)) continue
    process.once('exit', () => {
      try {
        unlinkSync(lock)
      } catch {
        // already gone
      }
    })
    return {end: start + BLOCK_PORTS, next: start, start}
  }

  throw new Error(`test ports: all ${BLOCKS} blocks from ${FIRST_PORT} are held by live test processes`)
}

/** Creates the lock naming this pid, or takes over one whose pid is gone. */
function takeLock(lock: string): boolean {
  if (createLock(lock)) return true
  const holder = Number(readFileSync(lock, 'utf8'))
  if (holder > 0 && isAlive(holder)) return false
  try {
    unlinkSync(lock)
  } catch {
    // taken over by another process meanwhile: createLock says whose it is now
  }

  return createLock(lock)
}

function createLock(lock: string): boolean {
  try {
    const fd = openSync(lock, 'wx')
    writeSync(fd, String(process.pid))
    closeSync(fd)
    return true
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false
    throw error
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM'
  }
}

function isFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer()
    server.once('error', () => resolve(false))
    server.listen({exclusive: true, host: '127.0.0.1', port}, () => server.close(() => resolve(true)))
  })
}
