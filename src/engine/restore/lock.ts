import type {RestoreOptions} from './types.js'

/** The cluster lock as a restore takes it: waiting for a dead holder's session, or for any holder with --wait-lock. */
import {OperationError} from '../../errors.js'
import {ClusterLock, describeHolder, holderIsGone, type LockHolder} from '../../zk/lock.js'
import {zkConstants, ZkError, type ZkSession} from '../../zk/session.js'
import {parentZnodePath} from '../../zk/uri.js'

export interface HeldLock {
  /** The lock's parent did not exist before: it goes again when empty, so a restore of / leaves no trace. */
  createdParent: boolean
  job: string
  lock: ClusterLock
}

/** How often a restore waiting for the lock looks again. */
export const LOCK_POLL_MS = 250

/** A dead holder's session is gone this long after its timeout at the latest (the server's expiry tick). */
const EXPIRY_MARGIN_MS = 2000

/**
 * Takes the cluster lock. A holder that is a process of this host which no longer exists (a restore
 * SIGKILLed) is waited for until its session expires; with `waitMs`, any holder is waited for.
 */
export async function takeLock(
  session: ZkSession,
  {job, path, waitMs = 0}: NonNullable<RestoreOptions['lock']>,
  notice?: (message: string) => void,
): Promise<HeldLock> {
  const lock = new ClusterLock(path)
  const createdParent = (await session.exists(parentZnodePath(path))) === undefined
  const waitUntil = Date.now() + waitMs
  let deadHolderGone: number | undefined
  for (;;) {
    const acquired = await lock.tryAcquire(session, job, 'restore').catch((error: unknown) => {
      if (!(error instanceof ZkError && error.code === zkConstants.ZNOAUTH)) throw error
      throw new OperationError(
        `Cannot take the cluster lock ${path}: these credentials may not create it; nothing was changed. Pass --lock-path with a znode they may create (the backup service must use the same one)`,
      )
    })
    if (acquired) return {createdParent, job, lock}

    const holder = await lock.holder(session).catch(() => undefined)
    const timeoutMs = holder?.sessionTimeoutMs ?? session.timeoutMs
    if (holder && deadHolderGone === undefined && holderIsGone(holder)) {
      deadHolderGone = Date.now() + timeoutMs + EXPIRY_MARGIN_MS
      notice?.(
        `${describeHolder(holder)} holds the cluster lock ${path}, but that process no longer exists: waiting up to ${Math.ceil((timeoutMs + EXPIRY_MARGIN_MS) / 1000)}s for its ZooKeeper session to expire`,
      )
    } else if (holder && waitMs > 0 && deadHolderGone === undefined && Date.now() < waitUntil) {
      notice?.(
        `${describeHolder(holder)} holds the cluster lock ${path}: waiting up to ${Math.ceil((waitUntil - Date.now()) / 1000)}s (--wait-lock)`,
      )
      waitMs = 0 // said once
    }

    if (Date.now() >= Math.max(waitUntil, deadHolderGone ?? 0))
      throw lockRefusal(holder, path, timeoutMs, deadHolderGone !== undefined)

    await new Promise((resolve) => setTimeout(resolve, LOCK_POLL_MS))
  }
}

function lockRefusal(
  holder: LockHolder | undefined,
  path: string,
  timeoutMs: number,
  waitedForDead: boolean,
): OperationError {
  const who = holder ? describeHolder(holder) : 'another job'
  if (waitedForDead) {
    return new OperationError(
      `Refusing to restore: ${who} still holds the cluster lock ${path} although that process is gone; nothing was changed. Its session should have expired: check for another process using its session, or delete ${path} once you are sure no job runs`,
    )
  }

  return new OperationError(
    `Refusing to restore: ${who} holds the cluster lock ${path}; nothing was changed. Try again when it has ended: if that process is dead, its lock goes when its session expires, at most ${Math.ceil(timeoutMs / 1000)}s after it died (--wait-lock <duration> waits)`,
  )
}

/** Deleted explicitly: a process that exits right after close() may leave its session, and the lock, to expire. */
export async function releaseLock(session: ZkSession, {createdParent, job, lock}: HeldLock): Promise<void> {
  await lock.release(session, job).catch(() => {})
  if (createdParent) await session.delete(parentZnodePath(lock.path)).catch(() => {}) // NotEmpty: someone else uses it
}

/** The lock again for the same job: held still by the first session (undefined then), or taken anew. */
export async function retakeLock(
  session: ZkSession,
  {job, path}: {job: string; path: string},
): Promise<HeldLock | undefined> {
  const lock = new ClusterLock(path)
  if (await lock.tryAcquire(session, job, 'restore')) return {createdParent: false, job, lock}
  const holder = await lock.holder(session)
  if (holder?.job === job) return undefined
  throw new OperationError(`${holder ? describeHolder(holder) : 'another job'} took the cluster lock ${path} meanwhile`)
}
