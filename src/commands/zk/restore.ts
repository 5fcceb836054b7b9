import {Args, Flags} from '@oclif/core'
import {randomUUID} from 'node:crypto'

import type {BackupResult} from '../../engine/backup.js'

import {BaseCommand, EXIT_CODES_HELP, zkFlags} from '../../cli/base.js'
import {confirm} from '../../cli/confirm.js'
import {dataDirFlags, type OfflinePaths, printableName, resolveMode} from '../../cli/datadir.js'
import {parseDuration} from '../../cli/duration.js'
import {Bar, Counter, formatBytes, type Progress, progressEnabled} from '../../cli/progress.js'
import {ZK_TLS_FLAG_NAMES} from '../../cli/zk-tls.js'
import {type DataDirRestoreResult, restoreDataDir} from '../../engine/datadir/index.js'
import {withOnlineSource} from '../../engine/online-source.js'
import {type DataDirPointResult} from '../../engine/pitr/offline.js'
import {type PointSummary, restoreDataDirAtPoint} from '../../engine/pitr/point.js'
import {resolvePointTarget} from '../../engine/pitr/request.js'
import {type PointTarget} from '../../engine/pitr/target.js'
import {
  type RestoreOptions,
  type RestorePhase,
  type RestorePlan,
  type RestoreResult,
  restoreTree,
} from '../../engine/restore.js'
import {COUNTER_MODES, type CounterMode, DEFAULT_MAX_PAIRS} from '../../engine/restore/counters.js'
import {compactUtc} from '../../engine/time.js'
import {BATCH_MODES, type BatchMode} from '../../engine/znodes/bulk-access.js'
import {UsageError} from '../../errors.js'
import {resolveLocation} from '../../providers/index.js'
import {identitiesOf} from '../../zk/acl.js'
import {DEFAULT_LOCK_PATH} from '../../zk/lock.js'
import {parseDigestAuth, validateZnodePath} from '../../zk/uri.js'

const PHASE_LABELS: Record<RestorePhase, string> = {
  acl: 'Applying ACLs',
  check: 'Verifying the restored tree',
  counters: 'Raising sequence counters',
  create: 'Creating znodes',
  delete: 'Deleting the current tree',
  read: 'Reading the current tree',
  rollback: 'Rolling back to the tree as it was',
  verify: 'Verifying the archive',
}

export default class ZkRestore extends BaseCommand {
  static args = {
    location: Args.string({
      description:
        'The archive: a path, file:///abs/path or s3://bucket/key?...; or, with --to-zxid or --to-time, an archive repository (dcos zk archive).',
      required: true,
    }),
  }
  static description = `Verifies the whole archive first (format version, every checksum): a corrupt, truncated or foreign archive is refused before ZooKeeper is touched. Then it replaces the subtree at the path of --zk (the archive's own root when the URI has none): it saves what is there now to a safety backup, shows the plan, deletes the subtree, recreates every znode with its data, type and ACL (restrictive ACLs last), and re-reads the result to prove it matches the archive.

Before anything is deleted, the live ACLs and the archive's are checked against the credentials, and the servers are shown to take the archive's largest znode and its container and TTL znodes: a restore that would stop half way does not start. A restore that fails after it started changing the tree (a create refused, the quorum lost, a result that does not verify) restores its safety backup by itself, or deletes what it created where nothing was, and exits 1 saying both; --no-rollback leaves the tree as it is.

One restore at a time: the cluster lock is shared with the backup service. A holder on this host whose process is gone (a restore killed half way) is waited for until its session expires; --wait-lock waits for any holder.

A data-directory archive (dcos-zk's layout) restores online too, with no node stopped: its snapshot and logs are replayed to the state ZooKeeper would load (see \`dcos zk convert\`), and that state, or its subtree --from, goes through the same verified restore. Without a path in --zk it goes where it was (--from, or /).

Offline mode (--data-dir or --dcos instead of --zk), compatible with dcos-zk restore, for a STOPPED node: refuses with "ZooKeeper must not be running. Aborting." (exit 1) while the pid in --pid-file is alive or the clientPort of --zk-config answers. Reads the whole archive first and validates every member (only regular files and directories under ./zookeeper/, no absolute path, no "..", no links or devices, snapshot and log files starting with ZooKeeper's magic, the SHA-256s of our manifest when the archive has one; archives of dcos-zk have none) and checks the free space: a bad archive, one without any snapshot.* or log.*, or a full disk changes nothing. A --data-dir or --log-dir holding other files than ZooKeeper's (myid, version-2, zookeeper_server.pid, initialize, lost+found) is refused as a likely typo unless --force; symlinked directories are restored where they point. Then it renames the current directories to <dir>.safety-<time> (kept, and printed), extracts into fresh ones (the node keeps its own myid, copied from the safety copy: an archive's myid is never extracted, and -v says so) and, if extraction fails, removes the partial directories and puts the originals back. Archives and archives of dcos-zk restore both ways. No temporary copy is made (-t is accepted and ignored).

Point in time (--to-zxid or --to-time, with an archive repository written by \`dcos zk archive\`, told apart from an archive by its bases/*.json): the newest base at or before the target is picked, and its segments (each checked against its SHA-256) are replayed onto it up to the target, every checksum and digest checked on the way. The target is inclusive: --to-zxid names the last transaction kept, --to-time keeps the transactions at or before that instant (pgBackRest's default too); --exclusive keeps only those before it. A target before the oldest base's consistent point, after the last shipped transaction or inside a gap is refused (exit 2) before anything is touched, and the refusal lists the restorable windows (see \`dcos zk timeline\`). Online, the state at the point goes through the same verified restore as an archive (--from, --dry-run, the safety backup, the lock, rollback); the result says the point restored (zxid, time, base, segments). Offline (--data-dir), it writes a data directory ZooKeeper loads at that point.

Paths matched by --exclude are left alone on both sides: not restored from the archive, not deleted from ZooKeeper. Ephemeral znodes are never recreated. Stop the writers of the subtree (e.g. Marathon) first: what they write between the safety backup and the restore is lost.

${EXIT_CODES_HELP}`
  static enableJsonFlag = true
  static examples = [
    {
      command:
        '<%= config.bin %> <%= command.id %> s3://backups/zk-repo --to-time "2026-12-01T14:02:59Z" --zk zk://10.0.0.1:2181/marathon --from /marathon --dry-run',
      description:
        'Undo a mistake: the plan to put /marathon back as it stood at 14:02:59 UTC, from an archive repository',
    },
    {
      command:
        '<%= config.bin %> <%= command.id %> ./zk-repo --to-zxid 0x10000a3f2 --zk zk://10.0.0.1:2181/restored --from /marathon',
      description: 'The tree after transaction 0x10000a3f2, into another path to look at it',
    },
    {
      command:
        '<%= config.bin %> <%= command.id %> ./zk-repo --to-time "15m ago" --exclusive --zk zk://10.0.0.1:2181 --yes',
      description: 'Everything back to fifteen minutes ago (transactions at that instant left out)',
    },
    {
      command:
        '<%= config.bin %> <%= command.id %> ./zk-datadir.tar.gz --zk zk://10.0.0.1:2181/marathon --from /marathon --dry-run',
      description: "Online, from a dcos-zk data-directory archive: only Marathon's subtree, plan only",
    },
    {
      command: '<%= config.bin %> <%= command.id %> ./marathon.tar.gz --zk zk://10.0.0.1:2181 --dry-run',
      description: 'Show what a restore would create, change and delete',
    },
    {
      command: '<%= config.bin %> <%= command.id %> ./marathon.tar.gz --zk zk://10.0.0.1:2181 --yes',
      description: 'Restore to where the archive came from, without asking',
    },
    {
      command: '<%= config.bin %> <%= command.id %> ./marathon.tar.gz --zk localhost:2181/restored/marathon',
      description: 'Restore into another path',
    },
    {
      command: '<%= config.bin %> <%= command.id %> ./marathon.tar.gz --zk zk://10.0.0.1:2181 --yes --wait-lock 2m',
      description: 'Wait up to two minutes for another restore or service job to finish',
    },
    {
      command: '<%= config.bin %> <%= command.id %> ./marathon.tar.gz --zk zk://10.0.0.1:2181 --yes --batch off',
      description: 'One request per znode instead of multi batches (chosen by itself for ZooKeeper before 3.6)',
    },
    {
      command: '<%= config.bin %> <%= command.id %> /backups/zk-2024-05-01.tar.gz --dcos -v',
      description: 'Offline, like dcos-zk restore, on a stopped DC/OS master',
    },
    {
      command:
        '<%= config.bin %> <%= command.id %> ./marathon.tar.gz --zk localhost:2181/marathon/state/apps --from /marathon/state/apps --exclude /marathon/state/apps/old-app',
      description: 'Restore one subtree, leaving one app out',
    },
  ]
  static flags = {
    ...zkFlags,
    ...dataDirFlags,
    batch: Flags.string({
      default: 'auto',
      description:
        'Read and write in batches (multi-read and multi): auto (when the server answers multi-read: ZooKeeper 3.6+), on (or fail), off (one request per znode). --json and -v say which path ran.',
      options: BATCH_MODES,
    }),
    'dry-run': Flags.boolean({description: 'Print the plan (znodes to create, change and delete) and change nothing.'}),
    force: Flags.boolean({
      description:
        "Offline: restore into a --data-dir or --log-dir that holds other files than ZooKeeper's (refused without it: such a directory is most likely a typo, and it is moved aside whole).",
      helpGroup: 'OFFLINE',
    }),
    exclusive: Flags.boolean({
      description:
        'With --to-zxid or --to-time: stop before the target instead of after it (keep only the transactions before that zxid or time).',
      exclusive: ['inclusive'],
      helpGroup: 'POINT IN TIME',
    }),
    inclusive: Flags.boolean({
      description:
        'With --to-zxid or --to-time: keep the target transaction (or the transactions at that time); the default, for scripts that want to say so.',
      exclusive: ['exclusive'],
      helpGroup: 'POINT IN TIME',
    }),
    'to-time': Flags.string({
      description:
        'With an archive repository: restore the state at this time, its transactions included: ISO 8601 with Z or an offset (2026-12-01T14:02:59.123Z, 2026-12-01T15:02:59+01:00), or a time ago (15m ago, 2h ago).',
      exclusive: ['to-zxid'],
      helpGroup: 'POINT IN TIME',
    }),
    'before-change': Flags.string({
      description:
        'With an archive repository: restore the state just before the first transaction (at or after --since) that changed or deleted this path or anything under it: the undo of a mistake. dcos zk history <repository> PATH lists those transactions.',
      exclusive: ['to-zxid', 'to-time'],
      helpGroup: 'POINT IN TIME',
    }),
    since: Flags.string({
      dependsOn: ['before-change'],
      description:
        'With --before-change: the first change at or after this time (ISO 8601 with its zone, or 15m ago). Default: the oldest transaction the repository holds.',
      helpGroup: 'POINT IN TIME',
    }),
    'to-zxid': Flags.string({
      description:
        'With an archive repository: restore the state after this transaction, the last one kept (0x10000a3f2 as ZooKeeper prints it, or decimal).',
      exclusive: ['to-time'],
      helpGroup: 'POINT IN TIME',
    }),
    exclude: Flags.string({
      description: 'A znode path of the archive (with its subtree) or glob to leave alone. Repeatable.',
      multiple: true,
    }),
    from: Flags.string({description: 'Restore only this subtree of the archive (its path as backed up).'}),
    'no-rollback': Flags.boolean({
      description:
        'When the restore fails after it has started changing the tree, leave the tree as it is instead of restoring the safety backup.',
    }),
    'rollback-wait': Flags.string({
      default: '1m',
      description:
        'When the connection or the quorum goes half way, how long the rollback waits (30s, 5m) for the ensemble to answer again before it gives up and names the safety backup.',
    }),
    'no-safety-backup': Flags.boolean({
      dependsOn: ['yes'],
      description: 'Do not save the current tree first (needs --yes; then a failed restore cannot roll back).',
    }),
    'safety-backup': Flags.string({
      description: 'Where to save the current tree before changing it. Default: ./zk-safety-<path>-<time>.tar.gz',
      exclusive: ['no-safety-backup'],
    }),
    'max-sequence-pairs': Flags.integer({
      default: DEFAULT_MAX_PAIRS,
      description:
        'Refuse, with nothing changed, a restore whose sequence counters take more create-and-delete pairs than this (the plan and --dry-run show how many).',
      min: 0,
    }),
    'sequence-counters': Flags.string({
      default: 'sequential',
      description:
        'Give parents back their next sequential number (a sequential create there then gets the archived one, never a restored name): sequential (parents with sequential children in the archive), all, off. Raised with create-and-delete pairs; a parent kept in place whose counter is already higher keeps it.',
      options: COUNTER_MODES,
    }),
    'lock-path': Flags.string({
      default: DEFAULT_LOCK_PATH,
      description:
        'The cluster-wide lock, shared with the backup service: a restore is refused while another one (or a service job) holds it.',
    }),
    'skip-permission-check': Flags.boolean({
      description:
        'Go ahead even where the live ACLs seem to forbid the restore (only for a ZooKeeper superuser, whom ACLs do not bind).',
    }),
    verbose: Flags.boolean({
      char: 'v',
      description: 'List every znode deleted and created (offline: every archive member extracted).',
    }),
    'wait-lock': Flags.string({
      description:
        'Wait this long (30s, 5m) for another holder of the cluster lock to let go. Without it, only a holder on this host whose process is gone is waited for, until its session expires.',
    }),
    yes: Flags.boolean({char: 'y', description: 'Do not ask before deleting or changing znodes (for scripts).'}),
    zk: Flags.string({
      description:
        'ZooKeeper hosts and the path to restore to: zk://host:2181/path (without a path, where the archive came from).',
      env: 'DCOS_ZK',
    }),
  }
  static summary = 'Restore a ZooKeeper subtree from an archive, online, with a safety backup first.'

  async run(): Promise<
    (DataDirPointResult & {point: PointSummary}) | DataDirRestoreResult | (RestoreResult & {point?: PointSummary})
  > {
    const {args, flags, raw} = await this.parse(ZkRestore)
    const mode = resolveMode(flags, raw, [
      'batch',
      'dry-run',
      'exclude',
      'from',
      'lock-path',
      'max-sequence-pairs',
      'sequence-counters',
      'no-rollback',
      'rollback-wait',
      'no-safety-backup',
      'safety-backup',
      'skip-permission-check',
      'wait-lock',
      'zk-auth',
      'zk-sasl',
      'session-timeout',
      ...ZK_TLS_FLAG_NAMES,
    ])
    const source = resolveLocation(args.location)
    const pointTarget = await resolvePointTarget(source, flags)
    if (mode.mode === 'offline')
      return pointTarget
        ? this.runOfflineToPoint(source, pointTarget, mode.paths, flags)
        : this.runOffline(source, mode.paths, flags)
    if (flags.force) throw new UsageError('--force is for offline restores (--data-dir or --dcos), not with --zk')
    const target = this.parseZk(mode.zk)
    const json = Boolean(flags.json)
    const safetyLocation = flags['safety-backup']
    const safetyBackup = flags['no-safety-backup']
      ? null
      : (path: string) => resolveLocation(safetyLocation ?? defaultSafetyLocation(path))
    if (safetyLocation) resolveLocation(safetyLocation)
    const waitLockMs = flags['wait-lock'] === undefined ? 0 : parseDuration(flags['wait-lock'], 'wait-lock')
    const rollbackWaitMs = parseDuration(flags['rollback-wait'], 'rollback-wait')

    let counter: Progress | undefined
    let safetyPrinted = false
    const restore = (restoreSource: RestoreOptions['source']) =>
      restoreTree({
        batch: flags.batch as BatchMode,
        confirm: async (plan, safety) => {
          counter?.stop()
          counter = undefined
          this.printSafety(safety)
          safetyPrinted = true
          this.printPlan(plan)
          const question = `Replace the ${plan.change + plan.delete + plan.unchanged} znodes under ${plan.target} with the archive's?`
          return confirm(question, flags.yes)
        },
        connect: () => this.connect(target, flags),
        dryRun: flags['dry-run'],
        exclude: flags.exclude,
        from: flags.from,
        identities: identitiesOf(flags['zk-auth'] ? parseDigestAuth(flags['zk-auth']) : undefined),
        lock: {job: `zk-restore-${randomUUID()}`, path: validateZnodePath(flags['lock-path']), waitMs: waitLockMs},
        maxSequencePairs: flags['max-sequence-pairs'],
        onNotice: (message) => {
          counter?.stop('waiting')
          counter = undefined
          this.logToStderr(message)
        },
        onPhase(phase, total) {
          counter?.stop()
          counter =
            total === undefined
              ? new Counter(progressEnabled(json), PHASE_LABELS[phase])
              : new Bar(progressEnabled(json), PHASE_LABELS[phase], total)
        },
        onZnode: (phase, path) => {
          counter?.add()
          if (flags.verbose) this.log(`${phase === 'delete' ? 'deleted' : 'created'} ${path}`)
        },
        rollback: !flags['no-rollback'],
        rollbackWaitMs,
        safetyBackup,
        sequenceCounters: flags['sequence-counters'] as CounterMode,
        skipPermissionCheck: flags['skip-permission-check'],
        source: restoreSource,
        target: target.path,
      })
    let point: PointSummary | undefined
    const restored = withOnlineSource(source, pointTarget, (restoreSource, located) => {
      point = located
      if (located) this.log(describePoint(located))
      return restore(restoreSource)
    })
    const result = await restored.finally(() => counter?.stop())
    this.report(result, {safetyPrinted, verbose: flags.verbose})
    return point ? {...result, point} : result
  }

  private printPlan(plan: RestorePlan): void {
    const from = plan.from === plan.archiveRoot ? '' : ` (subtree ${plan.from})`
    this.log(`Plan: restore ${plan.archive}${from} to ${plan.target}`)
    const row = (label: string, count: number, detail = '') =>
      this.log(`  ${label.padEnd(10)} ${String(count).padStart(8)}${detail && `  ${detail}`}`)
    row('create', plan.create, first(plan.firstCreate, plan.create))
    row('change', plan.change, first(plan.firstChange, plan.change))
    row('delete', plan.delete, first(plan.firstDelete, plan.delete))
    row('unchanged', plan.unchanged)
    if (plan.ephemeralsToDelete > 0)
      row('ephemeral', plan.ephemeralsToDelete, 'deleted with their parents, never recreated')
    if (plan.excludedLive > 0) row('excluded', plan.excludedLive, 'left as they are')
    if (plan.sequencePairs > 0)
      row(
        'counters',
        plan.sequenceParents,
        `parents' sequence counters raised with ${plan.sequencePairs} create-and-delete pairs`,
      )
    if (plan.countersAhead > 0)
      row(
        'ahead',
        plan.countersAhead,
        `sequence counters past the archive's, kept: ${first(plan.firstCountersAhead, plan.countersAhead)}`,
      )

    for (const problem of plan.permissionProblems.slice(0, 10)) this.log(`  not allowed: these credentials ${problem}`)
  }

  private printSafety(safety: BackupResult | null): void {
    if (safety)
      this.log(
        `Safety backup of ${safety.root}: ${safety.location} (${safety.znodes} znodes, ${formatBytes(safety.archiveBytes)})`,
      )
  }

  /** Prints how the restore went. */
  private report(result: RestoreResult, {safetyPrinted, verbose}: {safetyPrinted: boolean; verbose?: boolean}): void {
    if (verbose) this.log(describePaths(result))
    this.warnCountersAhead(result.plan)
    if (result.dryRun) {
      this.printPlan(result.plan)
      this.log('Dry run: nothing was changed.')
    } else {
      if (!safetyPrinted) this.printSafety(result.safetyBackup)
      const pairs =
        result.sequencePairs > 0
          ? `; sequence counters of ${result.plan.sequenceParents} parents raised with ${result.sequencePairs} create-and-delete pairs (${result.sequencePairsPerSecond}/s)`
          : ''
      if (result.plan.create + result.plan.change + result.plan.delete + result.plan.ephemeralsToDelete === 0) {
        if (pairs)
          this.log(
            `The ${result.plan.unchanged} znodes under ${result.plan.target} already matched the archive${pairs}; verified by re-reading.`,
          )
        else
          this.log(
            `Nothing to restore: the ${result.plan.unchanged} znodes under ${result.plan.target} already match the archive.`,
          )
        return
      }

      this.log(
        `Restored ${result.created} znodes to ${result.plan.target} from ${result.plan.archive} (deleted ${result.deleted}, ${result.aclsSet} ACLs set${pairs}) in ${(result.durationMs / 1000).toFixed(1)}s; verified by re-reading.`,
      )
    }
  }

  private async runOffline(
    source: ReturnType<typeof resolveLocation>,
    paths: OfflinePaths,
    flags: {force?: boolean; verbose?: boolean},
  ): Promise<DataDirRestoreResult> {
    const result = await restoreDataDir({
      ...paths,
      force: flags.force,
      onMember: (member) => {
        if (flags.verbose) this.log(printableName(member.path))
      },
      onSkip: (member, reason) => {
        if (flags.verbose) this.log(`skipped ${printableName(member.path)}: ${reason}`)
      },
      onPhase: (phase) => {
        if (flags.verbose) this.log(phase === 'validate' ? `Validating ${source.display}` : 'Archive valid: extracting')
      },
      source,
    })
    for (const safety of result.safetyCopies)
      this.log(`Safety copy of the previous directory: ${safety} (kept; delete it once ZooKeeper runs well)`)
    const dirs = result.logDir === result.dataDir ? result.dataDir : `${result.dataDir} and ${result.logDir}`
    const checks = result.checksummed
      ? 'every SHA-256 verified'
      : 'no checksums in the archive (dcos-zk): structure and file magic verified'
    this.log(
      `Restored ${result.files} files (${formatBytes(result.dataBytes)}) to ${dirs} from ${result.location}; ${checks}${result.myidFromSafetyCopy ? '; myid kept from the safety copy' : ''}.`,
    )
    return result
  }

  private runOfflineToPoint(
    source: ReturnType<typeof resolveLocation>,
    target: PointTarget,
    paths: OfflinePaths,
    flags: {force?: boolean},
  ): Promise<DataDirPointResult & {point: PointSummary}> {
    const options = {
      dataDir: paths.dataDir,
      force: flags.force,
      onNotice: (message: string) => this.logToStderr(message),
      ...(paths.logDir === undefined ? {} : {logDir: paths.logDir}),
      ...(paths.zkConfig === undefined ? {} : {zkConfig: paths.zkConfig}),
    }
    return restoreDataDirAtPoint(source, target, options, (point) => this.log(describePoint(point)))
  }

  private warnCountersAhead({countersAhead, firstCountersAhead}: RestorePlan): void {
    if (countersAhead === 0) return
    this.warn(
      `${countersAhead} parents kept in place have a sequence counter already past the archive's; it can't be lowered and stays (${first(firstCountersAhead, countersAhead)})`,
    )
  }
}

function describePoint({base, segments, target, time, zxid}: PointSummary): string {
  return `Point: zxid ${zxid}${time ? ` (${time})` : ''} for ${target}, from base ${base} and ${segments.length} segment${segments.length === 1 ? '' : 's'} replayed`
}

/** The first paths of a list, and "..." when there are more. */
function first(paths: string[], count: number): string {
  return paths.join(', ') + (count > paths.length ? ', ...' : '')
}

function describePaths({batchFallback, readPath, writePath}: RestoreResult): string {
  const paths = `Read path: ${readPath === 'multi-read' ? 'multi-read batches' : 'single requests'}; write path: ${writePath === 'multi' ? 'multi batches' : 'single requests'}`
  return batchFallback ? `${paths} (${batchFallback})` : paths
}

export function defaultSafetyLocation(path: string, now = new Date()): string {
  const name = path === '/' ? 'root' : path.slice(1).replaceAll('/', '-')
  return `zk-safety-${name}-${compactUtc(now)}.tar.gz`
}
