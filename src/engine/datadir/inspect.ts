/** What a data-directory archive holds: its members checked, its snapshots and logs with their zxid ranges. */
import type {Readable} from 'node:stream'

import {
  type CheckedMember,
  DataDirArchiveError,
  type DataDirManifest,
  type MemberInfo,
  readDataDirArchive,
} from '../../archive/datadir.js'
import {compareZxid, hexZxid} from '../../zk/zxid.js'

export interface DataDirFile {
  /** Logs: the zxid before the next log's first, or undefined for the last log. */
  lastZxid?: string
  member: string
  size: number
  /** The zxid from the file name (the first zxid of a log, the last applied of a snapshot). */
  zxid: string
}

export interface DataDirInspectResult {
  /** True when our manifest's checksums were checked, false for an archive made by dcos-zk. */
  checksummed: boolean
  files: number
  kind: 'datadir'
  location: string
  logs: DataDirFile[]
  manifest?: Omit<DataDirManifest, 'files'>
  members: number
  problem?: string
  snapshots: DataDirFile[]
  totalBytes: number
  verified: boolean
}

export async function inspectDataDirArchive(
  input: Readable,
  location: string,
  onMember?: (member: MemberInfo) => void,
): Promise<DataDirInspectResult> {
  const result: DataDirInspectResult = {
    checksummed: false,
    files: 0,
    kind: 'datadir',
    location,
    logs: [],
    members: 0,
    snapshots: [],
    totalBytes: 0,
    verified: false,
  }
  const seen: CheckedMember[] = []
  try {
    const summary = await readDataDirArchive(input, location, {
      onMember(member) {
        seen.push(member)
        onMember?.(member)
      },
    })
    if (summary.manifest) {
      const {files: _files, ...rest} = summary.manifest
      result.manifest = rest
    }

    result.checksummed = Boolean(summary.manifest)
    result.verified = true
  } catch (error) {
    if (!(error instanceof DataDirArchiveError)) throw error
    result.problem = error.message
  }

  result.members = seen.length
  result.files = seen.filter((member) => member.type === 'file').length
  result.totalBytes = seen.reduce((sum, member) => sum + member.size, 0)
  for (const member of seen) {
    const match = /(?:^|\/)version-2\/(snapshot|log)\.([0-9a-fA-F]+)$/.exec(member.name)
    if (!match || member.type !== 'file') continue
    const file = {member: member.path, size: member.size, zxid: hexZxid(BigInt(`0x${match[2]}`))}
    ;(match[1] === 'snapshot' ? result.snapshots : result.logs).push(file)
  }

  const byZxid = (a: DataDirFile, b: DataDirFile) => compareZxid(a.zxid, b.zxid)
  result.snapshots.sort(byZxid)
  result.logs.sort(byZxid)
  for (let i = 0; i + 1 < result.logs.length; i++)
    result.logs[i].lastZxid = hexZxid(BigInt(result.logs[i + 1].zxid) - 1n)
  return result
}
