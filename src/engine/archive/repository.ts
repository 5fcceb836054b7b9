/**
 * An archive repository on any storage provider (layout in docs/architecture.md):
 *   bases/<zxid>.json              a base's manifest, written last: the base exists once it does
 *   bases/base-<time>-<rand>.tar.gz its hot data-dir archive (as `zk backup --data-dir` writes it)
 *   segments/<from>-<to>.json      a segment's sidecar (range, times, source log, SHA-256), written first
 *   segments/<from>-<to>.seg       the segment: a log FileHeader and the raw whole entries; the commit point
 * <zxid>, <from> and <to> are 16 lower-case hex digits, so that listing sorts by zxid.
 */
import {mkdir} from 'node:fs/promises'
import {dirname} from 'node:path'
import {Readable} from 'node:stream'
import {text} from 'node:stream/consumers'

import type {StorageProvider, WriteOptions} from '../../providers/types.js'

import {UsageError} from '../../errors.js'
import {FileProvider} from '../../providers/file.js'

export const BASES = 'bases'
export const SEGMENTS = 'segments'
export const REPOSITORY_FORMAT = 'dcos-zk-archive'

export interface BaseRecord {
  /** The archive's name under bases/. */
  archive: string
  archiveBytes: number
  /** With reason "scheduled": the last txn shipped before it, where shipping continues (no gap between the windows). */
  continues?: string
  format: typeof REPOSITORY_FORMAT
  /** With reason "gap": the last txn shipped before the gap. */
  gapAfter?: string
  /** Why it was taken: the repository had none, --base-every, or the logs no longer followed the last shipped txn. */
  reason: 'first' | 'gap' | 'scheduled'
  takenAt: string
  /** Its last transaction (hex) and that transaction's time. */
  time?: string
  zookeeperVersion?: string
  zxid: string
}

export interface SegmentRecord {
  /** The zxid shipped before this segment's first (hex): the chain a segment extends. */
  after: string
  bytes: number
  count: number
  dbid: string
  format: typeof REPOSITORY_FORMAT
  fromTime: string
  fromZxid: string
  sha256: string
  sourceLog: string
  /** The last entry's checksum (hex): with toTime, what tells this txn from another node's at the same zxid. */
  toChecksum?: string
  toTime: string
  toZxid: string
}

const BASE_RECORD = /^[0-9a-f]{16}\.json$/

export const zxidName = (zxid: bigint): string => zxid.toString(16).padStart(16, '0')
export const segmentName = (from: bigint, to: bigint): string => `${zxidName(from)}-${zxidName(to)}`

export interface RepositoryContent {
  bases: BaseRecord[]
  segments: SegmentRecord[]
}

/** The bases and committed segments the repository holds (a sidecar without its .seg is a step that was killed). */
export async function readRepository(repo: StorageProvider): Promise<RepositoryContent> {
  const baseFiles = await repo.child(`${BASES}/`).list()
  const segmentFiles = await repo.child(`${SEGMENTS}/`).list()
  const bases = await Promise.all(
    baseFiles
      .filter((file) => BASE_RECORD.test(file.name))
      .map((file) => readJson<BaseRecord>(repo.child(`${BASES}/${file.name}`))),
  )
  const committed = new Set(segmentFiles.map((file) => file.name))
  const segments = await Promise.all(
    segmentFiles
      .filter((file) => /^[0-9a-f]{16}-[0-9a-f]{16}\.json$/.test(file.name))
      .filter((file) => committed.has(file.name.replace(/\.json$/, '.seg')))
      .map((file) => readJson<SegmentRecord>(repo.child(`${SEGMENTS}/${file.name}`))),
  )
  return {bases, segments}
}

/** Whether a location is a repository rather than an archive: it holds a base record, bases/<zxid>.json. */
export async function isRepository(location: StorageProvider): Promise<boolean> {
  if (location.scheme === '-') return false
  const files = await location.child(`${BASES}/`).list()
  return files.some((file) => BASE_RECORD.test(file.name))
}

/** Writes an object atomically (the provider's temp + rename, or its single put), making its directory on file://. */
export async function putObject(
  location: StorageProvider,
  body: Buffer | string,
  {overwrite = true}: WriteOptions = {},
): Promise<void> {
  await prepare(location)
  await location.write(Readable.from([Buffer.from(body)]), {overwrite})
}

/** file:// writes need their directory; object stores have none. */
export async function prepare(location: StorageProvider): Promise<void> {
  if (location instanceof FileProvider) await mkdir(dirname(location.path), {recursive: true})
}

export async function putJson(location: StorageProvider, value: unknown, options?: WriteOptions): Promise<void> {
  await putObject(location, `${JSON.stringify(value, null, 2)}\n`, options)
}

async function readJson<T>(location: StorageProvider): Promise<T> {
  const body = await text(await location.read())
  try {
    return JSON.parse(body) as T
  } catch {
    throw new UsageError(`${location.display} is not valid JSON: the repository is damaged; move the file aside`)
  }
}
