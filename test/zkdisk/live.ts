/**
 * The live tree as a client reads it (every znode, /zookeeper included, with its raw stat), and its
 * comparison with a state replayed from disk.
 */
import {isDeepStrictEqual} from 'node:util'

import type {Acl, Stat, ZkSession} from '../../src/zk/session.js'
import type {DiskState} from '../../src/zkdisk/index.js'

export interface LiveZnode {
  acl: Acl[]
  data: Buffer
  stat: Stat
}

export type LiveTree = Map<string, LiveZnode>

export async function readLiveTree(session: ZkSession): Promise<LiveTree> {
  const tree: LiveTree = new Map()
  const pending = ['/']
  while (pending.length > 0) {
    const paths = pending.splice(0)

    await Promise.all(
      paths.map(async (path) => {
        const [{data, stat}, {acl}] = await Promise.all([session.getData(path), session.getAcl(path)])
        tree.set(path, {acl, data, stat})
        const children = stat.numChildren > 0 ? await session.getChildren(path) : []
        for (const name of children) pending.push(path === '/' ? `/${name}` : `${path}/${name}`)
      }),
    )
  }

  return tree
}

/** Every difference between what the client read and the replayed state, as readable lines. */
export function differences(live: LiveTree, state: DiskState): string[] {
  const found: string[] = []
  for (const path of live.keys()) if (!state.znodes.has(path)) found.push(`${path}: missing from the disk state`)
  for (const path of state.znodes.keys()) if (!live.has(path)) found.push(`${path}: on disk only`)
  for (const [path, expected] of live) {
    const actual = state.znodes.get(path)
    if (!actual) continue
    if (!expected.data.equals(actual.data))
      found.push(`${path}: data ${actual.data.toString('base64')} instead of ${expected.data.toString('base64')}`)
    if (!isDeepStrictEqual(actual.acl, expected.acl))
      found.push(`${path}: ACL ${JSON.stringify(actual.acl)} instead of ${JSON.stringify(expected.acl)}`)
    for (const [field, value] of Object.entries(clientStat(expected.stat))) {
      const diskValue = diskStatAsClientSees(actual)[field]
      if (diskValue !== value) found.push(`${path}: ${field} ${diskValue} instead of ${value}`)
    }
  }

  return found
}

function clientStat(stat: Stat): Record<string, bigint | number> {
  return {
    aversion: stat.aversion,
    ctime: stat.ctime.getTime(),
    cversion: stat.cversion,
    czxid: BigInt(stat.czxid),
    dataLength: stat.dataLength,
    ephemeralOwner: BigInt(`0x${stat.ephemeralOwner}`),
    mtime: stat.mtime.getTime(),
    mzxid: BigInt(stat.mzxid),
    numChildren: stat.numChildren,
    pzxid: BigInt(stat.pzxid),
    version: stat.version,
  }
}

/** The server shows containers and TTL znodes an ephemeralOwner of 0. */
function diskStatAsClientSees(
  znode: NonNullable<ReturnType<DiskState['znodes']['get']>>,
): Record<string, bigint | number> {
  const {stat, type} = znode
  return {...stat, ephemeralOwner: type === 'container' || type === 'ttl' ? 0n : stat.ephemeralOwner}
}

/**
 * The last digest check of a replay, taken as passed when there was none to make: a snapshot's
 * digest can be older than its zxid (ZooKeeper then ignores it too), and no transaction may follow.
 */
export function lastDigestCheck(state: DiskState): {matched: boolean; zxid: bigint} {
  return state.digests.lastCheck ?? {matched: true, zxid: state.zxid}
}
