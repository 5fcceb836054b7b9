import {Args, Flags} from '@oclif/core'

import {BaseCommand, EXIT_CODES_HELP} from '../../cli/base.js'
import {formatBytes} from '../../cli/progress.js'
import {loadStateFrom, writeStateArchive} from '../../engine/convert.js'
import {UsageError} from '../../errors.js'
import {resolveLocation} from '../../providers/index.js'
import {checkStdoutTakesArchive} from '../../providers/stdio.js'

export interface ConvertResult {
  dataBytes: number
  location: string
  logs: string[]
  notes: string[]
  root: string
  skippedEphemerals: number
  snapshot: null | string
  source: string
  treeDigest: string
  txnsApplied: number
  znodes: number
  zxid: string
}

export default class ZkConvert extends BaseCommand {
  static args = {
    source: Args.string({
      description:
        "A data-directory archive (dcos-zk layout; a path, file:///..., s3://...) or a stopped node's data directory.",
      required: true,
    }),
    location: Args.string({
      description:
        'Where to write the online-format archive: a path, file:///abs/path, s3://bucket/key?... or - for stdout.',
      required: true,
    }),
  }
  static description = `Reads ZooKeeper's own files — the newest valid snapshot and the transaction logs after it, replayed the way ZooKeeper loads them, with no Java — and writes the state they hold as an archive of \`dcos zk backup\`'s format, which \`dcos zk inspect\` and \`dcos zk restore\` read like any online backup. Ephemeral znodes are left out (their sessions are gone) and so is ZooKeeper's own /zookeeper; containers and TTL znodes keep their type, which the files know and the client API hides.

A log whose tail was torn by a crash is read up to its last whole transaction, and the summary says so. Any other damage (bad magic, a checksum mismatch, a truncated snapshot) fails with the file and byte offset.

\`dcos zk restore\` and \`dcos zk inspect\` also take data-directory archives directly; convert when you want to keep or ship the online form.

${EXIT_CODES_HELP}`
  static enableJsonFlag = true
  static examples = [
    {
      command: '<%= config.bin %> <%= command.id %> ./zk-datadir.tar.gz ./state.tar.gz',
      description: 'Convert a dcos-zk archive',
    },
    {
      command: '<%= config.bin %> <%= command.id %> ./zk-datadir.tar.gz ./marathon.tar.gz --from /marathon',
      description: "Only Marathon's subtree",
    },
    {
      command:
        '<%= config.bin %> <%= command.id %> /var/lib/zookeeper "s3://backups/zk/state.tar.gz?region=us-east-1" --log-dir /var/lib/zookeeper-log',
      description: "From a stopped node's directories to S3",
    },
  ]
  static flags = {
    from: Flags.string({description: 'Convert only this subtree (default /).'}),
    force: Flags.boolean({description: 'Replace an existing archive at the location.'}),
    'log-dir': Flags.string({
      description: 'With a data directory as the source: its separate transaction log directory (dataLogDir).',
    }),
  }
  static summary = 'Turn a data-directory archive (dcos-zk) into an online-format archive.'

  async run(): Promise<ConvertResult> {
    const {args, flags} = await this.parse(ZkConvert)
    const destination = resolveLocation(args.location)
    if (destination.scheme === '-' && flags.json)
      throw new UsageError('--json cannot be used with - : stdout carries the archive')
    if (destination.scheme === '-') checkStdoutTakesArchive()
    const {display, state} = await loadStateFrom(args.source, flags['log-dir'])
    const manifest = await writeStateArchive({
      destination,
      from: flags.from,
      overwrite: flags.force,
      sourceDisplay: display,
      state,
    })
    const result: ConvertResult = {
      dataBytes: manifest.dataBytes,
      location: destination.display,
      logs: state.logs,
      notes: state.notes,
      root: manifest.source.root,
      skippedEphemerals: manifest.skippedEphemerals,
      snapshot: state.snapshot?.name ?? null,
      source: display,
      treeDigest: manifest.treeDigest,
      txnsApplied: state.txnsApplied,
      znodes: manifest.znodes,
      zxid: manifest.zxidEnd ?? '',
    }
    for (const note of state.notes) this.logToStderr(`Note: ${note}`)
    const log = destination.scheme === '-' ? (text: string) => this.logToStderr(text) : (text: string) => this.log(text)
    log(
      `Converted ${display} (zxid ${result.zxid}: ${result.snapshot ?? 'no snapshot'} + ${state.logs.length} logs, ${state.txnsApplied} transactions replayed) to ${result.location}: ${result.znodes} znodes under ${result.root}, ${formatBytes(result.dataBytes)} of data, ${result.skippedEphemerals} ephemeral left out.`,
    )
    return result
  }
}
