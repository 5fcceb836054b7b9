import type {Readable} from 'node:stream'
import type {ReadEntry} from 'tar'

import {createHash} from 'node:crypto'

import {OperationError} from '../errors.js'
import {escapeText, relativeZnodePath} from '../zk/uri.js'
import {
  type ArchiveHeader,
  DATA_NAME,
  decodeRecord,
  entryDirectory,
  FORMAT_NAME,
  FORMAT_VERSION,
  HEADER_ENTRY,
  type Manifest,
  MANIFEST_ENTRY,
  RECORD_NAME,
  recordSha256,
  SUMS_ENTRY,
  TREE_SUMS_NAME,
  type ZnodeRecord,
} from './format.js'
import {readTar} from './tar.js'
import {headerProblem, quote, recordProblem, shown, TreeShape} from './validate.js'

/** The archive is not a complete, intact archive of this format. Exit code 1. */
export class ArchiveError extends OperationError {
  constructor(location: string, problem: string) {
    super(`${location} failed verification: ${problem}`)
    this.name = 'ArchiveError'
  }
}

export type ArchiveItem =
  | {data: Buffer; kind: 'znode'; record: ZnodeRecord; relativePath: string; sha256: string}
  | {header: ArchiveHeader; kind: 'header'}
  | {kind: 'manifest'; manifest: Manifest}

interface TarEntry {
  body: Buffer
  path: string
  type: string
}

/** The largest member (a znode's data) an archive may hold; a replayed state's znodes are held to it too. */
export const MAX_ENTRY_BYTES = 64 * 1024 * 1024

/**
 * Reads an archive as a stream and verifies it while it goes: format and version first, then every
 * record's SHA-256, the order of entries, the tree digest, the manifest and SHA256SUMS. Throws
 * ArchiveError at the first problem; a consumer that reaches the end has read a verified archive.
 */
export async function* readArchive(input: Readable, location: string): AsyncGenerator<ArchiveItem> {
  const fail = (problem: string) => new ArchiveError(location, problem)
  const entries = tarEntries(input, fail)
  try {
    yield* verifiedItems(entries, fail)
  } finally {
    // A consumer that stops early (a failed restore) must not leave the input open: a file handle
    // closed by the garbage collector makes Node print warnings after our one-line error.
    await entries.return(undefined)
  }
}

async function* verifiedItems(
  entries: AsyncGenerator<TarEntry>,
  fail: (problem: string) => Error,
): AsyncGenerator<ArchiveItem> {
  const next = async (): Promise<TarEntry | undefined> => {
    const result = await entries.next()
    return result.done ? undefined : result.value
  }

  const first = await next()
  if (!first) throw fail('the archive is empty')
  const header = parseHeader(first, fail)
  const headerSha256 = sha256Hex(first.body)
  yield {header, kind: 'header'}

  const treeHash = createHash('sha256')
  const shape = new TreeShape()
  let znodes = 0
  let dataBytes = 0
  let entry = await next()
  while (entry && entry.path.endsWith(`/${RECORD_NAME}`)) {
    const znode = verifyRecord(entry, header.source.root, fail)
    const shapeProblem = shape.add(znode.relativePath, znode.record.type)
    if (shapeProblem) throw fail(`${znode.member}: ${shapeProblem}`)
    entry = await next()
    let data: Buffer = Buffer.alloc(0)
    if (znode.record.stat.dataLength > 0) {
      if (entry?.path !== `${znode.directory}/${DATA_NAME}`)
        throw fail(`the data of ${quote(znode.record.path)} is missing`)
      data = entry.body
      entry = await next()
    }

    if (data.length !== znode.record.stat.dataLength)
      throw fail(`the data of ${quote(znode.record.path)} has the wrong length`)
    if (recordSha256(znode.body, data) !== znode.claimedSha256)
      throw fail(`checksum mismatch for ${escapeText(znode.record.path)}`)
    treeHash.update(znode.claimedSha256)
    znodes++
    dataBytes += data.length
    yield {data, kind: 'znode', record: znode.record, relativePath: znode.relativePath, sha256: znode.claimedSha256}
  }

  if (!entry) throw fail('the archive is truncated: it ends before its manifest')
  if (entry.path !== MANIFEST_ENTRY) throw fail(`unexpected member ${quote(entry.path)}`)
  const manifest = parseJson<Manifest>(entry, fail)
  const manifestSha256 = sha256Hex(entry.body)
  const treeDigest = treeHash.digest('hex')
  checkManifest(manifest, header, {dataBytes, treeDigest, znodes}, fail)

  const sums = await next()
  if (!sums) throw fail('the archive is truncated: it ends before SHA256SUMS')
  if (sums.path !== SUMS_ENTRY) throw fail(`unexpected member ${quote(sums.path)}`)
  const expectedSums = `${headerSha256}  ${HEADER_ENTRY}\n${manifestSha256}  ${MANIFEST_ENTRY}\n${treeDigest}  ${TREE_SUMS_NAME}\n`
  if (sums.body.toString('utf8') !== expectedSums) throw fail('SHA256SUMS does not match the archive content')
  const extra = await next()
  if (extra) throw fail(`unexpected member after SHA256SUMS: ${quote(extra.path)}`)
  yield {kind: 'manifest', manifest}
}

/** Reads the whole archive, verifying it, and returns its manifest. */
export async function verifyArchive(input: Readable, location: string): Promise<Manifest> {
  let manifest: Manifest | undefined
  for await (const item of readArchive(input, location)) {
    if (item.kind === 'manifest') manifest = item.manifest
  }

  return manifest!
}

function parseHeader(entry: TarEntry, fail: (problem: string) => Error): ArchiveHeader {
  if (entry.path !== HEADER_ENTRY) {
    throw fail(`not a ${FORMAT_NAME} archive (its first member is ${quote(entry.path)}, not ${HEADER_ENTRY})`)
  }

  const header = parseJson<ArchiveHeader>(entry, fail)
  if (typeof header !== 'object' || header === null) throw fail(`${HEADER_ENTRY} is not an object`)
  if (header.format !== FORMAT_NAME) throw fail(`not a ${FORMAT_NAME} archive (format ${shown(header.format)})`)
  const problem = headerProblem(header, FORMAT_VERSION)
  if (problem) throw fail(`${HEADER_ENTRY}: ${problem}`)
  return header
}

function verifyRecord(entry: TarEntry, root: string, fail: (problem: string) => Error) {
  const member = {toString: () => escapeText(entry.path)}
  let decoded: ReturnType<typeof decodeRecord>
  try {
    decoded = decodeRecord(entry.body)
  } catch (error) {
    throw fail(`${member} is not a valid record (${escapeText((error as Error).message)})`)
  }

  const problem = recordProblem(decoded.record, MAX_ENTRY_BYTES)
  if (problem) throw fail(`${member}: ${problem}`)
  const relativePath = relativeZnodePath(root, decoded.record.path)
  const directory = relativePath === undefined ? undefined : entryDirectory(relativePath)
  if (relativePath === undefined || `${directory}/${RECORD_NAME}` !== entry.path) {
    throw fail(`${member} does not match the path it records (${quote(decoded.record.path)})`)
  }

  return {...decoded, directory: directory!, member, relativePath}
}

function checkManifest(
  manifest: Manifest,
  header: ArchiveHeader,
  seen: {dataBytes: number; treeDigest: string; znodes: number},
  fail: (problem: string) => Error,
): void {
  if (typeof manifest !== 'object' || manifest === null) throw fail(`${MANIFEST_ENTRY} is not an object`)
  if (manifest.format !== header.format || manifest.formatVersion !== header.formatVersion) {
    throw fail('the manifest does not match the header')
  }

  if (manifest.source?.root !== header.source.root) throw fail('the manifest names another root path than the header')
  if (manifest.znodes !== seen.znodes)
    throw fail(`the manifest lists ${manifest.znodes} znodes, the archive holds ${seen.znodes}`)
  if (manifest.dataBytes !== seen.dataBytes) throw fail('the manifest byte count does not match the archive')
  if (manifest.treeDigest !== seen.treeDigest) throw fail('the tree digest does not match the archive content')
}

function parseJson<T>(entry: TarEntry, fail: (problem: string) => Error): T {
  try {
    return JSON.parse(entry.body.toString('utf8')) as T
  } catch {
    throw fail(`${escapeText(entry.path)} is not valid JSON`)
  }
}

const sha256Hex = (body: Buffer) => createHash('sha256').update(body).digest('hex')

/** Regular-file members of a tar (gzip or plain), pulled one at a time (the input is read only as fast as they are consumed). */
async function* tarEntries(input: Readable, fail: (problem: string) => Error): AsyncGenerator<TarEntry> {
  const ready: TarEntry[] = []
  let problem: Error | undefined
  const onReadEntry = (entry: ReadEntry) => {
    problem ??= memberProblem(entry, fail)
    const chunks: Buffer[] = []
    let size = 0
    entry.on('data', (chunk: Buffer) => {
      size += chunk.length
      if (size > MAX_ENTRY_BYTES)
        problem ??= fail(`member ${quote(entry.path)} is larger than ${MAX_ENTRY_BYTES} bytes`)
      else chunks.push(chunk)
    })
    entry.on('end', () =>
      ready.push({
        body: chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, size),
        path: entry.path,
        type: entry.type,
      }),
    )
  }

  for await (const _ of readTar(input, {fail, onProblem: (error) => (problem ??= error), onReadEntry})) {
    if (problem) throw problem
    while (ready.length > 0) yield ready.shift()!
  }

  if (problem) throw problem
  while (ready.length > 0) yield ready.shift()!
}

function memberProblem(entry: ReadEntry, fail: (problem: string) => Error): Error | undefined {
  if (entry.type !== 'File' && entry.type !== 'OldFile') {
    return fail(`member ${quote(entry.path)} is a ${entry.type}, not a regular file`)
  }

  if (entry.path.startsWith('/') || entry.path.split('/').includes('..')) {
    return fail(`member ${quote(entry.path)} has an unsafe path`)
  }

  return undefined
}
