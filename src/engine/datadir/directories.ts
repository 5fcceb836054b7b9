/** The node's directories: DC/OS's paths, and what the offline backup and restore share about them. */
import {stat} from 'node:fs/promises'

import {UsageError} from '../../errors.js'

export const DCOS_PATHS = {
  dataDir: '/var/lib/dcos/exhibitor/zookeeper/snapshot',
  logDir: '/var/lib/dcos/exhibitor/zookeeper/transactions',
  pidFile: '/var/lib/dcos/exhibitor/zk.pid',
}

/** What both directions report: where, from or into which directories, how much. */
export interface DataDirTransfer {
  dataBytes: number
  dataDir: string
  directories: number
  files: number
  location: string
  logDir: string
}

export async function requireDirectory(dir: string, label: string): Promise<void> {
  const info = await stat(dir).catch(() => undefined)
  if (!info?.isDirectory()) throw new UsageError(`the ${label} ${dir} does not exist or is not a directory`)
}
