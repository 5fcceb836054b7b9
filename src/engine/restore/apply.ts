import type {FullPlan, LiveTree, RestoreOptions, RestoreRun, Selection} from './types.js'

/** The destructive part: delete the live tree, write the archive's znodes, apply the ACLs, and re-read to verify. */
import {TreeSetDigest} from '../../archive/format.js'
import {OperationError} from '../../errors.js'
import {grantedPerms, PERMS} from '../../zk/acl.js'
import {type Acl, OPEN_ACL, zkConstants, ZkError, type ZkSession} from '../../zk/session.js'
import {relativeZnodePath, resolveZnodePath, znodeDepth} from '../../zk/uri.js'
import {collectGarbage} from '../collect-garbage.js'
import {failpoint} from '../failpoints.js'
import {Pipeline} from '../pipeline.js'
import {BulkAccess} from '../znodes/bulk-access.js'
import {walkTree} from '../znodes/read-tree.js'
import {type ZnodeToWrite, znodeWriter, type ZnodeWriter} from '../znodes/write-znodes.js'
import {CounterCheck, type CounterTargets, raiseCounters} from './counters.js'
import {rewrites, selectedZnodes, shownKey} from './plan.js'

const PIPELINE_DEPTH = 256

const DELETE_ROUNDS = 5

export type AppliedPlan = Pick<
  FullPlan,
  'change' | 'counters' | 'create' | 'delete' | 'ephemeralsToDelete' | 'expectedDigest'
>

export interface Applied {
  aclsSet: number
  created: number
  deleted: number
  sequencePairs: number
  sequencePairsPerSecond: number
}

/**
 * The destructive part: delete, create, raise the sequence counters, ACLs, then the re-read that
 * proves the tree matches. A tree that already matches only has its counters raised.
 */
export async function applyRestore(run: RestoreRun, plan: AppliedPlan, {faults}: {faults: boolean}): Promise<Applied> {
  const {bulk, live, options, selection, session} = run
  const hit = faults ? failpoint : () => {}
  const rewritten = rewrites(plan)
  const deleted = rewritten ? await deleteLiveTree(session, selection.target, live, options, hit) : 0
  const writer = znodeWriter(session, bulk.writePath)
  const {created, restrictive} = rewritten
    ? await writeZnodes(writer, session, selection, live, options, hit, plan.counters.raise)
    : {created: 0, restrictive: []}
  releaseSource(selection)
  const counters = await raiseAllCounters(run, plan.counters.raise, hit)
  hit('restore.acl')
  const aclsSet = await applyAclsLast(restrictive, writer.setAcl, options)
  options.onPhase?.('check')
  hit('restore.check')
  await checkRestored(bulk, selection, live, plan.expectedDigest, plan.counters.check)
  return {aclsSet, created, deleted, ...counters}
}

/** A source held in memory (a replayed state) is let go and collected: the check's walk would otherwise run beside the dead tree. */
function releaseSource({source}: Selection): void {
  if (!source.release) return
  source.release()
  collectGarbage()
}

async function raiseAllCounters(
  {options, selection, session}: RestoreRun,
  raise: CounterTargets['raise'],
  hit: (point: string) => void,
): Promise<Pick<Applied, 'sequencePairs' | 'sequencePairsPerSecond'>> {
  if (raise.size === 0) return {sequencePairs: 0, sequencePairsPerSecond: 0}
  options.onPhase?.('counters')
  const started = Date.now()
  const sequencePairs = await raiseCounters(session, selection.target, raise, hit)
  return {sequencePairs, sequencePairsPerSecond: Math.round((sequencePairs * 1000) / Math.max(Date.now() - started, 1))}
}

/** Deletes every live znode that is not kept, deepest first; retries what concurrent writers refill. */
export async function deleteLiveTree(
  session: ZkSession,
  target: string,
  live: LiveTree,
  options: RestoreOptions,
  hit: (point: string) => void,
): Promise<number> {
  let paths = [...live.znodes.keys()]
    .filter((path) => !live.kept.has(path))
    .map((path) => resolveZnodePath(target, path))
  options.onPhase?.('delete', paths.length)
  let deleted = 0
  for (let round = 1; paths.length > 0; round++) {
    const notEmpty: string[] = []
    const pipeline = new Pipeline(PIPELINE_DEPTH)
    const deleteOne = async (path: string) => {
      try {
        await session.delete(path)
        deleted++
        options.onZnode?.('delete', path)
        hit('restore.delete')
      } catch (error) {
        if (!(error instanceof ZkError)) throw error
        if (error.code === zkConstants.ZNOTEMPTY) notEmpty.push(path)
        else if (error.code !== zkConstants.ZNONODE) throw error
      }
    }

    await pipeline.run(
      paths.sort((a, b) => znodeDepth(b) - znodeDepth(a)),
      deleteOne,
    )
    if (notEmpty.length === 0) break
    if (round === DELETE_ROUNDS)
      throw new OperationError(`Cannot empty ${notEmpty[0]}: something keeps creating znodes under it`)
    // Children appeared (ephemerals, or writers that were not stopped): delete them too.

    paths = await collectSubtrees(session, notEmpty, target, live.kept)
  }

  return deleted
}

async function collectSubtrees(
  session: ZkSession,
  roots: string[],
  target: string,
  kept: Set<string>,
): Promise<string[]> {
  const paths: string[] = []
  for (const root of roots) {
    await walkTree({
      includeEphemerals: true,
      onZnode({record}) {
        if (!kept.has(relativeZnodePath(target, record.path)!)) paths.push(record.path)
      },
      root,
      session,
    })
  }

  return paths
}

/**
 * Writes the archive's znodes in order; returns the ACLs left for last (and those of kept znodes).
 * A parent whose counter is raised afterwards stays open until then: the pairs need CREATE and DELETE.
 */
async function writeZnodes(
  writer: ZnodeWriter,
  session: ZkSession,
  selection: Selection,
  live: LiveTree,
  options: RestoreOptions,
  hit: (point: string) => void,
  counterParents: CounterTargets['raise'],
): Promise<{created: number; restrictive: RestrictiveAcls}> {
  const restrictive: RestrictiveAcls = []
  let created = 0
  try {
    for await (const znode of znodesToWrite(session, selection, live, options)) {
      const {kept, path, record, relativePath} = znode
      hit('restore.create')
      const aclLater =
        kept || locksUsOut(record.acl, session) || (counterParents.has(relativePath) && !isOpenAcl(record.acl))
      if (aclLater) restrictive.push({acl: record.acl, path})
      await writer.write(znode, aclLater ? OPEN_ACL : record.acl, () => {
        if (!kept) created++
        options.onZnode?.('create', path)
      })
    }

    await writer.drain()
  } catch (error) {
    await writer.settle() // nothing may still be in flight when a rollback starts
    throw error
  }

  return {created, restrictive}
}

type RestrictiveAcls = Array<{acl: Acl[]; path: string}>

/** The archive's znodes in order, where they go, and whether each is kept (updated in place); creates the target's parents first. */
async function* znodesToWrite(
  session: ZkSession,
  selection: Selection,
  live: LiveTree,
  options: RestoreOptions,
): AsyncGenerator<ZnodeToWrite> {
  const {target} = selection
  options.onPhase?.('create', selection.znodes)
  if (target !== '/' && selection.znodes > 0) await session.createParents(target)
  for await (const {data, record, relativePath} of selectedZnodes(selection)) {
    yield {data, kept: live.kept.has(relativePath), path: resolveZnodePath(target, relativePath), record, relativePath}
  }
}

/** Sets the ACLs left for last in reverse order, children before parents, so none locks the restore out of the rest. */
async function applyAclsLast(
  restrictive: RestrictiveAcls,
  setAcl: (path: string, acl: Acl[]) => Promise<void>,
  options: RestoreOptions,
): Promise<number> {
  options.onPhase?.('acl')
  await new Pipeline(PIPELINE_DEPTH).run(restrictive.reverse(), ({acl, path}) => setAcl(path, acl))
  return restrictive.length
}

function isOpenAcl(acl: Acl[]): boolean {
  return (
    acl.length === 1 &&
    acl[0].scheme === OPEN_ACL[0].scheme &&
    acl[0].id === OPEN_ACL[0].id &&
    acl[0].perms === OPEN_ACL[0].perms
  )
}

/**
 * Each znode is created with its own ACL when that ACL still lets us create its children; the others
 * are created open and get their ACL at the end.
 */
function locksUsOut(acl: Acl[], session: ZkSession): boolean {
  return !(isOpenAcl(acl) || (grantedPerms(acl, session.identities, 'deny') & PERMS.CREATE) !== 0)
}

/** Re-reads the target and compares it, znode by znode (as a set digest), with the archive's selection, and the counters with the archive's. */
async function checkRestored(
  bulk: BulkAccess,
  selection: Selection,
  live: LiveTree,
  expectedDigest: string,
  counters: CounterTargets['check'],
): Promise<void> {
  const {excluded, target} = selection
  const actual = new TreeSetDigest()
  const counterCheck = new CounterCheck(counters, target)
  const ignored = (relativePath: string) =>
    excluded(relativePath) || (live.kept.has(relativePath) && !live.znodes.get(relativePath)?.seen)
  await walkTree({
    onZnode({data, record, relativePath}) {
      if (ignored(relativePath)) return
      actual.add(relativePath, shownKey(record, data, selection.identities))
      counterCheck.add(relativePath, record)
    },
    reader: await bulk.reader(),
    root: target,
    session: bulk.session,
  })
  if (actual.value !== expectedDigest) {
    throw new OperationError(
      `Verification failed: the tree under ${target} does not match the archive after the restore`,
    )
  }

  const low = counterCheck.problem
  if (low) throw new OperationError(`Verification failed: ${low} after the restore`)
}
