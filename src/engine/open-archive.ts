/**
 * What a location holds, told apart once for inspect, convert and restore: a node's data directory
 * on this machine, a data-directory archive (dcos-zk's layout), or an online archive.
 */
import {stat} from 'node:fs/promises'
import {fileURLToPath} from 'node:url'

import type {StorageProvider} from '../providers/types.js'

import {sniffDataDirArchive} from '../archive/datadir.js'
import {UsageError} from '../errors.js'
import {resolveLocation} from '../providers/index.js'
import {ProviderView} from '../providers/view.js'

export type OpenedArchive =
  | {dataDir: string; display: string; kind: 'directory'; logDir?: string}
  /** `source.read()` first answers the stream already opened (stdin is read once), then opens it again. */
  | {display: string; kind: 'datadir' | 'online'; source: ProviderView}

/** `logDir`: a data directory's separate log directory, refused for an archive (it holds its logs). */
export async function openArchive(location: string, logDir?: string): Promise<OpenedArchive> {
  if (await isDirectoryLocation(location)) {
    const dataDir = location.startsWith('file:') ? fileURLToPath(location) : location
    return {dataDir, display: location, kind: 'directory', ...(logDir === undefined ? {} : {logDir})}
  }

  if (logDir !== undefined)
    throw new UsageError('--log-dir is for a data directory, not an archive: an archive holds its logs')
  return openStoredArchive(resolveLocation(location))
}

/** The kind of a stored archive, from its first member. */
export async function openStoredArchive(
  provider: StorageProvider,
): Promise<Extract<OpenedArchive, {kind: 'datadir' | 'online'}>> {
  const sniffed = await sniffDataDirArchive(await provider.read())
  return {
    display: provider.display,
    kind: sniffed.dataDir ? 'datadir' : 'online',
    source: new ProviderView(provider, {opened: sniffed.stream}),
  }
}

/** Whether `location` names a local directory (a plain path or file:// URL), not an archive. */
export async function isDirectoryLocation(location: string): Promise<boolean> {
  if (/^[a-z][\w+.-]*:/i.test(location) && !location.startsWith('file:')) return false
  const path = location.startsWith('file:') ? fileURLToPath(location) : location
  return (await stat(path).catch(() => undefined))?.isDirectory() ?? false
}
