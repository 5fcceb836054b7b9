import type {FullPlan, RestoreOptions, RestorePlan, RestoreResult, RestoreRun, Selection} from './restore/types.js'

import {verifyArchive} from '../archive/reader.js'
import {OperationError, UsageError} from '../errors.js'
import {withSession, type ZkSession} from '../zk/session.js'
import {applyRestore} from './restore/apply.js'
import {checkServersAccept, permissionProblems} from './restore/checks.js'
import {DEFAULT_MAX_PAIRS} from './restore/counters.js'
import {readLiveTree} from './restore/live.js'
import {type HeldLock, releaseLock, takeLock} from './restore/lock.js'
import {planRestore, restoreScope, verifyAndPlanForEmptyTarget} from './restore/plan.js'
import {failedRestore, missingAncestorsOf} from './restore/rollback.js'
import {restoreSource} from './restore/source.js'
import {BulkAccess} from './znodes/bulk-access.js'

export type {RestoreOptions, RestorePhase, RestorePlan, RestoreResult} from './restore/types.js'

/** A verified source and what of it a restore takes: what prepareRestore found, for restoreTree to apply. */
export interface PreparedRestore {
  emptyTargetPlan: FullPlan
  selection: Selection
}

/**
 * Verifies the whole archive and selects what the restore takes (--from, the target, --exclude),
 * before any session: a caller restoring several archives (the service) checks them all first and
 * hands each one's result to restoreTree, which then does not read the archive a second time to verify it.
 */
export async function prepareRestore(options: RestoreOptions): Promise<PreparedRestore> {
  const source = restoreSource(options.source)
  options.onPhase?.('verify')
  const prepared = await verifyAndPlanForEmptyTarget(source, (archiveRoot) => restoreScope(archiveRoot, options))
  if (prepared.emptyTargetPlan.create === 0 && !options.allowEmpty)
    throw new UsageError(`${source.display} holds no znode at ${prepared.selection.from}`)
  return prepared
}

/**
 * Replaces the subtree at the target with the archive's: verify the whole archive, read what is
 * there now (writing the safety backup as it goes), show the plan, check what the servers and the
 * credentials must allow, then delete, recreate every znode in order, apply the ACLs last, and
 * re-read the result to prove it matches. A failure after the first destructive step rolls back.
 */
export async function restoreTree(options: RestoreOptions, prepared?: PreparedRestore): Promise<RestoreResult> {
  const started = Date.now()
  const verified = prepared ?? (await prepareRestore(options))
  return withSession(options.connect, (session) => restoreOn(session, options, verified, started))
}

/** restoreTree on the session it opened; the lock and the bulk access's sessions are let go here. */
async function restoreOn(
  session: ZkSession,
  options: RestoreOptions,
  {emptyTargetPlan, selection}: PreparedRestore,
  started: number,
): Promise<RestoreResult> {
  const {excluded: excludedInArchive, target} = selection
  let lock: HeldLock | undefined
  let bulk: BulkAccess | undefined
  try {
    if (options.lock && !options.lock.heldByCaller && !options.dryRun)
      lock = await takeLock(session, options.lock, options.onNotice)
    bulk = await BulkAccess.open(session, options.batch)
    options.onPhase?.('read')
    const missingAncestors = await missingAncestorsOf(session, target)
    const live = await readLiveTree(bulk, target, excludedInArchive, options)
    // Most restores into an empty path (a new ensemble) need no second pass over the archive.
    const plan =
      live.znodes.size === 0
        ? {...emptyTargetPlan, ephemeralsToDelete: live.ephemerals, excludedLive: live.excluded}
        : await planRestore(selection, live)
    plan.permissionProblems = await permissionProblems(session, target, live, plan, selection)
    const result = {
      aclsSet: 0,
      ...(bulk.fallbackReason ? {batchFallback: bulk.fallbackReason} : {}),
      created: 0,
      deleted: 0,
      dryRun: Boolean(options.dryRun),
      plan,
      readPath: bulk.readPath,
      safetyBackup: live.safetyBackup,
      sequencePairs: 0,
      sequencePairsPerSecond: 0,
      verified: false,
      writePath: bulk.writePath,
    }
    if (options.dryRun) return finish(result, started)

    const destructive = plan.change + plan.delete + plan.ephemeralsToDelete > 0
    if (!destructive && plan.create === 0 && plan.sequencePairs === 0)
      return finish({...result, verified: true}, started) // already identical
    refuseCostlyCounters(plan, options.maxSequencePairs ?? DEFAULT_MAX_PAIRS)
    if (plan.permissionProblems.length > 0 && !options.skipPermissionCheck) {
      throw new OperationError(
        `Refusing to restore: these credentials ${plan.permissionProblems[0]}${plan.permissionProblems.length > 1 ? ` (and ${plan.permissionProblems.length - 1} more)` : ''}; nothing was changed. Pass --zk-auth for a user with the rights, or --skip-permission-check for a ZooKeeper superuser`,
      )
    }

    if (options.lock) await checkServersAccept(session, `${options.lock.path}-size-probe`, plan)
    // The net under the restore: read back whole before anything relies on it.
    if (live.safetyProvider) await verifyArchive(await live.safetyProvider.read(), live.safetyProvider.display)
    if (destructive && options.confirm && !(await options.confirm(plan, live.safetyBackup))) {
      throw new OperationError(`Restore cancelled: nothing under ${target} was changed`)
    }

    const run: RestoreRun = {bulk, live, missingAncestors, options, selection, session}
    try {
      Object.assign(result, await applyRestore(run, plan, {faults: true}))
      result.verified = true
    } catch (error) {
      throw await failedRestore(run, error)
    }

    return finish(result, started)
  } finally {
    await bulk?.close()
    // A rollback on a new session ended this one, and took and let go of the lock itself.
    if (lock && session.alive) await releaseLock(session, lock)
  }
}

function refuseCostlyCounters(plan: FullPlan, limit: number): void {
  if (plan.sequencePairs <= limit) return
  throw new OperationError(
    `Refusing to restore: raising the sequence counters of ${plan.sequenceParents} parents to the archive's takes ${plan.sequencePairs} create-and-delete pairs, more than --max-sequence-pairs ${limit}; nothing was changed. Pass a higher --max-sequence-pairs, or --sequence-counters off to leave the counters where the restore puts them`,
  )
}

export function finish(
  result: Omit<RestoreResult, 'durationMs' | 'znodesPerSecond'> & {plan: Partial<FullPlan> & RestorePlan},
  started: number,
): RestoreResult {
  const durationMs = Date.now() - started
  const {acls: _, counters: _____, expectedDigest: __, extendedTypes: ___, largest: ____, ...plan} = result.plan
  return {...result, durationMs, plan, znodesPerSecond: Math.round((result.created * 1000) / Math.max(durationMs, 1))}
}
