/** Reads archives for comparison, and takes them apart and puts them back together to damage them. */
import {createHash} from 'node:crypto'
import {createReadStream} from 'node:fs'
import {Readable} from 'node:stream'
import {gunzipSync, gzipSync} from 'node:zlib'
import {Header, Parser, Pax, type ReadEntry} from 'tar'

import {
  type ArchiveHeader,
  encodeRecord,
  entryDirectory,
  type Manifest,
  type ZnodeRecord,
} from '../../src/archive/format.js'
import {readArchive} from '../../src/archive/reader.js'
import {relativeZnodePath} from '../../src/zk/uri.js'
import {sorted, subtree, type TreeSnapshot} from './tree.js'

export interface ArchiveContent {
  header: ArchiveHeader
  manifest: Manifest
  records: ZnodeRecord[]
  /** What a restore must reproduce, keyed by path relative to the archive's root. */
  tree: TreeSnapshot
}

/** Reads (and so verifies) a whole archive file. Ephemerals are left out of `tree` unless asked for. */
export async function readArchiveFile(
  file: string,
  {ephemerals = false, from}: {ephemerals?: boolean; from?: string} = {},
): Promise<ArchiveContent> {
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
        tree[item.relativePath] = {
          acl: item.record.acl,
          data: item.data.toString('base64'),
          ttl: item.record.ttl ?? null,
          type: item.record.type,
        }
      }
    }
  }

  if (from) tree = subtree(tree, from)
  return {header: header!, manifest: manifest!, records, tree: sorted(tree)}
}

export interface TarMember {
  body: Buffer
  linkpath?: string
  path: string
  /** Default 'File'; links and devices have no body. */
  type?: 'CharacterDevice' | 'File' | 'Link' | 'SymbolicLink'
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
    const header = new Header({
      devmaj: 1,
      devmin: 3,
      gid: 0,
      linkpath,
      mode: 0o644,
      mtime,
      path,
      size: body.length,
      type,
      uid: 0,
    })
    if (header.encode()) blocks.push(new Pax({mtime, path, size: body.length}).encode())
    blocks.push(header.block!, body, Buffer.alloc((512 - (body.length % 512)) % 512))
  }

  blocks.push(Buffer.alloc(1024))
  return gzipSync(Buffer.concat(blocks))
}

/** What damaged variants are made from: a good archive and foreign gzip tars. */
export interface ArchiveMaterial {
  good: Buffer
  /** A string in the data of exactly one znode of the good archive. */
  marker: string
  members: TarMember[]
  /** A gzip tar of plain files made with the tar package; one of a directory made with the tar command. */
  npmTar: Buffer
  tarCommand: Buffer
}

export interface BadArchive {
  make: (material: ArchiveMaterial) => Buffer
  name: string
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
      if (at === -1 || tar.includes(marker, at + 1)) throw new Error(`"${marker}" must occur once in the archive`)
      tar[at + 3] ^= 0x01
      return gzipSync(tar)
    },
    name: "a byte changed in a znode's data inside the tar, re-gzipped",
    problem: /checksum mismatch for \/t-/,
  },
  {
    make: () => Buffer.from('this is not an archive\n'.repeat(100)),
    name: 'plain text',
    problem: /not a gzip or tar archive/,
  },
  {
    make: () => gzipSync(Buffer.from('just some text, not a tar\n'.repeat(200))),
    name: 'gzip of text',
    problem: /not a valid tar stream/,
  },
  {
    make: () => gzipSync(Buffer.from('short text\n')),
    name: 'gzip of a short text',
    problem: /not a valid tar stream|truncated|empty/,
  },
  {
    make: ({npmTar}) => npmTar,
    name: 'a gzip tar of other files (tar package)',
    problem: /not a dcos-zk-backup archive \(its first member is "notes.txt"/,
  },
  {
    make: ({tarCommand}) => tarCommand,
    name: 'a gzip tar of a directory (tar command)',
    problem: /member "\.\/" is a Directory, not a regular file/,
  },
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
      return tarGz([
        ...members.slice(0, a.start),
        ...members.slice(b.start, end),
        ...members.slice(a.start, b.start),
        ...members.slice(end),
      ])
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
    make: ({members}) =>
      tarGz([...members.slice(0, -1), {body: Buffer.from('extra'), path: 'extra.txt'}, members.at(-1)!]),
    name: 'an extra member before SHA256SUMS',
    problem: /unexpected member "extra.txt"/,
  },
  ...hostileMembers(),
]

/** Members that would write outside the extraction directory or make things other than files, put right after the header. */
function hostileMembers(): BadArchive[] {
  const empty = Buffer.alloc(0)
  const cases: Array<[string, TarMember, RegExp]> = [
    [
      'a member with an absolute path',
      {body: Buffer.from('owned'), path: '/tmp/dcos-evil'},
      /member "\/tmp\/dcos-evil" has an unsafe path/,
    ],
    [
      'a member with ".." in its path',
      {body: Buffer.from('owned'), path: 'zk/../../dcos-evil'},
      /member "zk\/\.\.\/\.\.\/dcos-evil" has an unsafe path/,
    ],
    [
      'a symbolic link member',
      {body: empty, linkpath: '/etc/passwd', path: 'zk/link', type: 'SymbolicLink'},
      /member "zk\/link" is a SymbolicLink, not a regular file/,
    ],
    [
      'a hard link member',
      {body: empty, linkpath: '/etc/passwd', path: 'zk/hard', type: 'Link'},
      /member "zk\/hard" is a Link, not a regular file/,
    ],
    [
      'a device file member',
      {body: empty, path: 'zk/null', type: 'CharacterDevice'},
      /member "zk\/null" is a CharacterDevice, not a regular file/,
    ],
  ]
  return cases.map(([name, member, problem]) => ({
    make: ({members}) => tarGz([members[0], member, ...members.slice(1)]),
    name,
    problem,
  }))
}

/** Two adjacent sibling leaf znodes of the archive: where their members (record, then data) start, and how many. */
function siblingLeaves(members: TarMember[]): [{count: number; start: number}, {count: number; start: number}] {
  const leaves: Array<{count: number; parent: string; start: number}> = []
  const directories = members
    .filter(({path}) => path.endsWith('/.znode.json'))
    .map(({path}) => path.slice(0, -'.znode.json'.length))
  for (let index = 1; index < members.length; index++) {
    const {path} = members[index]
    if (!path.endsWith('/.znode.json')) continue
    const directory = path.slice(0, -'.znode.json'.length)
    const count = members[index + 1]?.path === `${directory}.data` ? 2 : 1
    const parent = directory.split('/').slice(0, -2).join('/')
    // The walk reads many znodes at once, so a znode's children need not follow it directly.
    if (!directories.some((other) => other !== directory && other.startsWith(directory)))
      leaves.push({count, parent, start: index})
  }

  // Two leaves with the same parent, one right after the other.
  const second = leaves.findIndex(
    (leaf, index) =>
      index > 0 &&
      leaf.parent === leaves[index - 1].parent &&
      leaves[index - 1].start + leaves[index - 1].count === leaf.start,
  )
  if (second < 1) throw new Error('the archive needs two adjacent sibling leaves')
  return [leaves[second - 1], leaves[second]]
}

/** One znode of an archive to encode: its record and data, and optionally the member names to use. */
export interface EncodedZnode {
  data: Buffer
  dataMember?: string
  /** Default: the writer's (entryDirectory of the path relative to the root). */
  member?: string
  record: ZnodeRecord
}

/** What an archive holds, decoded: re-encoded by encodeArchive with every hash, the digest and the sums correct. */
export interface DecodedArchive {
  header: ArchiveHeader
  /** Manifest fields to override (after the counts and digest are computed). */
  manifest?: Partial<Manifest>
  znodes: EncodedZnode[]
}

const sha256 = (body: Buffer | string) => createHash('sha256').update(body).digest('hex')
const jsonBody = (value: unknown) => Buffer.from(`${JSON.stringify(value, null, 2)}\n`)

/** The members of an archive of `archive`, encoded as the writer encodes them, so mutants get past the checksums. */
export function encodeArchiveMembers(archive: DecodedArchive): TarMember[] {
  const headerBody = jsonBody(archive.header)
  const members: TarMember[] = [{body: headerBody, path: 'backup.json'}]
  const tree = createHash('sha256')
  let dataBytes = 0
  for (const {data, dataMember, member, record} of archive.znodes) {
    const relative =
      typeof record.path === 'string'
        ? (relativeZnodePath(archive.header.source.root, record.path) ?? record.path)
        : '/'
    const directory = entryDirectory(relative.startsWith('/') ? relative : `/${relative}`)
    const {json, sha256: hash} = encodeRecord(record, data)
    tree.update(hash)
    members.push({body: json, path: member ?? `${directory}/.znode.json`})
    if (data.length > 0) members.push({body: data, path: dataMember ?? `${directory}/.data`})
    dataBytes += data.length
  }

  const treeDigest = tree.digest('hex')
  const manifest: Manifest = {
    ...archive.header,
    changedDuringBackup: 0,
    completedAt: archive.header.createdAt,
    dataBytes,
    excluded: 0,
    inconsistent: [],
    inconsistentCount: 0,
    skippedEphemerals: 0,
    treeDigest,
    vanished: 0,
    znodes: archive.znodes.length,
    zxidEnd: archive.header.zxidStart,
    ...archive.manifest,
  }
  const manifestBody = jsonBody(manifest)
  members.push(
    {body: manifestBody, path: 'manifest.json'},
    {
      body: Buffer.from(
        `${sha256(headerBody)}  backup.json\n${sha256(manifestBody)}  manifest.json\n${treeDigest}  znodes/\n`,
      ),
      path: 'SHA256SUMS',
    },
  )
  return members
}

/** A gzip archive of `archive` (see encodeArchiveMembers). */
export function encodeArchive(archive: DecodedArchive): Buffer {
  return tarGz(encodeArchiveMembers(archive))
}

/** A good archive's content, decoded (the reverse of encodeArchive). */
export async function decodeArchive(bytes: Buffer): Promise<DecodedArchive> {
  let header: ArchiveHeader | undefined
  const znodes: EncodedZnode[] = []
  for await (const item of readArchive(Readable.from([bytes]), 'archive')) {
    if (item.kind === 'header') header = item.header
    else if (item.kind === 'znode') znodes.push({data: item.data, record: item.record})
  }

  return {header: header!, znodes}
}

/** A record for `path` as a backup would write it (persistent, open ACL, a plausible stat). */
export function plainRecord(
  path: string,
  data: Buffer = Buffer.alloc(0),
  fields: Partial<ZnodeRecord> = {},
): ZnodeRecord {
  return {
    acl: [{id: 'anyone', perms: 31, scheme: 'world'}],
    path,
    sequential: false,
    stat: {
      aversion: 0,
      ctime: '2026-01-01T00:00:00.000Z',
      cversion: 0,
      czxid: '0x10',
      dataLength: data.length,
      mtime: '2026-01-01T00:00:00.000Z',
      mzxid: '0x10',
      numChildren: 0,
      pzxid: '0x10',
      version: 0,
    },
    type: 'persistent',
    ...fields,
  }
}

/** A header of an archive rooted at `root`. */
export function plainHeader(root: string): ArchiveHeader {
  return {
    createdAt: '2026-01-01T00:00:00.000Z',
    format: 'dcos-zk-backup',
    formatVersion: 1,
    options: {exclude: [], includeEphemerals: false},
    source: {hosts: ['127.0.0.1:2181'], root},
    tool: 'test',
    zxidStart: '0x10',
  }
}

export {gunzipSync} from 'node:zlib'
