/**
 * The transactions of a data-directory archive (`zk backup --data-dir`, a repository's base): the
 * whole archive is checked first (structure, magic, the manifest's sizes and SHA-256s), then read
 * again for its logs, each held alone while it is decoded, in zxid order. Logs stored out of that
 * order are taken up in a further pass each, rather than held.
 */
import {basename} from 'node:path'

import type {StorageProvider} from '../../providers/types.js'
import type {DecodedTxn} from '../../zkdisk/txn.js'

import {type CheckedMember, readDataDirArchive} from '../../archive/datadir.js'
import {OperationError} from '../../errors.js'
import {compareZxid} from '../../zk/zxid.js'
import {DiskFormatError} from '../../zkdisk/errors.js'
import {parseLogName} from '../../zkdisk/files.js'
import {readTxnLog} from '../../zkdisk/log-scan.js'
import {OnceEach, type TxnSource} from './source.js'

export function archiveSource(archive: StorageProvider): TxnSource {
  return {
    display: archive.display,
    async readTxns(visit) {
      await readArchiveLogs(archive, new OnceEach(visit))
    },
  }
}

/** Offers the archive's transactions to `once`, oldest first. */
export async function readArchiveLogs(archive: StorageProvider, once: OnceEach): Promise<void> {
  const summary = await readDataDirArchive(await archive.read(), archive.display)
  const pending = summary.members
    .flatMap((member) => {
      const zxid = logZxid(member)
      return zxid === undefined ? [] : [{name: member.name, zxid}]
    })
    .sort((a, b) => compareZxid(a.zxid, b.zxid))
  while (pending.length > 0 && !once.done) {
    const before = pending.length
    let chunks: Buffer[] = []
    await readDataDirArchive(await archive.read(), archive.display, {
      expect: summary,
      onData(member, chunk) {
        if (member.name === pending[0]?.name && !once.done) chunks.push(chunk)
      },
      onEnd(member) {
        if (member.name !== pending[0]?.name || once.done) return
        pending.shift()
        const bytes = Buffer.concat(chunks)
        chunks = []
        for (const txn of logTxns(archive, member.name, bytes)) once.offer(txn)
      },
    })
    if (pending.length === before)
      throw new OperationError(`${archive.display}: ${pending[0].name} was not found on reading the archive again`)
  }
}

function logTxns(archive: StorageProvider, name: string, bytes: Buffer): DecodedTxn[] {
  try {
    return readTxnLog({bytes, name: basename(name)}).txns
  } catch (error) {
    if (error instanceof DiskFormatError) throw new OperationError(`${archive.display}: ${error.message} (${name})`)
    throw error
  }
}

function logZxid(member: CheckedMember): bigint | undefined {
  if (member.type !== 'file' || !/(^|\/)version-2\/log\.[^/]+$/.test(member.name)) return undefined
  return parseLogName(basename(member.name))
}
