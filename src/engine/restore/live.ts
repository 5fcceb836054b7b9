import type {LiveTree, RestoreOptions} from './types.js'

/** The live tree under the target, read (and saved as the safety backup) before anything changes. */
import {identitiesOf, missingPerms, PERMS} from '../../zk/acl.js'
import {parentZnodePath} from '../../zk/uri.js'
import {backupTree} from '../backup.js'
import {type PathMatcher} from '../exclude.js'
import {BulkAccess} from '../znodes/bulk-access.js'
import {type WalkedZnode, walkTree} from '../znodes/read-tree.js'
import {shownKey} from './plan.js'

export async function readLiveTree(
  bulk: BulkAccess,
  target: string,
  excluded: PathMatcher,
  options: RestoreOptions,
): Promise<LiveTree> {
  const {session} = bulk
  const identities = options.identities ?? identitiesOf()
  const live = emptyLiveTree()
  live.existed = (await session.exists(target)) !== undefined
  const remember = ({data, record, relativePath}: WalkedZnode) => {
    const isExcluded = excluded(relativePath)
    // Parents are walked before their children, so a restricted parent is known here.
    const parent = relativePath === '/' ? undefined : live.restricted.get(parentZnodePath(relativePath))
    if (parent && !isExcluded) parent.deletedChildren++
    if (isExcluded) {
      live.excluded++
      for (let path = relativePath; path !== '/';) {
        path = parentZnodePath(path)
        live.kept.add(path)
      }
    } else if (record.type === 'ephemeral') {
      live.ephemerals++
    } else {
      live.znodes.set(relativePath, {
        key: shownKey(record, data, identities),
        nextSequence: record.nextSequence,
        seen: false,
      })
      const missing = missingPerms(record.acl, session.identities, RESTORE_PERMS)
      if (missing) live.restricted.set(relativePath, {acl: record.acl, createdChildren: 0, deletedChildren: 0, missing})
    }
  }

  // The safety backup keeps ephemerals too, as a record of what was there; no restore recreates them.
  // A target that does not exist yet has nothing to save.
  if (options.safetyBackup && !options.dryRun && live.existed) {
    live.safetyProvider = options.safetyBackup(target)
    const {result} = await backupTree({
      allowMissingRoot: true,
      bulk,
      destination: live.safetyProvider,
      includeEphemerals: true,
      onZnode: remember,
      root: target,
      session,
    })
    live.safetyBackup = result
  } else {
    await walkTree({includeEphemerals: true, onZnode: remember, reader: await bulk.reader(), root: target, session})
  }

  if (target === '/') live.kept.add('/')
  return live
}

export function emptyLiveTree(): LiveTree {
  return {
    ephemerals: 0,
    excluded: 0,
    existed: false,
    kept: new Set(),
    restricted: new Map(),
    safetyBackup: null,
    znodes: new Map(),
  }
}

const RESTORE_PERMS = PERMS.DELETE | PERMS.CREATE | PERMS.WRITE | PERMS.ADMIN
