import {Args, Flags} from '@oclif/core'

import type {DataDirManifest} from '../../archive/datadir.js'
import type {ZnodeRecord} from '../../archive/format.js'
import type {StorageProvider} from '../../providers/types.js'

import {BaseCommand, EXIT_CODES_HELP} from '../../cli/base.js'
import {formatBytes} from '../../cli/progress.js'
import {isRepository} from '../../engine/archive/repository.js'
import {loadDataDirArchive, znodesUnder} from '../../engine/convert.js'
import {type DataDirInspectResult, inspectDataDirArchive} from '../../engine/datadir/index.js'
import {inspectArchive, type InspectResult} from '../../engine/inspect.js'
import {openArchive} from '../../engine/open-archive.js'
import {type PointSummary, withPointState} from '../../engine/pitr/point.js'
import {parseAt} from '../../engine/pitr/target.js'
import {toRecord} from '../../engine/znode-record.js'
import {EXIT_FAILED, UsageError} from '../../errors.js'
import {resolveLocation} from '../../providers/index.js'
import {permsText} from '../../zk/acl.js'
import {relativeZnodePath, validateZnodePath} from '../../zk/uri.js'
import {hexZxid} from '../../zk/zxid.js'
import {type DiskState, loadStateFromDirectories} from '../../zkdisk/index.js'

interface TreeEntry {
  acl: string[]
  dataLength: number
  path: string
  type: string
}

export default class ZkInspect extends BaseCommand {
  static args = {
    location: Args.string({
      description:
        "The archive: a path, file:///abs/path, s3://bucket/key?... or - for stdin; or a stopped node's data directory; or, with --at, an archive repository (dcos zk archive).",
      required: true,
    }),
    path: Args.string({description: 'With --tree: list only the subtree at this znode path.', ignoreStdin: true}),
  }
  static description = `Reads the whole archive and checks it the way a restore does (format version, every entry's SHA-256, the tree digest, the manifest): prints the manifest as a summary and the integrity verdict. Exits 1 when anything fails.

Offline data-directory archives (dcos-zk's layout, from \`dcos zk backup --data-dir\` or dcos-zk itself) are recognised by their ./zookeeper/ members: it lists the snapshot and transaction log files with their zxid ranges (from the file names: a log's range ends before the next log's first zxid) and checks every member the way an offline restore does (structure, file magic, and the SHA-256s of our manifest when present). Then it replays the newest snapshot and the logs after it, as ZooKeeper would when it starts, and reports the state: the zxid reached and the znodes; --tree lists them. A data directory (dataDir, with --log-dir when the logs are elsewhere) is read the same way.

An archive repository (\`dcos zk archive\`) with --at shows the state at a point without restoring it: the base and segments \`dcos zk restore --to-zxid/--to-time\` would use are checked and replayed up to it, and the state is reported as a data directory's (--tree lists it). A point no window covers is refused (exit 2) with the restorable windows.

${EXIT_CODES_HELP}`
  static enableJsonFlag = true
  static examples = [
    {
      command: '<%= config.bin %> <%= command.id %> ./zk-repo --at 2026-12-01T14:02:59Z --tree /marathon',
      description: 'What /marathon held at 14:02:59 UTC, from an archive repository (read only)',
    },
    {command: '<%= config.bin %> <%= command.id %> ./marathon.tar.gz', description: 'Summary and integrity verdict'},
    {
      command: '<%= config.bin %> <%= command.id %> ./marathon.tar.gz --tree',
      description: 'List every znode in the archive',
    },
    {
      command: '<%= config.bin %> <%= command.id %> ./zk-datadir.tar.gz --tree /marathon/state',
      description: 'What a dcos-zk archive holds under /marathon/state',
    },
    {
      command: '<%= config.bin %> <%= command.id %> /var/lib/zookeeper --log-dir /var/lib/zookeeper-log --tree',
      description: "The state in a stopped node's directories",
    },
    {
      command: '<%= config.bin %> <%= command.id %> "s3://backups/zk/m.tar.gz?region=us-east-1" --json',
      description: 'Machine-readable summary of an archive in S3',
    },
  ]
  static flags = {
    at: Flags.string({
      description:
        'With an archive repository: the point to show, a zxid (0x10000a3f2, or decimal: the state after that transaction) or a time (ISO 8601 with Z or an offset, or "15m ago": the state at that instant).',
    }),
    tree: Flags.boolean({
      description: 'List every znode (under the path argument, if given): path, type, data size and ACL.',
    }),
    'log-dir': Flags.string({
      description: 'With a data directory as the location: its separate transaction log directory (dataLogDir).',
    }),
  }
  static summary = 'Show what an archive holds and verify its integrity.'

  async run(): Promise<InspectOutput> {
    const {args, flags} = await this.parse(ZkInspect)
    const subtree = args.path === undefined ? '/' : validateZnodePath(args.path)
    if (args.path !== undefined && !flags.tree)
      throw new UsageError(`The path ${args.path} is for --tree: add --tree to list that subtree`)
    const tree: TreeEntry[] = []
    // Without --tree nothing is listed, and a data directory's state is only counted.
    const listZnode = flags.tree
      ? (record: ZnodeRecord) => {
          if (relativeZnodePath(subtree, record.path) === undefined) return
          const entry = treeEntry(record)
          if (flags.json) tree.push(entry)
          else this.log(`${entry.path}  ${entry.type}  ${formatBytes(entry.dataLength)}  ${entry.acl.join(',')}`)
        }
      : undefined

    if (flags.at !== undefined || (args.location !== '-' && (await isRepository(resolveLocation(args.location))))) {
      const result = await this.inspectPoint(args.location, flags.at, listZnode)
      return flags.tree ? {...result, tree} : result
    }

    const opened = await openArchive(args.location, flags['log-dir'])
    if (opened.kind === 'directory') {
      const state = await loadStateFromDirectories(opened.dataDir, opened.logDir)
      const result = this.printState(opened.display, state, listZnode)
      return flags.tree ? {...result, tree} : result
    }

    if (opened.kind === 'datadir') {
      const result = await this.inspectDataDir(opened.source, listZnode)
      return flags.tree ? {...result, tree} : result
    }

    const {source} = opened
    const result = await inspectArchive(source, listZnode)
    this.printSummary(result)
    if (!result.verified) process.exitCode = EXIT_FAILED
    return flags.tree ? {...result, tree} : result
  }

  private async inspectDataDir(
    location: StorageProvider,
    listZnode: ((record: ZnodeRecord) => void) | undefined,
  ): Promise<DataDirInspectResult & {state?: StateSummary}> {
    const {display} = location
    const result = await inspectDataDirArchive(await location.read(), display)
    const row = (label: string, value: string) => this.log(`${label.padEnd(12)}${value}`)
    row('Archive', result.location)
    row(
      'Format',
      result.manifest
        ? `ZooKeeper data directory (dcos-zk layout) v${result.manifest.formatVersion}, written by ${result.manifest.tool}`
        : 'ZooKeeper data directory (dcos-zk layout), no manifest (written by dcos-zk)',
    )
    if (result.manifest) {
      row('Created', `${result.manifest.createdAt}, completed ${result.manifest.completedAt}`)
      const {dataDir, logDir, separateLogDir} = result.manifest.options
      row('Source', separateLogDir ? `${dataDir}, log dir ${logDir}` : dataDir)
      if (result.manifest.consistentAt) row('Copy', describeCopy(result.manifest))
    }

    row('Files', `${result.files} in ${result.members} members, ${formatBytes(result.totalBytes)}`)
    for (const [index, file] of result.snapshots.entries())
      row(index === 0 ? 'Snapshots' : '', `${file.member}  zxid ${file.zxid}  ${formatBytes(file.size)}`)
    if (result.snapshots.length === 0) row('Snapshots', 'none')
    for (const [index, file] of result.logs.entries()) {
      row(
        index === 0 ? 'Logs' : '',
        `${file.member}  zxids ${file.zxid}..${file.lastZxid ?? ''}  ${formatBytes(file.size)}`,
      )
    }

    if (result.logs.length === 0) row('Logs', 'none')
    const ok = result.checksummed
      ? 'OK: every SHA-256 matches the manifest'
      : 'OK: structure and file magic (no manifest: no checksums to verify)'
    row('Integrity', result.verified ? ok : `FAILED: ${result.problem}`)
    if (!result.verified) {
      process.exitCode = EXIT_FAILED
      return result
    }

    if (location.scheme === '-') {
      row('State', 'not replayed: stdin can be read only once (inspect a file to see the znodes)')
      return result
    }

    const state = await loadDataDirArchive(await location.read(), display)
    return {...result, state: this.printStateRows(state, listZnode)}
  }

  /** The state of a repository at --at, read only. */
  private async inspectPoint(
    location: string,
    at: string | undefined,
    listZnode: ((record: ZnodeRecord) => void) | undefined,
  ): Promise<{location: string; point: PointSummary; state: StateSummary}> {
    const repo = resolveLocation(location)
    if (at === undefined)
      throw new UsageError(
        `${repo.display} is an archive repository (dcos zk archive): give --at <zxid|time> (dcos zk timeline ${repo.display} lists the windows)`,
      )
    if (!(await isRepository(repo)))
      throw new UsageError(
        `--at needs an archive repository (a location holding bases/*.json, written by dcos zk archive); ${repo.display} is not one`,
      )
    return withPointState(repo, parseAt(at), async (state, point) => {
      const row = (label: string, value: string) => this.log(`${label.padEnd(12)}${value}`)
      row('Repository', repo.display)
      row('Point', `zxid ${point.zxid}${point.time ? ` (${point.time})` : ''}, ${point.target}`)
      row('Base', `${point.base}, window ${point.window}`)
      row('Segments', `${point.segments.length} replayed, each SHA-256 checked`)
      return {location: repo.display, point, state: this.printStateRows(state, listZnode)}
    })
  }

  private printState(
    display: string,
    state: DiskState,
    listZnode: ((record: ZnodeRecord) => void) | undefined,
  ): {location: string; state: StateSummary} {
    this.log(`${'Location'.padEnd(12)}${display}`)
    this.log(`${'Format'.padEnd(12)}ZooKeeper data directory`)
    return {location: display, state: this.printStateRows(state, listZnode)}
  }

  /** The replayed state as summary rows (and, through listZnode, the tree). */
  private printStateRows(state: DiskState, listZnode: ((record: ZnodeRecord) => void) | undefined): StateSummary {
    const summary = summarizeState(state)
    const row = (label: string, value: string) => this.log(`${label.padEnd(12)}${value}`)
    row(
      'State',
      `zxid ${summary.zxid}: ${summary.snapshot ?? 'no snapshot'} + ${summary.logs.length} logs, ${summary.txnsApplied} transactions replayed`,
    )
    row(
      'Znodes',
      `${summary.znodes} (${summary.ephemerals} ephemeral, not restored), ${formatBytes(summary.dataBytes)} of data`,
    )
    for (const note of summary.notes) row('Note', note)
    const byPath = (a: {path: string}, b: {path: string}) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0)
    if (listZnode) for (const znode of [...znodesUnder(state, '/')].sort(byPath)) listZnode(toRecord(znode))

    return summary
  }

  private printSummary({header, manifest, problem, verified, znodesRead, location}: InspectResult): void {
    const row = (label: string, value: string) => this.log(`${label.padEnd(12)}${value}`)
    row('Archive', location)
    const meta = manifest ?? header
    if (meta) {
      row('Format', `${meta.format} v${meta.formatVersion}, written by ${meta.tool}`)
      row('Source', `${meta.source.root} on ${meta.source.hosts.join(',')}`)
      row('Created', meta.createdAt + (manifest ? `, completed ${manifest.completedAt}` : ''))
      if (meta.options.exclude.length > 0) row('Excluded', meta.options.exclude.join(' '))
    }

    if (manifest) {
      row('Zxid', `${manifest.zxidStart ?? 'unknown'} at start, ${manifest.zxidEnd ?? 'unknown'} at end`)
      row('Znodes', `${manifest.znodes}, ${formatBytes(manifest.dataBytes)} of data`)
      const skipped = [
        `${manifest.skippedEphemerals} ephemeral`,
        `${manifest.excluded} excluded`,
        `${manifest.vanished} deleted during the walk`,
      ]
      row('Skipped', skipped.join(', '))
      row(
        'Changed',
        `${manifest.changedDuringBackup} during the backup (re-read), ${manifest.inconsistentCount} still inconsistent`,
      )
      for (const {path, reason} of manifest.inconsistent.slice(0, 10)) row('', `${path}: ${reason}`)
      row('Digest', manifest.treeDigest)
    }

    row('Integrity', verified ? 'OK: every checksum matches' : `FAILED after ${znodesRead} znodes: ${problem}`)
  }
}

type InspectOutput = (DataDirInspectResult | InspectResult | PointInspectResult) & {tree?: TreeEntry[]}

interface PointInspectResult {
  location: string
  point?: PointSummary
  state: StateSummary
}

interface StateSummary {
  dataBytes: number
  ephemerals: number
  logs: string[]
  notes: string[]
  snapshot: null | string
  txnsApplied: number
  znodes: number
  zxid: string
}

function summarizeState(state: DiskState): StateSummary {
  return {
    ...state.census(),
    logs: state.logs,
    notes: state.notes,
    snapshot: state.snapshot?.name ?? null,
    txnsApplied: state.txnsApplied,
    zxid: hexZxid(state.zxid),
  }
}

function treeEntry(record: ZnodeRecord): TreeEntry {
  return {
    acl: record.acl.map((entry) => `${entry.scheme}:${entry.id}:${permsText(entry.perms)}`),
    dataLength: record.stat.dataLength,
    path: record.path,
    type: record.type === 'ttl' ? `ttl(${record.ttl}ms)` : record.type + (record.sequential ? ' sequential' : ''),
  }
}

/** A data-directory archive's copy as its manifest records it (ours since hot backups). */
function describeCopy({allFiles, consistentAt, hot, zookeeperVersion}: Omit<DataDirManifest, 'files'>): string {
  const how = `${hot ? `hot (ZooKeeper${zookeeperVersion ? ` ${zookeeperVersion}` : ''} running)` : 'node stopped'}, ${allFiles ? 'every file' : 'the files a recovery needs'}`
  const at = `consistent at zxid ${consistentAt!.zxid}${consistentAt!.time ? ` (${consistentAt!.time})` : ''}`
  return `${how}; ${at}; ${consistentAt!.txnsReplayed} transactions replayed, ${consistentAt!.digestsVerified} digests matched`
}
