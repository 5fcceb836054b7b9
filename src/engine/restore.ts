import {verifyArchive} from '../archive/reader.js'
import {OperationError, UsageError} from '../errors.js'
import {BulkAccess} from './bulk.js'
import {applyRestore} from './restore/apply.js'
import {checkServersAccept, permissionProblems} from './restore/checks.js'
import {readLiveTree} from './restore/live.js'
import {type HeldLock, releaseLock, takeLock} from './restore/lock.js'
import {planRestore, restoreScope, verifyAndPlanForEmptyTarget} from './restore/plan.js'
import {failedRestore, missingAncestorsOf} from './restore/rollback.js'
import type {FullPlan, RestoreOptions, RestorePlan, RestoreResult, RestoreRun} from './restore/types.js'

export type {RestoreOptions, RestorePhase, RestorePlan, RestoreResult} from './restore/types.js'

/**
 * Replaces the subtree at the target with the archive's: verify the whole archive, read what is
 * there now (writing the safety backup as it goes), show the plan, check what the servers and the
 * credentials must allow, then delete, recreate every znode in order, apply the ACLs last, and
 * re-read the result to prove it matches. A failure after the first destructive step rolls back.
 */
export async function restoreTree(options: RestoreOptions): Promise<RestoreResult> {
  const started = Date.now()
  const {source} = options
  if (source.scheme === '-') {
    throw new UsageError('restore reads the archive more than once (verify, then apply): save it to a file or S3 first')
  }

  options.onPhase?.('verify')
  const {emptyTargetPlan, selection} = await verifyAndPlanForEmptyTarget(source, (archiveRoot) => restoreScope(archiveRoot, options))
  const {excluded: excludedInArchive, target} = selection
  if (emptyTargetPlan.create === 0 && !options.allowEmpty) throw new UsageError(`${source.display} holds no znode at ${selection.from}`)

  const session = await options.connect()
  let lock: HeldLock | undefined
  let bulk: BulkAccess | undefined
  try {
    if (options.lock && !options.dryRun) lock = await takeLock(session, options.lock, options.onNotice)
    bulk = await BulkAccess.open(session, options.batch)
    options.onPhase?.('read')
    const missingAncestors = await missingAncestorsOf(session, target)
    const live = await readLiveTree(bulk, target, excludedInArchive, options)
    // Most restores into an empty path (a new ensemble) need no second pass over the archive.
    const plan = live.znodes.size === 0 ? {...emptyTargetPlan, ephemeralsToDelete: live.ephemerals, excludedLive: live.excluded} : await planRestore(selection, live)
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
      verified: false,
      writePath: bulk.writePath,
    }
    if (options.dryRun) return finish(result, started)

    const destructive = plan.change + plan.delete + plan.ephemeralsToDelete > 0
    if (!destructive && plan.create === 0) return finish({...result, verified: true}, started) // already identical
    if (plan.permissionProblems.length > 0 && !options.skipPermissionCheck) {
      throw new OperationError(
        `Refusing to restore: these credentials ${plan.permissionProblems[0]}${plan.permissionProblems.length > 1 ? ` (and ${plan.permissionProblems.length - 1} more)` : ''}; nothing was changed. Pass --zk-auth for a user with the rights, or --skip-permission-check for a ZooKeeper superuser`,
      )
    }

    const probePath = options.sizeProbePath ?? (options.lock && `${options.lock.path}-size-probe`)
    if (probePath) await checkServersAccept(session, probePath, plan)
    // The net under the restore: read back whole before anything relies on it.
    if (live.safetyProvider) await verifyArchive(await live.safetyProvider.read(), live.safetyProvider.display)
    if (destructive && options.confirm && !(await options.confirm(plan, live.safetyBackup))) {
      throw new OperationError(`Restore cancelled: nothing under ${target} was changed`)
    }

    const run: RestoreRun = {bulk, live, missingAncestors, options, selection, session}
    try {
      Object.assign(result, await applyRestore(run, plan.expectedDigest, {faults: true}))
      result.verified = true
    } catch (error) {
      throw await failedRestore(run, error)
    }

    return finish(result, started)
  } finally {
    await bulk?.close()
    if (lock) await releaseLock(session, lock)
    session.close()
  }
}

export function finish(result: Omit<RestoreResult, 'durationMs' | 'znodesPerSecond'> & {plan: Partial<FullPlan> & RestorePlan}, started: number): RestoreResult {
  const durationMs = Date.now() - started
  const {acls: _, expectedDigest: __, extendedTypes: ___, largest: ____, ...plan} = result.plan
  return {...result, durationMs, plan, znodesPerSecond: Math.round((result.created * 1000) / Math.max(durationMs, 1))}
}
