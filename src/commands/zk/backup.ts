import {Args, Flags} from '@oclif/core'

import {adminOptions, READ_PATHS, type ReadPathChoice} from '../../cli/admin.js'
import {BaseCommand, EXIT_CODES_HELP, zkFlags} from '../../cli/base.js'
import {dataDirFlags, type OfflinePaths, printableName, resolveMode} from '../../cli/datadir.js'
import {Bar, Counter, describeRate, formatBytes, type Progress, progressEnabled} from '../../cli/progress.js'
import {ZK_TLS_FLAG_NAMES} from '../../cli/zk-tls.js'
import {type BackupResult, backupTree} from '../../engine/backup.js'
import {backupDataDir, type DataDirBackupResult} from '../../engine/datadir/index.js'
import {BATCH_MODES, type BatchMode} from '../../engine/znodes/bulk-access.js'
import {UsageError} from '../../errors.js'
import {resolveLocation} from '../../providers/index.js'
import {checkStdoutTakesArchive} from '../../providers/stdio.js'
import {adminCommandUrl, AdminUnavailable} from '../../zk/admin.js'
import {withSession} from '../../zk/session.js'

export default class ZkBackup extends BaseCommand {
  static args = {
    location: Args.string({
      description: 'Where to write the archive: a path, file:///abs/path, s3://bucket/key?region=... or - for stdout.',
      required: true,
    }),
  }
  static description = `Walks the subtree under the path of --zk through the client API, many requests in flight, and streams a gzip tar to the location: a manifest (format, tool, time, hosts, root, zxids, counts, options), every znode's data, ACL, type and stat, parents before children, and SHA-256 sums for every entry and for the whole. The archive appears at the location only once it is complete.

Ephemeral znodes are skipped (restoring them as persistent breaks applications); ZooKeeper's own /zookeeper is never included. Znodes that change during the walk are re-read until they settle; any that never do are listed in the manifest.

With --admin-url (ZooKeeper 3.9+), the state comes from one snapshot streamed by that node's AdminServer instead (GET /commands/snapshot, authorized by the --zk-auth user, who needs ALL on /): much faster, and it keeps container and TTL types. The snapshot's tree digest is checked; znodes it caught mid-change are read again through the client API and listed in the manifest (adminSnapshot). When the AdminServer cannot give a snapshot (wrong credentials, rate limit, an older ZooKeeper, unreachable) the backup walks the tree through the client API instead and says why, unless --read-path admin.

Data-directory mode (--data-dir or --dcos instead of --zk), compatible with dcos-zk: archives a node's data directory (and --log-dir) in dcos-zk's layout, a gzip tar with ./zookeeper/snapshot/ (dataDir) and ./zookeeper/transactions/ (dataLogDir), plus a last member ./dcos-zk-backup.json with the SHA-256 of every file, the zxid and time the copy is consistent at and the ZooKeeper version when known (dcos-zk's restore just leaves it beside zookeeper/). The node may be running: while the pid in --pid-file is alive or the clientPort of --zk-config answers, the backup is a hot copy and says so (stderr, --json hot: true); restore still refuses a running node. Only what a recovery needs is copied: the newest snapshot that is whole and the logs from the one it starts in, each log up to its last whole, checksummed transaction (no preallocated zero tail), pinned by hard links (or open handles) so that autopurge cannot delete them mid-copy; myid, the epoch files and obsolete snapshots and logs are left out. The copy is replayed and checked against ZooKeeper's own digests before the archive appears. With --admin-url (the node's AdminServer, 3.6+), the replayed tree is also compared with the digests its hash command lists (one every 128 zxids) wherever a zxid is common: a mismatch refuses the backup (exit 1, no archive); none in common, or no answer, is said on stderr; the manifest records consistentAt.adminHashesMatched. --all-files copies every file instead, as dcos-zk did (but myid and zookeeper.out). A symlinked version-2 is followed, no other link; a data or log dir without any snapshot.* or log.* in its version-2 is refused, exit 2: most likely a wrong path. The archive is streamed to the location: no temporary copy (-t is accepted and ignored).

${EXIT_CODES_HELP}`
  static enableJsonFlag = true
  static examples = [
    {
      command: '<%= config.bin %> <%= command.id %> ./marathon.tar.gz --zk zk://10.0.0.1:2181,10.0.0.2:2181/marathon',
      description: "Back up Marathon's state to a file",
    },
    {
      command:
        '<%= config.bin %> <%= command.id %> "s3://backups/zk/$(date +%F).tar.gz?region=us-east-1" --zk zk://master.mesos:2181/',
      description: 'Back up the whole tree to S3 (credentials from the AWS default chain)',
    },
    {
      command:
        '<%= config.bin %> <%= command.id %> ./m.tar.gz --zk localhost:2181/marathon --exclude /marathon/leader --exclude "/marathon/**/tmp"',
      description: 'Leave out leader election and temporary znodes',
    },
    {
      command: '<%= config.bin %> <%= command.id %> ./m.tar.gz --zk zk://10.0.0.1:2181/marathon --batch off',
      description:
        'One request per znode, not multi-read batches (the path for ZooKeeper before 3.6, chosen there by itself)',
    },
    {
      command:
        'DCOS_ZK_AUTH=admin:secret <%= config.bin %> <%= command.id %> ./all.tar.gz --zk zk://10.0.0.1:2181/ --admin-url http://10.0.0.1:8080 -v',
      description: 'From one AdminServer snapshot (ZooKeeper 3.9+), the client API if it cannot give one',
    },
    {
      command: '<%= config.bin %> <%= command.id %> /backups/zk-$(date +%F).tar.gz --dcos -v',
      description: "A DC/OS master's ZooKeeper directories, like dcos-zk backup but with ZooKeeper left running",
    },
    {
      command:
        '<%= config.bin %> <%= command.id %> ./node1.tar.gz --data-dir /var/lib/zookeeper --log-dir /var/lib/zookeeper-log --zk-config /etc/zookeeper/zoo.cfg',
      description: "A node's own files with a separate log directory, hot while it runs",
    },
    {
      command:
        'DCOS_ZK_AUTH=marathon:secret <%= config.bin %> <%= command.id %> - --zk localhost/marathon | ssh backup-host "cat > m.tar.gz"',
      description: 'Stream to stdout with digest credentials from the environment',
    },
  ]
  static flags = {
    ...zkFlags,
    ...dataDirFlags,
    'admin-url': Flags.string({
      description:
        "A ZooKeeper 3.9+ AdminServer (http://host:8080) to take the state from, as one snapshot, rather than through the client API; needs --zk-auth with ALL on /. With --data-dir (3.6+): the node's AdminServer, whose hash command's tree digests (one every 128 zxids) the copy must match where a zxid is common.",
      env: 'DCOS_ZK_ADMIN_URL',
    }),
    'read-path': Flags.string({
      default: 'auto',
      description:
        'auto: the AdminServer snapshot when --admin-url is given and it answers, the client API otherwise; admin: the snapshot or fail; client: the client API even with --admin-url. --json and -v say which path ran.',
      options: READ_PATHS,
    }),
    batch: Flags.string({
      default: 'auto',
      description:
        'Read with multi-read batches: auto (when the server answers them: ZooKeeper 3.6+), on (or fail), off (one request per znode). --json and -v say which path ran.',
      options: BATCH_MODES,
    }),
    exclude: Flags.string({
      description: 'A znode path (with its subtree) or glob to leave out. Repeatable.',
      multiple: true,
    }),
    force: Flags.boolean({description: 'Replace an existing archive at the location.'}),
    'include-ephemerals': Flags.boolean({
      description: 'Record ephemeral znodes too (for inspection: restore never recreates them).',
    }),
    'all-files': Flags.boolean({
      description:
        'Offline mode: copy every file of the directories as dcos-zk did (but myid and zookeeper.out), not only the newest whole snapshot and the logs after it.',
      helpGroup: 'OFFLINE',
    }),
    verbose: Flags.boolean({
      char: 'v',
      description: 'List every znode (offline: every archive member) as it is written.',
    }),
  }
  static summary =
    "Back up a ZooKeeper subtree online, with no node stopped (or a node's own data directory, running or stopped)."

  async run(): Promise<BackupResult | DataDirBackupResult> {
    const {args, flags, raw} = await this.parse(ZkBackup)
    const mode = resolveMode(flags, raw, [
      'batch',
      'exclude',
      'include-ephemerals',
      'read-path',
      'zk-auth',
      'zk-sasl',
      'session-timeout',
      ...ZK_TLS_FLAG_NAMES,
    ])
    const destination = resolveLocation(args.location)
    if (mode.mode === 'offline') {
      // DCOS_ZK_ADMIN_URL names a cluster's AdminServer for online backups: a node's files are compared only with one given here.
      const adminUrl = raw.some((token) => token.type === 'flag' && token.flag === 'admin-url')
        ? flags['admin-url']
        : undefined
      if (adminUrl) checkAdminUrl(adminUrl)
      return this.runOffline(destination, {...mode.paths, adminUrl}, flags)
    }

    if (flags['all-files']) throw new UsageError('--all-files needs --data-dir or --dcos (the offline mode)')
    const target = this.parseZk(mode.zk)
    const admin = adminOptions(flags['admin-url'], flags['read-path'] as ReadPathChoice)
    const toStdout = destination.scheme === '-'
    if (toStdout && flags.json) throw new UsageError('--json cannot be used with - : stdout carries the archive')
    if (toStdout) checkStdoutTakesArchive()
    return withSession(
      () => this.connect(target, flags),
      async (session) => {
        const showProgress = progressEnabled(Boolean(flags.json))
        const label = `Backing up ${target.path ?? '/'}`
        let progress: Progress | undefined
        try {
          const {result} = await backupTree({
            admin,
            batch: flags.batch as BatchMode,
            destination,
            exclude: flags.exclude,
            includeEphemerals: flags['include-ephemerals'],
            // Counting costs the server a pass over its znodes: only for a bar someone sees.
            onTotal: showProgress ? (total) => (progress = new Bar(true, label, total)) : undefined,
            onZnode: ({data, record}) => {
              progress ??= new Counter(showProgress, label)
              progress.add(data.length)
              if (flags.verbose) this.logVerbose(toStdout, `${record.path}  ${record.type}  ${data.length} B`)
            },
            overwrite: flags.force,
            root: target.path ?? '/',
            session,
          })
          progress?.stop(describeRate(result.znodes, result.dataBytes, result.durationMs))
          if (flags.verbose) this.logVerbose(toStdout, describeReadPath(result))
          if (result.adminFallback)
            this.warn(`Read through the client API: no AdminServer snapshot (${result.adminFallback})`)
          const summary = `Backed up ${result.znodes} znodes (${formatBytes(result.dataBytes)}) from ${result.root} to ${result.location}: ${formatBytes(result.archiveBytes)} in ${(result.durationMs / 1000).toFixed(1)}s, ${result.znodesPerSecond} znodes/s`
          if (toStdout) this.logToStderr(summary)
          else this.log(summary)
          if (result.inconsistent > 0)
            this.warn(`${result.inconsistent} znodes kept changing during the backup; they are listed in the manifest`)
          return result
        } catch (error) {
          progress?.stop('failed')
          throw error
        }
      },
    )
  }

  private logVerbose(toStderr: boolean, line: string): void {
    if (toStderr) this.logToStderr(line)
    else this.log(line)
  }

  private async runOffline(
    destination: ReturnType<typeof resolveLocation>,
    paths: OfflinePaths & {adminUrl?: string},
    flags: {'all-files'?: boolean; force?: boolean; json?: boolean; verbose?: boolean},
  ): Promise<DataDirBackupResult> {
    const toStdout = destination.scheme === '-'
    if (toStdout && flags.json) throw new UsageError('--json cannot be used with - : stdout carries the archive')
    if (toStdout) checkStdoutTakesArchive()
    const result = await backupDataDir({
      ...paths,
      allFiles: flags['all-files'],
      destination,
      onMember: (member) => {
        if (flags.verbose) this.logVerbose(toStdout, printableName(member.path))
      },
      overwrite: flags.force,
    })
    if (result.adminHashNote) this.warn(printableName(result.adminHashNote))
    for (const path of result.skipped) this.warn(`left out ${printableName(path)}: not a regular file or directory`)
    // The hash note is a warning already.
    if (flags.verbose)
      for (const note of result.notes) if (note !== result.adminHashNote) this.logVerbose(toStdout, printableName(note))
    const dirs = result.logDir === result.dataDir ? result.dataDir : `${result.dataDir} and ${result.logDir}`
    const at = `consistent at zxid ${result.consistentAt.zxid}${result.consistentAt.time ? ` (${result.consistentAt.time})` : ''}`
    const matched = result.consistentAt.adminHashesMatched
    if (flags.verbose && matched)
      this.logVerbose(toStdout, `Matched ${matched} tree digests of the AdminServer's hash command`)
    if (result.hot)
      this.logToStderr(
        `Hot copy: ZooKeeper${result.zookeeperVersion ? ` ${result.zookeeperVersion}` : ''} was running on ${dirs}; the archive holds its state ${at}.`,
      )
    const leftOut = result.leftOut > 0 ? `, left out ${files(result.leftOut)} a recovery does not need` : ''
    const summary = `Backed up ${files(result.files)} (${formatBytes(result.dataBytes)}) from ${dirs} to ${result.location}: ${formatBytes(result.archiveBytes)} in ${(result.durationMs / 1000).toFixed(1)}s, ${at}${leftOut}`
    if (toStdout) this.logToStderr(summary)
    else this.log(summary)
    return result
  }
}

/** A malformed --admin-url is bad usage, refused before anything is read (an AdminServer that does not answer is only noted). */
function checkAdminUrl(address: string): void {
  try {
    adminCommandUrl(address, 'hash')
  } catch (error) {
    if (error instanceof AdminUnavailable) throw new UsageError(error.message)
    throw error
  }
}

const files = (count: number): string => `${count} file${count === 1 ? '' : 's'}`

function describeReadPath({adminSnapshot, batchFallback, readPath}: BackupResult): string {
  if (adminSnapshot)
    return `Read path: admin-snapshot from ${adminSnapshot.source} (${describeConsistency(adminSnapshot)})`
  if (readPath === 'multi-read') return 'Read path: multi-read batches'
  return `Read path: single requests${batchFallback ? ` (${batchFallback})` : ''}`
}

function describeConsistency(report: NonNullable<BackupResult['adminSnapshot']>): string {
  if (report.consistentAtZxid && report.reread === 0) return `digest matched: exact at zxid ${report.consistentAtZxid}`
  const digest = report.digest === 'absent' ? 'no digest to check' : `digest ${report.digest}`
  return `${digest}; ${report.reread} znodes re-read through the client API`
}
