/**
 * The transactions of a node's own log directory (`--data-dir D [--log-dir L]`), running or not:
 * each log read alone, in zxid order, up to its last whole, checksummed transaction (the node may
 * be appending to the newest). Nothing is written.
 */
import {readdir, readFile} from 'node:fs/promises'
import {join} from 'node:path'

import {OperationError} from '../../errors.js'
import {compareZxid} from '../../zk/zxid.js'
import {versionDirectory} from '../../zkdisk/directories.js'
import {parseLogName} from '../../zkdisk/files.js'
import {HEADER_LENGTH, readTxnLog, wholeEntries} from '../../zkdisk/txnlog.js'
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
        const bytes = await readFile(join(dir, name)).catch((error: NodeJS.ErrnoException) => {
          throw new OperationError(
            `${join(dir, name)} could not be read (${error.code ?? error.message}): if autopurge removed it, run again`,
          )
        })
        // ZooKeeper writes a new log's header with its first transaction: seen in between, it is empty.
        if (bytes.length < HEADER_LENGTH || bytes.readUInt32BE(0) === 0) continue
        const {end} = wholeEntries({bytes, name})
        for (const txn of readTxnLog({bytes: bytes.subarray(0, end), name}).txns) once.offer(txn)
        if (once.done) return
      }
    },
  }
}
