/**
 * What a killed step leaves behind, removed at the start of the next one (the lease is held, so no
 * other archiver is writing): a sidecar without its .seg (killed between the two), a base archive
 * no record names (killed before its record, or a --keep killed between the two), and on file://
 * the temp files of writes whose process is gone. None of them was ever counted as shipped: a
 * segment exists once its .seg does, a base once its record does. On S3 a killed upload is an
 * incomplete multipart upload, invisible to listings: a bucket lifecycle rule
 * (AbortIncompleteMultipartUpload) removes those. Sidecars and archives are removed once a minute
 * old, so that one archiver never takes away what another, in the lease's overlap, is committing.
 */
import {readdir, rm} from 'node:fs/promises'
import {join} from 'node:path'

import type {ObjectInfo, StorageProvider} from '../../providers/types.js'

import {FileProvider, TEMP_FILE} from '../../providers/file.js'
import {pidAlive} from '../datadir/running.js'
import {type BaseRecord, BASES, SEGMENTS} from './repository.js'
import {deleteIfThere} from './retention.js'

const SIDECAR = /^([0-9a-f]{16}-[0-9a-f]{16})\.json$/
const BASE_ARCHIVE = /^base-.+\.tar\.gz$/

/**
 * An object younger than this is left for a later step: within the lease's overlap window another
 * archiver may be between its base archive and its record, or its sidecar and its .seg.
 */
export const LEFTOVER_AGE_MS = 60_000

/** Removes the leftovers and returns their names (relative to the repository). */
export async function removeLeftovers(
  repository: StorageProvider,
  bases: BaseRecord[],
  now = new Date(),
): Promise<string[]> {
  const old = (file: ObjectInfo) => now.getTime() - file.modified.getTime() >= LEFTOVER_AGE_MS
  const segmentFiles = await repository.child(`${SEGMENTS}/`).list()
  const segmentNames = new Set(segmentFiles.map((file) => file.name))
  const named = new Set(bases.map((base) => base.archive))
  const leftovers = [
    ...segmentFiles
      .filter((file) => SIDECAR.test(file.name) && !segmentNames.has(file.name.replace(/\.json$/, '.seg')))
      .filter((file) => old(file))
      .map((file) => `${SEGMENTS}/${file.name}`),
    ...(await repository.child(`${BASES}/`).list())
      .filter((file) => BASE_ARCHIVE.test(file.name) && !named.has(file.name) && old(file))
      .map((file) => `${BASES}/${file.name}`),
  ]
  for (const name of leftovers) await deleteIfThere(repository.child(name))
  if (repository instanceof FileProvider)
    for (const dir of [BASES, SEGMENTS]) leftovers.push(...(await removeDeadTempFiles(repository.path, dir)))
  return leftovers
}

/** The provider's temp files (.<name>.tmp-<pid>-<hex>) whose writing process is gone. */
async function removeDeadTempFiles(root: string, dir: string): Promise<string[]> {
  const names = await readdir(join(root, dir)).catch(() => [] as string[])
  const dead = names.filter((name) => {
    const pid = TEMP_FILE.exec(name)?.[1]
    return pid !== undefined && Number(pid) !== process.pid && !pidAlive(Number(pid))
  })
  for (const name of dead) await rm(join(root, dir, name), {force: true})
  return dead.map((name) => `${dir}/${name}`)
}
