import {Args, Flags} from '@oclif/core'

import {ARCHIVE_EXIT_CODES_HELP, BaseCommand} from '../../cli/base.js'
import {parseDuration} from '../../cli/duration.js'
import {inertJson} from '../../cli/printable.js'
import {
  type ArchiveEvent,
  type ArchiveRunOptions,
  type BaseEvery,
  leaseDuration,
  RepositoryLease,
  runArchiver,
  syncOnce,
} from '../../engine/archive/index.js'
import {EXIT_GAP} from '../../errors.js'
import {resolveLocation} from '../../providers/index.js'

export default class ZkArchive extends BaseCommand {
  static args = {
    repository: Args.string({
      description: 'The archive repository: a directory, file:///abs/dir or s3://bucket/prefix?region=...',
      required: true,
    }),
  }
  static description = `Archives a running node's transaction log as it grows: a base (the hot data-dir copy of zk backup --data-dir) under <repository>/bases/, then every whole transaction appended since as immutable segments under <repository>/segments/, named by their zxid range, each with a JSON sidecar holding its range, times, source log and SHA-256. Every --interval one step runs: it reads what the repository holds, ships every whole txn after the last one shipped (one segment per log, so cut at log rolls), and writes each atomically; a kill at any moment leaves no gap and no duplicate, since the next step starts from the repository. When the node's logs no longer follow the last shipped txn (purged before they were shipped, another node, a reset) a gap is reported ({"event":"gap"}) and a new base is taken; --once then exits 3, and the running archiver goes on (zk timeline exits 3 while the repository holds a gap).

Each step first removes what a killed step left (a sidecar without its .seg, a base archive without its record, temp files of dead writers: {"event":"leftovers-removed"}). The running archiver reads each log on from where its last step stopped.

Logs are JSON lines on stderr: base, segment, gap, error and, after every step, sync with the lag (lagTxns and lagSeconds: how far the repository was behind the node's newest txn when the step began). SIGTERM or SIGINT ends the step under way, ships what is written since and exits 0. --once runs one step and exits (for a systemd timer).

One archiver per repository: <repository>/lock.json is a lease naming its holder (host, pid, a random id) and when it expires (6 intervals, a minute at least), renewed every step and deleted on exit. A second archiver refuses with exit 2 naming the holder; an expired lease, or one whose holder was a process of this host that is gone, is taken over ({"event":"lease-takeover"}). Storage has no compare-and-swap: the lease is written, then read back, so two archivers that take a free lease at the same instant overlap for at most one step. --base-every takes a new base on a schedule; the window of the old base runs on through the segments shipped after it, so a scheduled base never makes a gap.

${ARCHIVE_EXIT_CODES_HELP}`
  static examples = [
    {
      command:
        '<%= config.bin %> <%= command.id %> /backups/zk-archive --data-dir /var/lib/zookeeper --zk-config /etc/zookeeper/zoo.cfg',
      description: 'Archive a node to a local directory, one step every 10 s, until SIGTERM',
    },
    {
      command:
        '<%= config.bin %> <%= command.id %> "s3://backups/zk/node1?region=us-east-1" --data-dir /var/lib/zookeeper --log-dir /var/lib/zookeeper-log --interval 30s',
      description: 'To S3, with a separate log directory, every 30 s',
    },
    {
      command: '<%= config.bin %> <%= command.id %> /backups/zk-archive --data-dir /var/lib/zookeeper --once',
      description: 'One step (from a systemd timer or cron)',
    },
  ]
  static flags = {
    'base-every': Flags.string({
      description:
        'Take a new base this long after the last (a duration: 6h, 30m) or after this many txns shipped since (a plain number: 100000). Default: only the first base, and one after each gap.',
    }),
    'data-dir': Flags.string({description: 'The data directory (dataDir) of the node.', required: true}),
    keep: Flags.integer({
      description:
        'Keep the N newest bases and exactly the segments their windows use; delete older bases and segments after each step.',
      min: 1,
    }),
    interval: Flags.string({default: '10s', description: 'How often a step runs: 10s, 1m, 500ms, ...'}),
    'log-dir': Flags.string({description: 'The transaction log directory (dataLogDir). Default: the data directory.'}),
    once: Flags.boolean({description: 'Run one step and exit.'}),
    'zk-config': Flags.string({
      description:
        "The node's zoo.cfg: the base's manifest then records the ZooKeeper version and that the copy is hot.",
    }),
  }
  static summary = "Continuously archive a running node's transaction log (bases and log segments) to a repository."

  async run(): Promise<void> {
    const {args, flags} = await this.parse(ZkArchive)
    const intervalMs = parseDuration(flags.interval, 'interval')
    const log = (event: ArchiveEvent) => {
      process.stderr.write(`${inertJson(JSON.stringify({time: new Date().toISOString(), ...event}))}\n`)
    }

    const repository = resolveLocation(args.repository)
    const lease = new RepositoryLease(repository, {durationMs: leaseDuration(intervalMs), log})
    const step = {
      ...(flags['base-every'] ? {baseEvery: parseBaseEvery(flags['base-every'])} : {}),
      dataDir: flags['data-dir'],
      ...(flags.keep ? {keep: flags.keep} : {}),
      lease,
      log,
      ...(flags['log-dir'] ? {logDir: flags['log-dir']} : {}),
      repository,
      ...(flags['zk-config'] ? {zkConfig: flags['zk-config']} : {}),
    }
    try {
      if (flags.once) {
        // The step succeeded and a new base was taken, but txns are missing: a script must see it.
        if ((await syncOnce(step)).gap) process.exitCode = EXIT_GAP
        return
      }

      await this.runUntilSignal({...step, intervalMs})
    } finally {
      await lease.release()
    }
  }

  private async runUntilSignal(options: Omit<ArchiveRunOptions, 'signal'>): Promise<void> {
    const stop = new AbortController()
    const onSignal = () => stop.abort()
    process.once('SIGTERM', onSignal)
    process.once('SIGINT', onSignal)
    try {
      await runArchiver({...options, signal: stop.signal})
    } finally {
      process.off('SIGTERM', onSignal)
      process.off('SIGINT', onSignal)
    }
  }
}

/** A plain number counts txns; anything else is a duration. */
function parseBaseEvery(text: string): BaseEvery {
  return /^\s*\d+\s*$/.test(text) ? {txns: Number(text)} : {ms: parseDuration(text, 'base-every')}
}
