/** Whether ZooKeeper runs on a data directory: an offline backup or restore refuses a running node. */
import {readFile} from 'node:fs/promises'
import {connect as netConnect} from 'node:net'

import {errorMessage, OperationError, UsageError} from '../../errors.js'

export const RUNNING_MESSAGE = 'ZooKeeper must not be running. Aborting.'

export interface RunningCheckOptions {
  pidFile?: string
  /** A zoo.cfg: ZooKeeper runs when its clientPort (at clientPortAddress, default 127.0.0.1) answers. */
  zkConfig?: string
}

/** Throws OperationError(RUNNING_MESSAGE) when ZooKeeper seems to be running. */
export async function checkNotRunning({pidFile, zkConfig}: RunningCheckOptions): Promise<void> {
  if (pidFile) {
    let text: string | undefined
    try {
      text = await readFile(pidFile, 'utf8')
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw new UsageError(`cannot read the pid file ${pidFile}: ${errorMessage(error)}`)
    }

    const trimmed = text?.trim()
    if (trimmed) {
      if (!/^\d+$/.test(trimmed)) throw new UsageError(`the pid file ${pidFile} holds no pid`)
      if (pidAlive(Number(trimmed))) throw new OperationError(RUNNING_MESSAGE)
    }
  }

  if (zkConfig) {
    const {host, port} = await clientAddress(zkConfig)
    if (await portAnswers(host, port)) throw new OperationError(RUNNING_MESSAGE)
  }
}

function pidAlive(pid: number): boolean {
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
