/**
 * A point's base archive, checked whole as the restore checks an archive, streamed into a private
 * directory as the data directory it was taken from: its snapshots and logs, one file each. Nothing
 * of it is held in memory; a replay reads the snapshot once and each log in place (readLogFile).
 */
import {closeSync, openSync, writeSync} from 'node:fs'
import {mkdir, readdir} from 'node:fs/promises'
import {basename, join} from 'node:path'

import type {StorageProvider} from '../../providers/types.js'

import {DataDirArchiveError, isStateFile, readDataDirArchive} from '../../archive/datadir.js'
import {compareZxid} from '../../zk/zxid.js'
import {parseLogName, parseSnapshotName} from '../../zkdisk/files.js'

export interface NamedZxid {
  name: string
  zxid: bigint
}

export interface StagedBase {
  dir: string
  /** Oldest first. */
  logs: NamedZxid[]
  /** Newest first. */
  snapshots: NamedZxid[]
}

export async function stageBase(base: StorageProvider, dir: string): Promise<StagedBase> {
  await mkdir(dir, {recursive: true})
  let fd: number | undefined
  try {
    await readDataDirArchive(await base.read(), base.display, {
      onData(_member, chunk) {
        if (fd === undefined) return
        for (let offset = 0; offset < chunk.length;) offset += writeSync(fd, chunk, offset)
      },
      onEnd() {
        if (fd !== undefined) closeSync(fd)
        fd = undefined
      },
      onMember(member) {
        const relative = member.target?.relative ?? ''
        if (member.type !== 'file' || !isStateFile(relative)) return
        try {
          fd = openSync(join(dir, basename(relative)), 'wx')
        } catch {
          throw new DataDirArchiveError(base.display, `${basename(relative)} is both in snapshot/ and transactions/`)
        }
      },
    })
  } finally {
    if (fd !== undefined) closeSync(fd)
  }

  const names = await readdir(dir)
  const byZxid = (a: NamedZxid, b: NamedZxid) => compareZxid(a.zxid, b.zxid)
  const named = (zxidOf: (name: string) => bigint | undefined) =>
    names.flatMap((name) => {
      const zxid = zxidOf(name)
      return zxid === undefined ? [] : [{name, zxid}]
    })
  return {
    dir,
    logs: named(parseLogName).sort(byZxid),
    snapshots: named((name) => parseSnapshotName(name)?.zxid)
      .sort(byZxid)
      .reverse(),
  }
}
