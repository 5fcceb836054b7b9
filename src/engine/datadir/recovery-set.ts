/**
 * The files a recovery needs, chosen and pinned as ZooKeeper's own loading picks them
 * (FileTxnSnapLog.restore): the newest snapshot whose seals are complete, the newest log starting
 * at or before its zxid and every later log, each log cut after its last whole, checksummed
 * transaction. Safe on a running node: snapshots are written in place (a half-written one fails
 * the seal check and is passed over), the logs are listed after the snapshot is read (so they hold
 * every change the fuzzy snapshot caught), and a file purged before it was pinned starts the choice
 * again.
 */
import {createHash} from 'node:crypto'
import {readdir} from 'node:fs/promises'
import {join} from 'node:path'

import type {PinnedFile, Pins} from './pin.js'

import {OperationError} from '../../errors.js'
import {compareZxid, hexZxid} from '../../zk/zxid.js'
import {DiskFormatError} from '../../zkdisk/errors.js'
import {parseLogName, parseSnapshotName} from '../../zkdisk/files.js'
import {readSnapshot, type SnapshotContent} from '../../zkdisk/snapshot.js'
import {wholeEntriesOfRanges} from '../../zkdisk/txnlog.js'

export interface ChosenFile {
  kind: 'log' | 'snapshot'
  /** The bytes to copy: a snapshot whole, a log up to its last whole transaction (or whole, when not cut). */
  length: number
  /** Its name in version-2/ ("snapshot.1a", "log.1b"). */
  name: string
  pinned: PinnedFile
}

export interface RecoverySet {
  /** The logs were cut after their last whole transaction (not copied whole). */
  cut: boolean
  /** The last whole transaction of the logs. */
  lastTxn?: {time: bigint; zxid: bigint}
  /** Oldest first. */
  logs: ChosenFile[]
  /** Snapshots passed over (half-written, damaged), empty logs left out. */
  notes: string[]
  snapshot?: ChosenSnapshot
}

/**
 * The snapshot as read to check its seals: the copy's check replays this content once the copy's
 * SHA-256 matches these bytes', and lets go of it then (the replayed tree is all that must stay).
 */
export type ChosenSnapshot = ChosenFile & {content?: SnapshotContent; sha256: string; zxid: bigint}

export interface RecoveryDirs {
  logs: string
  /** The version-2/ directories holding the snapshots and the logs (the same one when the node has no dataLogDir). */
  snapshots: string
}

/** ZooKeeper tries up to 100 snapshots, newest first. */
const SNAPSHOTS_TRIED = 100
/** Choices restarted because a file was purged between listing and pinning: more means a purge storm. */
const ATTEMPTS = 5

export async function chooseRecoverySet(
  dirs: RecoveryDirs,
  pins: Pins,
  {cutLogs}: {cutLogs: boolean},
): Promise<RecoverySet> {
  for (let attempt = 1; attempt <= ATTEMPTS; attempt++) {
    const chosen = await tryChoose(dirs, pins, cutLogs)
    if (chosen) return chosen
  }

  throw new OperationError(
    `the files in ${dirs.snapshots} kept being purged while they were chosen (${ATTEMPTS} attempts): try again, or when autopurge is less busy`,
  )
}

/** Undefined when a chosen file vanished before it was pinned. */
async function tryChoose(dirs: RecoveryDirs, pins: Pins, cutLogs: boolean): Promise<RecoverySet | undefined> {
  const notes: string[] = []
  const snapshot = await newestSealedSnapshot(dirs.snapshots, pins, notes)
  if (snapshot === null) return undefined
  const logNames = (await names(dirs.logs)).flatMap((name) => {
    const zxid = parseLogName(name)
    return zxid === undefined ? [] : [{name, zxid}]
  })
  logNames.sort((a, b) => compareZxid(a.zxid, b.zxid))
  const first = snapshot
    ? Math.max(
        0,
        logNames.findLastIndex((log) => log.zxid <= snapshot.zxid),
      )
    : 0
  const selected = logNames.slice(first)
  if (!snapshot && selected.length > 0 && selected[0].zxid !== 1n) {
    throw new OperationError(
      `${join(dirs.logs, selected[0].name)}: no snapshot, and the first log starts at ${hexZxid(selected[0].zxid)}: what came before it is missing, ZooKeeper could not load these files either`,
    )
  }

  const logs: ChosenFile[] = []
  let lastTxn: RecoverySet['lastTxn']
  for (const [index, {name}] of selected.entries()) {
    const pinned = await pins.pin(join(dirs.logs, name))
    if (!pinned) return undefined
    const newest = index === selected.length - 1
    // ZooKeeper creates a log and writes its header with the first transaction: seen in between, it is empty.
    if (newest && pinned.size < 16) {
      notes.push(`left out ${name}: ${pinned.size} bytes, its header not written yet`)
      continue
    }

    const entries = wholeEntriesOfRanges(name, pinned.size, (position, length) => pins.readAt(pinned, position, length))
    if (entries.last) lastTxn = entries.last
    logs.push({kind: 'log', length: cutLogs ? entries.end : pinned.size, name, pinned})
  }

  return {cut: cutLogs, logs, notes, ...(snapshot ? {snapshot} : {}), ...(lastTxn ? {lastTxn} : {})}
}

/** The newest snapshot that reads whole, pinned; undefined when there is none at all, null when one vanished. */
async function newestSealedSnapshot(
  dir: string,
  pins: Pins,
  notes: string[],
): Promise<ChosenSnapshot | null | undefined> {
  const snapshots = (await names(dir)).flatMap((name) => {
    const parsed = parseSnapshotName(name)
    return parsed ? [{name, zxid: parsed.zxid}] : []
  })
  snapshots.sort((a, b) => compareZxid(b.zxid, a.zxid))
  const failures: string[] = []
  for (const {name, zxid} of snapshots.slice(0, SNAPSHOTS_TRIED)) {
    const pinned = await pins.pin(join(dir, name))
    if (!pinned) {
      // Purged since listed: only older ones than those still here go, so the newer ones were tried already.
      if (failures.length === 0) return null
      continue
    }

    try {
      const bytes = pins.read(pinned)
      const content = readSnapshot({bytes, name})
      const sha256 = createHash('sha256').update(bytes).digest('hex')
      return {content, kind: 'snapshot', length: pinned.size, name, pinned, sha256, zxid}
    } catch (error) {
      if (!(error instanceof DiskFormatError)) throw error
      failures.push(error.message)
      notes.push(`left out ${name}: not whole (${error.message}), as when ZooKeeper is still writing it`)
    }
  }

  if (failures.length > 0)
    throw new OperationError(
      `no snapshot in ${dir} reads whole (newest: ${failures[0]}): ZooKeeper could not load these files either`,
    )
  return undefined
}

async function names(dir: string): Promise<string[]> {
  const entries = await readdir(dir, {withFileTypes: true})
  return entries.filter((entry) => entry.isFile()).map((entry) => entry.name)
}
