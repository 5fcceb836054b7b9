import type {ArchivedAcls, FullPlan, LargestZnode, LiveTree, Selection} from './types.js'

/** What is proved before the first destructive step: the servers take the archive's znodes, the credentials allow every step. */
import {errorMessage, OperationError} from '../../errors.js'
import {type Identity, missingPerms, PERMS, permsText} from '../../zk/acl.js'
import {type Acl, OPEN_ACL, zkConstants, ZkError, type ZkSession} from '../../zk/session.js'
import {parentZnodePath, resolveZnodePath} from '../../zk/uri.js'
import {FLAGS} from '../znodes/write-znodes.js'
import {selectedZnodes} from './plan.js'

/**
 * Proves, before anything is deleted, that the servers take what the restore will write: its
 * largest znode (a server whose jute.maxbuffer is smaller drops the connection instead of
 * answering, which half way through would leave the tree half restored), and a container and a
 * TTL znode when the archive holds them (3.4 has neither; TTLs need zookeeper.extendedTypesEnabled).
 */
export async function checkServersAccept(session: ZkSession, probePath: string, plan: FullPlan): Promise<void> {
  if (plan.largest) await checkLargestFits(session, probePath, plan.largest)
  for (const type of ['container', 'ttl'] as const) {
    const first = plan.extendedTypes[type]

    if (first) await checkTypeAccepted(session, `${probePath}-${type}`, type, first)
  }
}

/**
 * A connection lost twice on this one request is taken for a jute.maxbuffer refusal. A multi of one
 * create (ZooKeeper 3.4 has multi) is sent, as it is never re-sent by the session.
 */
async function checkLargestFits(session: ZkSession, probePath: string, largest: LargestZnode): Promise<void> {
  const create = () =>
    session.multi([
      {acl: OPEN_ACL, data: largest.data, flags: zkConstants.ZOO_EPHEMERAL, kind: 'create', path: probePath},
    ])
  for (let attempt = 1; ; attempt++) {
    try {
      await create()
    } catch (error) {
      const code = error instanceof ZkError ? error.code : undefined
      if (code === zkConstants.ZCONNECTIONLOSS && attempt < 2) continue
      if (code === zkConstants.ZCONNECTIONLOSS) {
        throw new OperationError(
          `Cannot restore: ${largest.path} holds ${largest.data.length} bytes, more than the ZooKeeper servers accept in one request (their jute.maxbuffer); nothing was changed. Raise jute.maxbuffer on every server, or leave the znode out with --exclude`,
        )
      }

      if (code !== zkConstants.ZNODEEXISTS) throw error // NodeExists: the first attempt landed after all
    }

    // An ephemeral: it goes with the session anyway.
    await deleteProbe(session, probePath)
    return
  }
}

/** A probe that outlives a crash goes by itself: a TTL of a second, a container the server reaps once used. */
const PROBE_TTL_MS = 1000

async function checkTypeAccepted(
  session: ZkSession,
  path: string,
  type: 'container' | 'ttl',
  first: {count: number; path: string},
): Promise<void> {
  const flags = FLAGS[type]
  const ttl = type === 'ttl' ? PROBE_TTL_MS : undefined
  try {
    await session.create(path, Buffer.alloc(0), flags, ttl)
  } catch (error) {
    if (!(error instanceof ZkError) || error.code === zkConstants.ZCONNECTIONLOSS) throw error
    if (error.code !== zkConstants.ZNODEEXISTS) {
      const what =
        type === 'ttl'
          ? 'TTL znodes (they need zookeeper.extendedTypesEnabled=true on every server, ZooKeeper 3.5.3+)'
          : 'container znodes (ZooKeeper 3.5.3+)'
      const others = first.count > 1 ? ` and ${first.count - 1} more` : ''
      throw new OperationError(
        `Cannot restore: the archive holds ${type === 'ttl' ? 'TTL' : 'container'} znodes (${first.path}${others}) and the ZooKeeper servers do not accept ${what}: ${errorMessage(error)}; nothing was changed. Enable them, or leave those znodes out with --exclude`,
      )
    }
  }

  await deleteProbe(session, path)
}

async function deleteProbe(session: ZkSession, path: string): Promise<void> {
  await session.delete(path).catch(() => {})
}

/**
 * Deleting a znode needs DELETE on its parent; a znode kept in place (excluded paths live under it)
 * needs WRITE, ADMIN and CREATE; recreating the target needs CREATE and DELETE on its parent; the
 * verifying re-read needs READ on every restored znode. All of it is known from the ACLs read with
 * the tree and those in the archive, so a restore that would stop half way never starts.
 */
export async function permissionProblems(
  session: ZkSession,
  target: string,
  live: LiveTree,
  plan: FullPlan,
  selection: Selection,
): Promise<string[]> {
  const problems: string[] = []
  for (const kept of live.kept) {
    const parent = kept === '/' ? undefined : live.restricted.get(parentZnodePath(kept))
    if (parent) parent.deletedChildren--
  }

  for (const [relativePath, {acl, createdChildren, deletedChildren, missing}] of live.restricted) {
    const path = resolveZnodePath(target, relativePath)
    if (missing & PERMS.DELETE && deletedChildren > 0)
      problems.push(`cannot delete the children of ${path} (ACL ${aclText(acl)})`)
    if (!live.kept.has(relativePath)) continue
    if (missing & (PERMS.WRITE | PERMS.ADMIN)) problems.push(`cannot update ${path} in place (ACL ${aclText(acl)})`)
    if (missing & PERMS.CREATE && createdChildren > 0)
      problems.push(`cannot create znodes in ${path} (ACL ${aclText(acl)})`)
  }

  if (target !== '/' && live.znodes.has('/') && !live.kept.has('/')) {
    const parent = parentZnodePath(target)
    const {acl} = await session.getAcl(parent)
    if (missingPerms(acl, session.identities, PERMS.DELETE | PERMS.CREATE)) {
      problems.push(`cannot delete and recreate ${target} in ${parent} (ACL ${aclText(acl)})`)
    }
  }

  const unreadable = await firstUnreadable(plan.acls, selection, session.identities)
  if (unreadable)
    problems.push(
      `cannot read back ${unreadable.path} after restoring it, to verify it (its archived ACL ${aclText(unreadable.acl)} grants them no READ)`,
    )
  return problems
}

/** The first znode the restore writes with an ACL that certainly denies these identities READ. */
async function firstUnreadable(
  acls: ArchivedAcls,
  selection: Selection,
  identities: Identity[],
): Promise<undefined | {acl: Acl[]; path: string}> {
  const denies = (acl: Acl[]) => missingPerms(acl, identities, PERMS.READ) !== 0
  if (acls) return [...acls.values()].find(({acl}) => denies(acl))
  for await (const {record, relativePath} of selectedZnodes(selection)) {
    if (denies(record.acl)) return {acl: record.acl, path: resolveZnodePath(selection.target, relativePath)}
  }

  return undefined
}

export function aclText(acl: Acl[]): string {
  return acl.map((entry) => `${entry.scheme}:${entry.id}:${permsText(entry.perms)}`).join(',')
}
