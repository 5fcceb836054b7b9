/** Archives written by the real writer from records a test makes up: types, TTLs and ACLs no live server would hand a backup. */
import {createWriteStream} from 'node:fs'
import {pipeline} from 'node:stream/promises'

import {FORMAT_NAME, FORMAT_VERSION, type NodeType, type ZnodeRecord} from '../../src/archive/format.js'
import {ArchiveWriter} from '../../src/archive/writer.js'
import {type Acl, OPEN_ACL} from '../../src/zk/session.js'
import {resolveZnodePath} from '../../src/zk/uri.js'

export interface CraftedZnode {
  acl?: Acl[]
  data?: string
  /** Relative to the archive's root ("/" for the root). */
  path: string
  ttl?: number
  type?: NodeType
}

/** Writes `znodes` (parents first) as an archive of `root`. */
export async function writeCraftedArchive(file: string, root: string, znodes: CraftedZnode[]): Promise<void> {
  const now = new Date().toISOString()
  const writer = new ArchiveWriter({
    createdAt: now,
    format: FORMAT_NAME,
    formatVersion: FORMAT_VERSION,
    options: {exclude: [], includeEphemerals: false},
    source: {hosts: ['crafted:2181'], root},
    tool: 'test',
    zxidStart: '0x1',
  })
  const written = pipeline(writer.output, createWriteStream(file, {mode: 0o600}))
  let dataBytes = 0
  for (const znode of znodes) {
    const data = Buffer.from(znode.data ?? '')
    dataBytes += data.length
    const record: ZnodeRecord = {
      acl: znode.acl ?? OPEN_ACL,
      path: resolveZnodePath(root, znode.path),
      sequential: false,
      stat: {
        aversion: 0,
        ctime: now,
        cversion: 0,
        czxid: '0x1',
        dataLength: data.length,
        mtime: now,
        mzxid: '0x1',
        numChildren: 0,
        pzxid: '0x1',
        version: 0,
      },
      type: znode.type ?? 'persistent',
      ...(znode.ttl === undefined ? {} : {ttl: znode.ttl}),
    }

    await writer.addZnode(znode.path, record, data)
  }

  await writer.finish({
    changedDuringBackup: 0,
    completedAt: now,
    dataBytes,
    excluded: 0,
    inconsistent: [],
    inconsistentCount: 0,
    skippedEphemerals: 0,
    vanished: 0,
    zxidEnd: '0x1',
    znodes: znodes.length,
  })
  await written
}
