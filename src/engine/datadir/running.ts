/** Whether ZooKeeper runs on a data directory: an offline restore refuses a running node; a backup of one is a hot copy. */
import {readFile} from 'node:fs/promises'
import {connect as netConnect} from 'node:net'

import {errorMessage, OperationError, UsageError} from '../../errors.js'
import {srvr} from '../../zk/srvr.js'

export const RUNNING_MESSAGE = 'ZooKeeper must not be running. Aborting.'

export interface RunningCheckOptions {
  pidFile?: string
  /** A zoo.cfg: ZooKeeper runs when its clientPort (at clientPortAddress, default 127.0.0.1) answers. */
  zkConfig?: string
}

/** Throws OperationError(RUNNING_MESSAGE) when ZooKeeper seems to be running. */
export async function checkNotRunning(options: RunningCheckOptions): Promise<void> {
  if ((await probeNode(options)).running) throw new OperationError(RUNNING_MESSAGE)
}

export interface NodeProbe {
  /** The pid in the pid file is alive, or the clientPort of the zoo.cfg answers. */
  running: boolean
  /** From the node's `srvr` answer, when its clientPort answered it ("3.8.0"). */
  zookeeperVersion?: string
}

/** Whether ZooKeeper runs on the directories (as far as the pid file and zoo.cfg tell), and its version when it answers. */
export async function probeNode({pidFile, zkConfig}: RunningCheckOptions): Promise<NodeProbe> {
  let running = false
  if (pidFile) {
    let text: string | undefined
    try {
      text = await readFile(pidFile, 'utf8')
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT')
        throw new UsageError(`cannot read the pid file ${pidFile}: ${errorMessage(error)}`)
    }

    const trimmed = text?.trim()
    if (trimmed) {
      if (!/^\d+$/.test(trimmed)) throw new UsageError(`the pid file ${pidFile} holds no pid`)
      running = pidAlive(Number(trimmed))
    }
  }

  if (zkConfig) {
    const {host, port} = await clientAddress(zkConfig)
    if (await portAnswers(host, port)) {
      const zookeeperVersion = await versionOf(host, port)
      return {running: true, ...(zookeeperVersion ? {zookeeperVersion} : {})}
    }
  }

  return {running}
}

/** "Zookeeper version: 3.8.0-5a02a05eddb59aee6ac762f7ea82e92a68eb9c0f, built on ...": undefined when srvr is not answered. */
async function versionOf(host: string, port: number): Promise<string | undefined> {
  const report = await srvr(`${host}:${port}`, 2000).catch(() => undefined)
  return /^Zookeeper version: ([0-9][0-9A-Za-z.]*)/m.exec(report?.raw ?? '')?.[1]
}

export function pidAlive(pid: number): boolean {
  if (pid <= 0) return false
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    // EPERM: the process exists but belongs to another user.
    return (error as NodeJS.ErrnoException).code === 'EPERM'
  }
}

async function clientAddress(zkConfig: string): Promise<{host: string; port: number}> {
  let text: string
  try {
    text = await readFile(zkConfig, 'utf8')
  } catch (error) {
    throw new UsageError(`cannot read ${zkConfig}: ${errorMessage(error)}`)
  }

  const settings = new Map<string, string>()
  for (const line of text.split('\n')) {
    const match = /^\s*([^#=\s][^=]*?)\s*=\s*(.*?)\s*$/.exec(line)
    if (match) settings.set(match[1], match[2])
  }

  const port = Number(settings.get('clientPort'))
  if (!Number.isInteger(port) || port <= 0) throw new UsageError(`${zkConfig} sets no clientPort`)
  const address = settings.get('clientPortAddress')
  return {host: address && address !== '0.0.0.0' ? address : '127.0.0.1', port}
}

function portAnswers(host: string, port: number, timeoutMs = 2000): Promise<boolean> {
  return new Promise((resolvePromise) => {
    const socket = netConnect({host, port})
    const done = (answer: boolean) => {
      socket.destroy()
      resolvePromise(answer)
    }

    socket.setTimeout(timeoutMs, () => done(false))
    socket.once('connect', () => done(true))
    socket.once('error', () => done(false))
  })
}
