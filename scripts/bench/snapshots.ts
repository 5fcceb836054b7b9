/** A node's snapshots on disk: waiting for a whole one at or after a zxid, and the newest one's size. */
import {readdir, stat} from 'node:fs/promises'
import {join} from 'node:path'
import {setTimeout as sleep} from 'node:timers/promises'

import {compareZxid, hexZxid} from '../../src/zk/zxid.js'
import {parseSnapshotName} from '../../src/zkdisk/files.js'

const SNAPSHOT_WAIT_MS = 5 * 60_000

async function snapshots(dataDir: string): Promise<{name: string; zxid: bigint}[]> {
  return (await readdir(join(dataDir, 'version-2')))
    .flatMap((name) => {
      const parsed = parseSnapshotName(name)
      return parsed ? [{name, zxid: parsed.zxid}] : []
    })
    .sort((a, b) => compareZxid(a.zxid, b.zxid))
}

/** Waits until the node has written a whole snapshot at or after `zxid` (its size has stopped changing). */
export async function snapshotAfter(dataDir: string, zxid: bigint): Promise<void> {
  const deadline = Date.now() + SNAPSHOT_WAIT_MS
  let previous = -1
  while (Date.now() < deadline) {
    // The oldest such: a newer one is only begun once it is written.
    const oldest = (await snapshots(dataDir)).find((one) => one.zxid >= zxid)
    const size = oldest ? (await stat(join(dataDir, 'version-2', oldest.name))).size : -1
    if (size > 0 && size === previous) return
    previous = size
    await sleep(1000)
  }

  throw new Error(`the node wrote no snapshot at or after ${hexZxid(zxid)} within ${SNAPSHOT_WAIT_MS / 1000} s`)
}

/** The newest snapshot of a data directory: its zxid and size in bytes. */
export async function newestSnapshot(dataDir: string): Promise<{bytes: number; zxid: bigint}> {
  const newest = (await snapshots(dataDir)).at(-1)
  if (!newest) throw new Error(`no snapshot in ${join(dataDir, 'version-2')}`)
  return {bytes: (await stat(join(dataDir, 'version-2', newest.name))).size, zxid: newest.zxid}
}
