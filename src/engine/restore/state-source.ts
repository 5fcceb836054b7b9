/**
 * A replayed state (a data-directory archive's, a repository's at a point) as a restore's source,
 * read straight from the tree: no archive written and read back. Each pass walks the tree (depth
 * first, parents before children, without /zookeeper, as the archive `zk convert` writes) and checks
 * every record as the archive reader does: a hostile data directory is as likely as a hostile archive.
 */
import type {RestoreSource, SourceItem} from './source.js'

import {type ZnodeRecord} from '../../archive/format.js'
import {ArchiveError, MAX_ENTRY_BYTES} from '../../archive/reader.js'
import {quote, recordProblem} from '../../archive/validate.js'
import {OperationError} from '../../errors.js'
import {parentZnodePath} from '../../zk/uri.js'
import {type DiskState} from '../../zkdisk/index.js'
import {growthCollector} from '../collect-garbage.js'
import {recordOfNode} from '../znode-record.js'

/** A walk of hundreds of thousands of znodes gives the event loop (the session's pings) a turn this often. */
const RECORDS_PER_TURN = 10_000
/** What a walk's turn may leave on the heap before it collects (about 10,000 records' worth, waiting in the restore's pipeline). */
const WALK_HEAP_GROWTH = 8 * 1024 * 1024

/** `state` as a restore source; `display` names it in the plan, the result and any problem. */
export function stateSource(state: DiskState, display: string): RestoreSource {
  // The source holds the only reference its callers keep: release() lets the tree go.
  let held: DiskState | undefined = state
  return {
    display,
    async *records(): AsyncGenerator<SourceItem> {
      const tree = held
      if (!tree) throw new OperationError(`${display} was read after the restore let it go`)
      yield {kind: 'root', root: '/'}
      const shape = new WalkShape()
      const collect = growthCollector(WALK_HEAP_GROWTH)
      let count = 0
      for (const [path, node] of tree.walk('/')) {
        const record = recordOfNode(path, node)
        const {data} = node
        const problem = znodeProblem(path, record) ?? shape.add(path, record.type === 'ephemeral')
        if (problem) throw new ArchiveError(display, problem)
        yield {data, kind: 'znode', record, relativePath: path}
        if (++count % RECORDS_PER_TURN !== 0) continue
        collect()
        await new Promise((resolve) => setImmediate(resolve))
      }
    },
    release() {
      held = undefined
    },
  }
}

/** The checks of one record the archive reader makes (path, type, ACL, stat, sizes, counter). The data's length is the stat's by construction. */
function znodeProblem(path: string, record: ZnodeRecord): string | undefined {
  const problem = recordProblem(record, MAX_ENTRY_BYTES)
  return problem && `${quote(path)}: ${problem}`
}

/**
 * The walk's paths together, as TreeShape checks an archive's: the first is the root, each one's
 * parent came before it, none under an ephemeral. The walk is strictly depth first, so a stack of
 * ancestors does what TreeShape's Set of every path does, in memory bounded by the tree's depth.
 */
class WalkShape {
  private readonly ancestors: Array<{ephemeral: boolean; path: string}> = []

  add(path: string, ephemeral: boolean): string | undefined {
    const {ancestors} = this
    if (ancestors.length === 0 && path !== '/') return `the first record is ${quote(path)}, not the root`
    if (ancestors.length > 0) {
      const parent = parentZnodePath(path)
      while (ancestors.length > 0 && ancestors.at(-1)!.path !== parent) ancestors.pop()
      const top = ancestors.at(-1)
      if (path === '/' || !top) return `the parent of ${quote(path)} is not recorded before it`
      if (top.ephemeral) return `${quote(path)} is the child of an ephemeral znode`
    }

    ancestors.push({ephemeral, path})
    return undefined
  }
}
