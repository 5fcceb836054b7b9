/**
 * One offline restore at a time per directory: a lock file beside it (the directory itself is
 * renamed aside), created exclusively, naming its holder. A holder that died on this host leaves a
 * stale file, which the next restore takes over.
 */
import {readFile, rm, writeFile} from 'node:fs/promises'
import {hostname} from 'node:os'

import {OperationError} from '../../errors.js'
import {holderIsGone, INSTANCE} from '../../zk/lock.js'

interface LockFileHolder {
  instance: string
  startedAt: string
}

export function lockFileOf(dir: string): string {
  return `${dir}.dcos-restore.lock`
}

export async function withDirectoryLock<T>(dir: string, use: () => Promise<T>): Promise<T> {
  const path = lockFileOf(dir)
  await acquire(path, dir)
  try {
    return await use()
  } finally {
    await rm(path, {force: true})
  }
}

async function acquire(path: string, dir: string): Promise<void> {
  const holder: LockFileHolder = {instance: INSTANCE, startedAt: new Date().toISOString()}
  for (let attempt = 0; ; attempt++) {
    try {
      await writeFile(path, `${JSON.stringify(holder)}\n`, {flag: 'wx', mode: 0o600})
      return
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error
    }

    const current = await readHolder(path)
    if (attempt === 0 && current && holderIsGone(current)) {
      await rm(path, {force: true}) // its holder died on this host: the directory is ours to restore
      continue
    }

    const who = current
      ? `${current.instance}${current.instance.startsWith(`${hostname()}:`) ? '' : ' (another host)'}, since ${current.startedAt}`
      : 'unknown'
    throw new OperationError(
      `another restore of ${dir} is running (${who}): nothing was changed; wait for it to finish, or remove ${path} if no restore is running`,
    )
  }
}

async function readHolder(path: string): Promise<LockFileHolder | undefined> {
  try {
    const parsed = JSON.parse(await readFile(path, 'utf8')) as Partial<LockFileHolder>
    return typeof parsed.instance === 'string' && typeof parsed.startedAt === 'string'
      ? (parsed as LockFileHolder)
      : undefined
  } catch {
    return undefined
  }
}
