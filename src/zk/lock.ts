import {hostname} from 'node:os'

import {zkConstants, ZkError, type ZkSession} from './session.js'

export interface LockHolder {
  instance: string
  /** The backup or restore id the lock is held for, or a cleanup's own id. */
  job: string
  kind: 'backup' | 'cleanup' | 'restore'
  /** The holder's session timeout: its lock is gone at most this long after it died. */
  sessionTimeoutMs?: number
  since: string
}

/** The lock's znode unless configured otherwise: shared by the backup service and `dcos zk restore`. */
export const DEFAULT_LOCK_PATH = '/dcos-backup/lock'

/** Who this process is, in lock holders and logs: host and pid. */
export const INSTANCE = `${hostname()}:${process.pid}`

export function describeHolder(holder: LockHolder): string {
  return `a ${holder.kind} (${holder.job}) on ${holder.instance} since ${holder.since}`
}

/** The holder is a process of this host that no longer exists (its session outlives it until it expires). */
export function holderIsGone(holder: Pick<LockHolder, 'instance'>): boolean {
  const match = /^(.*):(\d+)$/.exec(holder.instance)
  if (!match || match[1] !== hostname()) return false
  try {
    process.kill(Number(match[2]), 0)
    return false
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'ESRCH'
  }
}

/**
 * The cluster-wide lock: one ephemeral znode. Whoever created it holds it; it goes away with the
 * holder's session, so a crashed instance frees it once its session expires.
 */
export class ClusterLock {
  constructor(readonly path: string) {}

  /** "a restore (restore-...) on host:pid since ...": for the message of a refused job. */
  async describeHolder(session: ZkSession): Promise<string> {
    const holder = await this.holder(session).catch(() => undefined)
    return holder ? describeHolder(holder) : 'another job'
  }

  async holder(session: ZkSession): Promise<LockHolder | undefined> {
    try {
      const {data} = await session.getData(this.path)
      return JSON.parse(data.toString('utf8')) as LockHolder
    } catch (error) {
      if (error instanceof ZkError && error.code === zkConstants.ZNONODE) return undefined
      if (error instanceof SyntaxError) return {instance: 'unknown', job: 'unknown', kind: 'cleanup', since: ''}
      throw error
    }
  }

  /** Deletes the lock if it is still held for `job`. */
  async release(session: ZkSession, job: string): Promise<void> {
    if ((await this.holder(session))?.job !== job) return
    await session.delete(this.path).catch((error: unknown) => {
      if (!(error instanceof ZkError && error.code === zkConstants.ZNONODE)) throw error
    })
  }

  /** Takes the lock for `job`; false when someone else holds it. */
  async tryAcquire(session: ZkSession, job: string, kind: LockHolder['kind']): Promise<boolean> {
    const holder: LockHolder = {
      instance: INSTANCE,
      job,
      kind,
      sessionTimeoutMs: session.timeoutMs,
      since: new Date().toISOString(),
    }
    await session.createParents(this.path)
    try {
      await session.create(this.path, Buffer.from(JSON.stringify(holder)), zkConstants.ZOO_EPHEMERAL)
    } catch (error) {
      if (error instanceof ZkError && error.code === zkConstants.ZNODEEXISTS) return false
      throw error
    }

    // A create re-sent after a lost connection reports success when the znode exists, whoever made it.
    return (await this.holder(session))?.job === job
  }
}
