/**
 * The transactions of a node's own log directory (`--data-dir D [--log-dir L]`), running or not:
 * each log read alone, in zxid order, in place (its preallocated zeros never held), up to its last
 * whole transaction (the node may be appending to the newest: a torn tail ends it). Nothing is written.
 */
import {closeSync, fstatSync, openSync, readSync} from 'node:fs'
import {readdir} from 'node:fs/promises'
import {join} from 'node:path'

import {OperationError} from '../../errors.js'
import {compareZxid} from '../../zk/zxid.js'
import {versionDirectory} from '../../zkdisk/directories.js'
import {parseLogName} from '../../zkdisk/files.js'
import {decodeAll, readLogFile, type TxnLogContent} from '../../zkdisk/log-scan.js'
import {HEADER_LENGTH} from '../../zkdisk/txnlog.js'
import {OnceEach, type TxnSource} from './source.js'

export function directorySource(dataDir: string, logDir?: string): TxnSource {
  return {
    display: logDir ?? dataDir,
    async readTxns(visit) {
      const dir = versionDirectory(logDir ?? dataDir)
      const logs = (await readdir(dir))
        .flatMap((name) => {
          const zxid = parseLogName(name)
          return zxid === undefined ? [] : [{name, zxid}]
        })
        .sort((a, b) => compareZxid(a.zxid, b.zxid))
      const once = new OnceEach(visit)
      for (const {name} of logs) {
        for (const txn of readInPlace(join(dir, name), name)?.txns ?? []) once.offer(txn)
        if (once.done) return
      }
    },
  }
}

/** Undefined for a log whose header is not written yet (ZooKeeper writes it with the first txn). */
function readInPlace(path: string, name: string): TxnLogContent | undefined {
  let fd: number
  try {
    fd = openSync(path, 'r')
  } catch (error) {
    const {code, message} = error as NodeJS.ErrnoException
    throw new OperationError(`${path} could not be read (${code ?? message}): if autopurge removed it, run again`)
  }

  try {
    const {size} = fstatSync(fd)
    const header = Buffer.alloc(HEADER_LENGTH)
    if (
      size < HEADER_LENGTH ||
      readSync(fd, header, 0, HEADER_LENGTH, 0) < HEADER_LENGTH ||
      header.readUInt32BE(0) === 0
    )
      return undefined
    return decodeAll(
      readLogFile({name, read: (target, position, length) => readSync(fd, target, 0, length, position), size}),
    )
  } finally {
    closeSync(fd)
  }
}
