/** Reads archives for comparison, and takes them apart and puts them back together to damage them. */
import {createReadStream} from 'node:fs'
import {gunzipSync, gzipSync} from 'node:zlib'
import {Header, Parser, Pax, type ReadEntry} from 'tar'

import type {ArchiveHeader, Manifest, ZnodeRecord} from '../../src/archive/format.js'
import {readArchive} from '../../src/archive/reader.js'
import {sorted, subtree, type TreeSnapshot} from './tree.js'

export interface ArchiveContent {
  header: ArchiveHeader
  manifest: Manifest
  records: ZnodeRecord[]
  /** What a restore must reproduce, keyed by path relative to the archive's root. */
  tree: TreeSnapshot
}

/** Reads (and so verifies) a whole archive file. Ephemerals are left out of `tree` unless asked for. */
export async function readArchiveFile(file: string, {ephemerals = false, from}: {ephemerals?: boolean; from?: string} = {}): Promise<ArchiveContent> {
  let header: ArchiveHeader | undefined
  let manifest: Manifest | undefined
  const records: ZnodeRecord[] = []
  let tree: TreeSnapshot = {}
  for await (const item of readArchive(createReadStream(file), file)) {
    if (item.kind === 'header') header = item.header
    else if (item.kind === 'manifest') manifest = item.manifest
    else {
      records.push(item.record)
      if (item.record.type !== 'ephemeral' || ephemerals) {
        tree[item.relativePath] = {acl: item.record.acl, data: item.data.toString('base64'), ttl: item.record.ttl ?? null, type: item.record.type}
      }
    }
  }

  if (from) tree = subtree(tree, from)
  return {header: header!, manifest: manifest!, records, tree: sorted(tree)}
}

export interface TarMember {
  path: string
  body: Buffer
  /** Default 'File'; links and devices have no body. */
  type?: 'File' | 'SymbolicLink' | 'Link' | 'CharacterDevice'
  linkpath?: string
}

/** The members of a (gzip) tar, in order. */
export async function tarMembers(tar: Buffer): Promise<TarMember[]> {
  const members: Array<Promise<TarMember>> = []
  const parser = new Parser({
    onReadEntry(entry: ReadEntry) {
      members.push(
        new Promise((resolve) => {
          const chunks: Buffer[] = []
          entry.on('data', (chunk: Buffer) => chunks.push(chunk))
          entry.on('end', () => resolve({body: Buffer.concat(chunks), path: entry.path}))
        }),
      )
    },
  })
  await new Promise<void>((resolve, reject) => {
    parser.on('error', reject)
    parser.on('end', resolve)
    parser.end(tar)
  })
  return Promise.all(members)
}

/** A gzip tar of `members` in this order, written the way the archive writer does. */
export function tarGz(members: TarMember[]): Buffer {
  const mtime = new Date()
  const blocks: Buffer[] = []
  for (const {body, linkpath, path, type = 'File'} of members) {
    const header = new Header({devmaj: 1, devmin: 3, gid: 0, linkpath, mode: 0o644, mtime, path, size: body.length, type, uid: 0})
    if (header.encode()) blocks.push(new Pax({mtime, path, size: body.length}).encode())
    blocks.push(header.block!, body, Buffer.alloc((512 - (body.length % 512)) % 512))
  }

  blocks.push(Buffer.alloc(1024))
  return gzipSync(Buffer.concat(blocks))
}

export {gunzipSync}

/** What damaged variants are made from: a good archive and foreign gzip tars. */
export interface ArchiveMaterial {
  good: Buffer
  members: TarMember[]
  /** A string in the data of exactly one znode of the good archive. */
  marker: string
  /** A gzip tar of plain files made with the tar package; one of a directory made with the tar command. */
  npmTar: Buffer
  tarCommand: Buffer
}

export interface BadArchive {
  name: string
  make: (material: ArchiveMaterial) => Buffer
  /** What the verification failure says. */
  problem: RegExp
}

const truncated = (name: string, at: (length: number) => number): BadArchive => ({
  make: ({good}) => good.subarray(0, at(good.length)),
  name: `truncated at ${name}`,
  problem: /truncated/,
})

/** Damaged and foreign variants of a good archive, each with what its verification must report. */
export const BAD_ARCHIVES: BadArchive[] = [
  {make: () => Buffer.alloc(0), name: 'an empty file', problem: /the archive is empty/},
  {make: () => gzipSync(Buffer.alloc(0)), name: 'an empty gzip stream', problem: /the archive is empty/},
  truncated('byte 10 (in the gzip header)', () => 10),
  truncated('half', (length) => length >> 1),
  truncated('the last 100 bytes', (length) => length - 100),
  truncated('the last byte', (length) => length - 1),
  {
    make({good}) {
      const bytes = Buffer.from(good)
      bytes[bytes.length >> 1] ^= 0x10
      return bytes
    },
    name: 'one bit flipped in the middle of the gzip stream',
    problem: /failed verification/,
  },
  {
    make({good, marker}) {
      const tar = gunzipSync(good)
      const at = tar.indexOf(marker)
      if (at < 0 || tar.indexOf(marker, at + 1) >= 0) throw new Error(`"${marker}" must occur once in the archive`)
      tar[at + 3] ^= 0x01
      return gzipSync(tar)
    },
    name: "a byte changed in a znode's data inside the tar, re-gzipped",
    problem: /checksum mismatch for \/t-/,
  },
  {make: () => Buffer.from('this is not an archive\n'.repeat(100)), name: 'plain text', problem: /not a gzip or tar archive/},
  {make: () => gzipSync(Buffer.from('just some text, not a tar\n'.repeat(200))), name: 'gzip of text', problem: /not a valid tar stream/},
  {make: () => gzipSync(Buffer.from('short text\n')), name: 'gzip of a short text', problem: /not a valid tar stream|truncated|empty/},
  {make: ({npmTar}) => npmTar, name: 'a gzip tar of other files (tar package)', problem: /not a dcos-zk-backup archive \(its first member is "notes.txt"/},
  {make: ({tarCommand}) => tarCommand, name: 'a gzip tar of a directory (tar command)', problem: /member "\.\/" is a Directory, not a regular file/},
  {
    make({members}) {
      const header = JSON.parse(members[0].body.toString('utf8')) as ArchiveHeader
      const body = Buffer.from(`${JSON.stringify({...header, formatVersion: 99}, null, 2)}\n`)
      return tarGz([{body, path: members[0].path}, ...members.slice(1)])
    },
    name: 'format version 99 (nothing else recomputed)',
    problem: /format version 99 is newer than this tool reads \(1\): upgrade/,
  },
  {
    make({members}) {
      const [a, b] = siblingLeaves(members)
      const end = b.start + b.count
      return tarGz([...members.slice(0, a.start), ...members.slice(b.start, end), ...members.slice(a.start, b.start), ...members.slice(end)])
    },
    name: 'two sibling znodes in swapped order',
    problem: /the tree digest does not match/,
  },
  {
    make({members}) {
      const [a] = siblingLeaves(members)
      return tarGz(members.filter((_, index) => index < a.start || index >= a.start + a.count))
    },
    name: 'a znode left out',
    problem: /the manifest lists \d+ znodes, the archive holds \d+/,
  },
  {
    make: ({members}) => tarGz([...members.slice(0, -1), {body: Buffer.from('extra'), path: 'extra.txt'}, members.at(-1)!]),
    name: 'an extra member before SHA256SUMS',
    problem: /unexpected member "extra.txt"/,
  },
  ...hostileMembers(),
]

/** Members that would write outside the extraction directory or make things other than files, put right after the header. */
function hostileMembers(): BadArchive[] {
  const empty = Buffer.alloc(0)
  const cases: Array<[string, TarMember, RegExp]> = [
    ['a member with an absolute path', {body: Buffer.from('owned'), path: '/tmp/dcos-evil'}, /member "\/tmp\/dcos-evil" has an unsafe path/],
    ['a member with ".." in its path', {body: Buffer.from('owned'), path: 'zk/../../dcos-evil'}, /member "zk\/\.\.\/\.\.\/dcos-evil" has an unsafe path/],
    ['a symbolic link member', {body: empty, linkpath: '/etc/passwd', path: 'zk/link', type: 'SymbolicLink'}, /member "zk\/link" is a SymbolicLink, not a regular file/],
    ['a hard link member', {body: empty, linkpath: '/etc/passwd', path: 'zk/hard', type: 'Link'}, /member "zk\/hard" is a Link, not a regular file/],
    ['a device file member', {body: empty, path: 'zk/null', type: 'CharacterDevice'}, /member "zk\/null" is a CharacterDevice, not a regular file/],
  ]
  return cases.map(([name, member, problem]) => ({make: ({members}) => tarGz([members[0], member, ...members.slice(1)]), name, problem}))
}

/** Two adjacent sibling leaf znodes of the archive: where their members (record, then data) start, and how many. */
function siblingLeaves(members: TarMember[]): [{start: number; count: number}, {start: number; count: number}] {
  const leaves: Array<{start: number; count: number; parent: string}> = []
  const directories = members.filter(({path}) => path.endsWith('/.znode.json')).map(({path}) => path.slice(0, -'.znode.json'.length))
  for (let index = 1; index < members.length; index++) {
    const {path} = members[index]
    if (!path.endsWith('/.znode.json')) continue
    const directory = path.slice(0, -'.znode.json'.length)
    const count = members[index + 1]?.path === `${directory}.data` ? 2 : 1
    const parent = directory.split('/').slice(0, -2).join('/')
    // The walk reads many znodes at once, so a znode's children need not follow it directly.
    if (!directories.some((other) => other !== directory && other.startsWith(directory))) leaves.push({count, parent, start: index})
  }

  // Two leaves with the same parent, one right after the other.
  const second = leaves.findIndex((leaf, index) => index > 0 && leaf.parent === leaves[index - 1].parent && leaves[index - 1].start + leaves[index - 1].count === leaf.start)
  if (second < 1) throw new Error('the archive needs two adjacent sibling leaves')
  return [leaves[second - 1], leaves[second]]
}
