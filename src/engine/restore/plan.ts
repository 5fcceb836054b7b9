import type {StorageProvider} from '../../providers/types.js'
import type {
  ArchivedAcls,
  ExtendedTypes,
  FullPlan,
  LargestZnode,
  LiveTree,
  RestoreOptions,
  RestorePlan,
  Scope,
  SelectedZnode,
  Selection,
} from './types.js'

/** What a restore selects from the archive and where it goes, and the plan: what it creates, changes and deletes. */
import {contentKey, TreeSetDigest, type ZnodeRecord} from '../../archive/format.js'
import {UsageError} from '../../errors.js'
import {aclAsShown, identitiesOf, type Identity} from '../../zk/acl.js'
import {type Acl} from '../../zk/session.js'
import {isUnderZnode, parentZnodePath, relativeZnodePath, resolveZnodePath, validateZnodePath} from '../../zk/uri.js'
import {excludeMatcher} from '../exclude.js'
import {aclText} from './checks.js'
import {CounterPlanner} from './counters.js'
import {emptyLiveTree} from './live.js'
import {type RestoreSource, restoreSource} from './source.js'

const LISTED_PATHS = 10

/** Archives hold few distinct ACLs; past this many the READ check costs one more pass over the archive. */
const MAX_DISTINCT_ACLS = 10_000

function selectSubtree(root: string, from: string | undefined): string {
  if (from === undefined) return root
  validateZnodePath(from)
  if (relativeZnodePath(root, from) === undefined) {
    throw new UsageError(`--from ${from} is outside the archive, whose root is ${root}`)
  }

  return from
}

/**
 * Verifies the whole archive in one pass, and plans on the way the restore into an empty target
 * (every selected znode a create): the archive's header names its root, which --from, the target
 * and --exclude are resolved against.
 */
export async function verifyAndPlanForEmptyTarget(
  from: RestoreSource | StorageProvider,
  scopeOf: (archiveRoot: string) => Scope,
): Promise<{emptyTargetPlan: FullPlan; selection: Selection}> {
  const source = restoreSource(from)
  let scope: Scope | undefined
  let planner: RestorePlanner | undefined
  for await (const item of source.records()) {
    if (item.kind === 'root') {
      scope = scopeOf(item.root)
      planner = new RestorePlanner(source.display, scope, emptyLiveTree())
    } else {
      const selected = selectedZnode(scope!, item)
      if (selected) planner!.add(selected)
    }
  }

  const emptyTargetPlan = planner!.finish()
  return {emptyTargetPlan, selection: {...scope!, source, znodes: emptyTargetPlan.create}}
}

export function restoreScope(archiveRoot: string, options: RestoreOptions): Scope {
  const from = selectSubtree(archiveRoot, options.from)
  const target = options.target ?? from
  refuseZooKeeperOwn(target, 'the target')
  // --exclude names paths of the archive; the lock znode is left alone where it lives, under the target.
  const exclude = excludeMatcher(options.exclude ?? [])
  const lock = excludeMatcher(options.lock ? [options.lock.path] : [])
  return {
    archiveRoot,
    excluded: (relativePath) =>
      exclude(resolveZnodePath(from, relativePath)) || lock(resolveZnodePath(target, relativePath)),
    from,
    identities: options.identities ?? identitiesOf(),
    sequenceCounters: options.sequenceCounters ?? 'sequential',
    target,
  }
}

/** ZooKeeper's own subtree (quotas, the ensemble's config) is the server's: no restore writes there. */
function refuseZooKeeperOwn(path: string, what: string): void {
  if (isUnderZnode(path, ZOOKEEPER_OWN)) {
    throw new UsageError(
      `Refusing to restore: ${what} ${path} is under ${ZOOKEEPER_OWN}, ZooKeeper's own subtree, which no client restores; choose another path`,
    )
  }
}

const ZOOKEEPER_OWN = '/zookeeper'

export async function planRestore(selection: Selection, live: LiveTree): Promise<FullPlan> {
  const planner = new RestorePlanner(selection.source.display, selection, live)
  for await (const item of selectedZnodes(selection)) planner.add(item)
  return planner.finish()
}

/** Counts what the archive's znodes, as they go by, ask of the live tree. */
class RestorePlanner {
  private acls: ArchivedAcls = new Map()
  private readonly counters: CounterPlanner
  private readonly expected = new TreeSetDigest()
  private readonly extendedTypes: ExtendedTypes = {}
  private largest?: LargestZnode
  private readonly plan: RestorePlan

  constructor(
    private readonly archive: string,
    private readonly scope: Scope,
    private readonly live: LiveTree,
  ) {
    this.plan = {
      archive,
      archiveRoot: scope.archiveRoot,
      change: 0,
      countersAhead: 0,
      create: 0,
      delete: 0,
      ephemeralsToDelete: live.ephemerals,
      excludedLive: live.excluded,
      firstChange: [],
      firstCountersAhead: [],
      firstCreate: [],
      firstDelete: [],
      from: scope.from,
      permissionProblems: [],
      sequencePairs: 0,
      sequenceParents: 0,
      target: scope.target,
      unchanged: 0,
    }
    this.counters = new CounterPlanner(scope.sequenceCounters, scope.target, live.kept)
  }

  add({data, record, relativePath}: SelectedZnode): void {
    const {live, plan} = this
    const key = shownKey(record, data, this.scope.identities)
    this.expected.add(relativePath, key)
    const current = live.znodes.get(relativePath)
    const path = resolveZnodePath(this.scope.target, relativePath)
    if (isUnderZnode(path, ZOOKEEPER_OWN)) {
      throw new UsageError(
        `Refusing to restore: ${this.archive} holds ${path}, under ZooKeeper's own subtree ${ZOOKEEPER_OWN}, which no client restores; nothing was changed`,
      )
    }

    if (data.length > (this.largest?.data.length ?? 0)) this.largest = {data, path}
    if (record.type === 'container' || record.type === 'ttl') {
      const seen = this.extendedTypes[record.type]
      if (seen) seen.count++
      else this.extendedTypes[record.type] = {count: 1, path, ttl: record.ttl}
    }

    this.noteAcl(record.acl, path)
    this.counters.add(relativePath, record, current?.nextSequence)
    if (!current) note(plan, 'create', path)
    else if (current.key === key) plan.unchanged++
    else note(plan, 'change', path)
    if (current) current.seen = true
    const parent = relativePath === '/' ? undefined : live.restricted.get(parentZnodePath(relativePath))
    if (parent && !current) parent.createdChildren++
  }

  finish(): FullPlan {
    const {live, plan} = this
    for (const [relativePath, znode] of live.znodes) {
      if (!znode.seen && !live.kept.has(relativePath))
        note(plan, 'delete', resolveZnodePath(this.scope.target, relativePath))
    }

    const counters = this.counters.finish(rewrites(plan))
    Object.assign(plan, {
      countersAhead: counters.ahead,
      firstCountersAhead: counters.firstAhead,
      sequencePairs: counters.pairs,
      sequenceParents: counters.parents,
    })
    return {
      ...plan,
      acls: this.acls,
      counters: counters.targets,
      expectedDigest: this.expected.value,
      extendedTypes: this.extendedTypes,
      largest: this.largest,
    }
  }

  private noteAcl(acl: Acl[], path: string): void {
    if (!this.acls) return
    const key = aclText(acl)
    if (this.acls.has(key)) return
    if (this.acls.size === MAX_DISTINCT_ACLS) this.acls = null
    else this.acls.set(key, {acl, path})
  }
}

/** Whether the restore deletes and recreates what is not kept: not when the tree already matches the archive. */
export function rewrites(plan: Pick<RestorePlan, 'change' | 'create' | 'delete' | 'ephemeralsToDelete'>): boolean {
  return plan.create + plan.change + plan.delete + plan.ephemeralsToDelete > 0
}

/** Counts the znode; lists the first paths in sorted order, the same whatever order the trees were read in. */
function note(plan: RestorePlan, kind: 'change' | 'create' | 'delete', path: string): void {
  plan[kind]++
  const first = kind === 'create' ? plan.firstCreate : kind === 'change' ? plan.firstChange : plan.firstDelete
  if (first.length === LISTED_PATHS && path > first[LISTED_PATHS - 1]) return
  const at = first.findIndex((listed) => path < listed)
  first.splice(at === -1 ? first.length : at, 0, path)
  if (first.length > LISTED_PATHS) first.pop()
}

/** The znodes a restore writes: the selected subtree, without excluded paths and ephemerals. */
export async function* selectedZnodes(selection: Selection): AsyncGenerator<SelectedZnode> {
  for await (const item of selection.source.records()) {
    const selected = item.kind === 'znode' ? selectedZnode(selection, item) : undefined
    if (selected) yield selected
  }
}

function selectedZnode(
  {archiveRoot, excluded, from}: Scope,
  {data, record, relativePath}: SelectedZnode,
): SelectedZnode | undefined {
  if (record.type === 'ephemeral') return undefined
  const selectedPath = relativeZnodePath(from, resolveZnodePath(archiveRoot, relativePath))
  if (selectedPath === undefined || excluded(selectedPath)) return undefined
  return {data, record, relativePath: selectedPath}
}

/** The content key of a znode with its ACL as the server shows it to these identities (digest hashes hidden without ADMIN). */
export function shownKey(record: ZnodeRecord, data: Buffer, identities: Identity[]): string {
  return contentKey(record.type, record.ttl, aclAsShown(record.acl, identities), data)
}
