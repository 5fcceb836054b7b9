import type {WireSession} from '../../src/zk/wire/session.js'

/**
 * The ceilings: the same work as a backup or a restore done the fastest way each request kind
 * allows, with nothing else (no archive, no checks), results thrown away.
 */
import {Pipeline} from '../../src/engine/pipeline.js'
import {ZkError, type ZkSession} from '../../src/zk/session.js'
import {joinZnodePath} from '../../src/zk/uri.js'
import {seedTree, treeShape, type TreeSpec} from './tree.js'

const PIPELINE_DEPTH = 256
const MULTI_READ_PATHS = 100
const MULTI_READS_IN_FLIGHT = 4

const elapsed = (started: number) => (performance.now() - started) / 1000

/** Pipelined single requests: data and children of every znode (and its ACL with `withAcl`), discovered as the walk goes. */
export async function rawRead(session: ZkSession, root: string, withAcl: boolean): Promise<number> {
  const started = performance.now()
  const pipeline = new Pipeline(PIPELINE_DEPTH)
  const pending = [root]
  while (pending.length > 0) {
    const path = pending.pop()!

    await pipeline.add(async () => {
      // Children only where the stat says there are some, as the CLI's single-request reader does (most znodes are leaves).
      const [{stat}] = await Promise.all([session.getData(path), withAcl && session.getAcl(path)])
      if (stat.numChildren > 0)
        for (const child of await session.getChildren(path)) pending.push(joinZnodePath(path, child))
    })

    if (pending.length === 0) await pipeline.drain()
  }

  return elapsed(started)
}

/**
 * The walk in multi-read batches (getData + getChildren of 100 paths), 4 in flight; with
 * `aclSessions`, each path's ACL too (multi-read cannot batch getACL), spread over those sessions.
 */
export async function rawMultiRead(wire: WireSession, root: string, aclSessions: WireSession[]): Promise<number> {
  const started = performance.now()
  const pipeline = new Pipeline(MULTI_READS_IN_FLIGHT)
  const pending = [root]
  let aclReads = 0
  while (pending.length > 0) {
    const paths = pending.splice(-MULTI_READ_PATHS)

    await pipeline.add(async () => {
      const acls = paths.flatMap((path) =>
        aclSessions.length === 0 ? [] : [aclSessions[aclReads++ % aclSessions.length].getAcl(path)],
      )
      const [results] = await Promise.all([
        wire.multiRead(
          paths.flatMap((path) => [
            {kind: 'getData' as const, path},
            {kind: 'getChildren' as const, path},
          ]),
        ),
        Promise.all(acls),
      ])
      for (const [index, result] of results.entries()) {
        if (result instanceof ZkError) throw result
        if (result.kind === 'getChildren')
          for (const child of result.children) pending.push(joinZnodePath(paths[index >> 1], child))
      }
    })

    if (pending.length === 0) await pipeline.drain()
  }

  return elapsed(started)
}

/** Pipelined single creates in parent-first order (the server applies a session's requests in order). */
export async function rawWrite(session: ZkSession, root: string, spec: TreeSpec): Promise<number> {
  const started = performance.now()
  const pipeline = new Pipeline(PIPELINE_DEPTH)
  for (const {index, length, path} of treeShape(root, spec)) {
    await pipeline.add(() => session.create(path, spec.data(index, length), 0))
  }

  await pipeline.drain()
  return elapsed(started)
}

/** The same creates in multi transactions, as the restore's writer builds them. */
export async function rawMultiWrite(wire: WireSession, root: string, spec: TreeSpec): Promise<number> {
  const started = performance.now()
  await seedTree(wire, root, spec)
  return elapsed(started)
}
