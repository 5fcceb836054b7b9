import type {StorageProvider} from '../../providers/types.js'
import type {RestoreRun, Scope} from './types.js'

/** A restore that failed after its first destructive step puts the previous tree back: the safety backup, or nothing where nothing was. */
import {errorMessage, OperationError} from '../../errors.js'
import {withSession, zkConstants, ZkError, type ZkSession} from '../../zk/session.js'
import {parentZnodePath} from '../../zk/uri.js'
import {type BackupResult} from '../backup.js'
import {BulkAccess} from '../znodes/bulk-access.js'
import {applyRestore, deleteLiveTree} from './apply.js'
import {readLiveTree} from './live.js'
import {type HeldLock, LOCK_POLL_MS, releaseLock, retakeLock} from './lock.js'
import {planRestore, verifyAndPlanForEmptyTarget} from './plan.js'

/**
 * The error of a restore that failed after its first destructive step, once the previous tree is
 * back (the safety backup restored through this same engine, or what was created deleted where
 * nothing was), or with where the safety backup is when that is not possible.
 */
export async function failedRestore(run: RestoreRun, error: unknown): Promise<OperationError> {
  const {live, options, selection} = run
  const cause = `Restore failed: ${errorMessage(error).replace(/\.$/, '')}`
  const hint = safetyHint(live.safetyBackup, selection.target)
  if (options.rollback === false)
    return new OperationError(`${cause}. Not rolled back (--no-rollback). ${hint}`, {cause: error})
  // Where nothing was, a rollback deletes what the restore created.
  const source = live.safetyProvider ?? (live.existed ? options.rollbackFrom : undefined)
  if (!source && live.existed)
    return new OperationError(`${cause}. Cannot roll back without a safety backup. ${hint}`, {cause: error})
  options.onPhase?.('rollback')
  try {
    await rollBack(run, source).catch((rollbackError: unknown) => {
      if (run.session.alive && !isConnectionTrouble(rollbackError)) throw rollbackError
      return rollBackOnNewSession(run, source)
    })
  } catch (rollbackError) {
    return new OperationError(
      `${cause}. The rollback failed too (${errorMessage(rollbackError).replace(/\.$/, '')}). ${hint}`,
      {cause: error},
    )
  }

  const how = source
    ? `from the safety backup ${live.safetyBackup?.location ?? source.display}, verified`
    : 'what it created was deleted'
  return new OperationError(`${cause}. Rolled back: ${selection.target} is as it was before the restore (${how})`, {
    cause: error,
  })
}

/** Puts the tree back as it was before the restore: the safety backup restored, or the new subtree deleted. */
async function rollBack(run: RestoreRun, source: StorageProvider | undefined): Promise<void> {
  const {bulk, missingAncestors, options, selection, session} = run
  const {excluded, target} = selection
  const quiet = {...options, onPhase: undefined, onZnode: undefined, safetyBackup: null}
  const now = await readLiveTree(bulk, target, excluded, quiet)
  if (!source) {
    await deleteLiveTree(session, target, now, quiet, () => {})
    for (const ancestor of missingAncestors) {
      await session.delete(ancestor).catch(() => {}) // NotEmpty: something else lives there now
    }

    return
  }

  const scopeOf = (archiveRoot: string): Scope => {
    if (archiveRoot !== target)
      throw new OperationError(`the safety backup ${source.display} holds ${archiveRoot}, not ${target}`)
    return {
      archiveRoot,
      excluded,
      from: target,
      identities: selection.identities,
      sequenceCounters: selection.sequenceCounters,
      target,
    }
  }

  const {emptyTargetPlan, selection: safety} = await verifyAndPlanForEmptyTarget(source, scopeOf)
  const plan = now.znodes.size === 0 ? emptyTargetPlan : await planRestore(safety, now)
  await applyRestore({...run, live: now, selection: safety}, plan, {faults: false})
}

/** How long a rollback waits for the ensemble to answer again by default: a leader election, or nodes restarted, not an outage. */
export const ROLLBACK_WAIT_MS = 60_000

/**
 * The restore's session may have gone with the connection or the quorum (and its lock with it): the
 * rollback runs again on a new one, once the ensemble answers again (within rollbackWaitMs),
 * holding the lock again so that no other job starts meanwhile.
 */
async function rollBackOnNewSession(run: RestoreRun, source: StorageProvider | undefined): Promise<void> {
  const {options} = run
  const waitMs = options.rollbackWaitMs ?? ROLLBACK_WAIT_MS
  const deadline = Date.now() + waitMs
  // The old session is ended first (its owner's close is then a no-op), so that no two sessions of this restore write at once.
  await run.bulk.close()
  await run.session.close()
  await withSession(
    () =>
      connectBefore(options.connect, deadline).catch((error: unknown) => {
        throw new OperationError(
          `${errorMessage(error).replace(/\.$/, '')}; waited ${Math.ceil(waitMs / 1000)}s for it (--rollback-wait)`,
          {cause: error},
        )
      }),
    async (session) => {
      let lock: HeldLock | undefined
      let bulk: BulkAccess | undefined
      try {
        if (options.lock && !options.lock.heldByCaller) lock = await retakeLock(session, options.lock)
        bulk = await BulkAccess.open(session, options.batch)
        await rollBack({...run, bulk, session}, source)
      } finally {
        await bulk?.close()
        if (lock) await releaseLock(session, lock)
      }
    },
  )
}

async function connectBefore(connect: () => Promise<ZkSession>, deadline: number): Promise<ZkSession> {
  for (;;) {
    try {
      return await connect()
    } catch (error) {
      if (Date.now() >= deadline) throw error

      await new Promise((resolve) => setTimeout(resolve, LOCK_POLL_MS))
    }
  }
}

const CONNECTION_TROUBLE = new Set<number>([
  zkConstants.ZCONNECTIONLOSS,
  zkConstants.ZOPERATIONTIMEOUT,
  zkConstants.ZSESSIONEXPIRED,
])

function isConnectionTrouble(error: unknown): boolean {
  return error instanceof ZkError && CONNECTION_TROUBLE.has(error.code)
}

/** The ancestors of `target` that do not exist, deepest first. */
export async function missingAncestorsOf(session: ZkSession, target: string): Promise<string[]> {
  const missing: string[] = []
  for (let path = parentZnodePath(target); path !== '/' && path !== target; path = parentZnodePath(path)) {
    if (await session.exists(path)) break
    missing.push(path)
  }

  return missing
}

function safetyHint(safety: BackupResult | null, target: string): string {
  if (!safety)
    return `There is no safety backup (${target} did not exist, or --no-safety-backup was given); the tree under ${target} may be incomplete`
  return `The tree as it was is saved at ${safety.location}: restore it with "dcos zk restore ${safety.location} --zk <hosts>${target}"`
}
