import type {AdminOptions} from '../engine/backup.js'

import {UsageError} from '../errors.js'

/** --read-path: where an online backup reads the state from. */
export type ReadPathChoice = 'admin' | 'auto' | 'client'
export const READ_PATHS: ReadPathChoice[] = ['auto', 'admin', 'client']

/**
 * The AdminServer to take a snapshot from, if any. Not discovered by itself: a snapshot request
 * makes the node write a snapshot file and spends its rate limit, which only an operator who named
 * the node should cause.
 */
export function adminOptions(url: string | undefined, readPath: ReadPathChoice): AdminOptions | undefined {
  const address = url?.trim()
  if (readPath === 'client') return undefined
  if (readPath === 'admin' && !address)
    throw new UsageError('--read-path admin needs --admin-url http://<zookeeper host>:8080 (or DCOS_ZK_ADMIN_URL)')
  return address ? {required: readPath === 'admin', url: address} : undefined
}
