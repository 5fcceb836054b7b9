import {Flags} from '@oclif/core'
import {readFile} from 'node:fs/promises'

import {BaseCommand, EXIT_CODES_HELP, sessionOptions, zkFlags} from '../../cli/base.js'
import {parseDuration} from '../../cli/duration.js'
import {PACKAGE_VERSION} from '../../engine/version.js'
import {errorMessage, UsageError} from '../../errors.js'
import {resolveLocation} from '../../providers/index.js'
import {createHttpServer, createServiceLogger, listen, type ListenTarget, parseListen} from '../../service/http.js'
import {BackupService, type Component} from '../../service/service.js'
import {DEFAULT_LOCK_PATH} from '../../zk/lock.js'
import {validateZnodePath} from '../../zk/uri.js'

const DEFAULT_EXCLUDE = ['/marathon/leader', '/marathon/leader-curator']

export default class BackupServe extends BaseCommand {
  static description = `Serves DC/OS's backup API (/system/v1/backup/v1/... and, as behind DC/OS's proxy, /v1/...) for \`dcos backup create|list|show|delete|restore\` and for DC/OS's own CLI.

Each backup is one archive per component, in the format of \`dcos zk backup\` (so \`dcos zk inspect\` and \`dcos zk restore\` read them too), plus its metadata, all kept in --storage: \`<id>.json\` and \`<id>.<component>.tar.gz\`. The storage is the source of truth: listing works while ZooKeeper is down, and every instance pointed at the same storage (one per master) sees the same backups.

One backup or restore runs at a time across all instances: the lock is an ephemeral znode (--lock-path), so a crashed instance's lock goes with its session. Jobs whose instance died end STATUS_ERROR once any instance next holds the lock. A restore writes only to the configured --component paths: an archive holding another path (one planted in the storage) is refused, with nothing changed. It first verifies every archive, then saves each component's current state as a backup of its own (its id is the restore's safety_backup_id), and only then replaces the components.

Logs are JSON lines on stdout, without tokens or storage keys. SIGTERM or SIGINT stops the service, letting a running job finish for up to 30 seconds.

${EXIT_CODES_HELP}`
  static examples = [
    {
      command: '<%= config.bin %> <%= command.id %> --storage /var/lib/dcos-backup --zk zk://master.mesos:2181',
      description: 'Serve Marathon backups on 127.0.0.1:8095, stored on local disk',
    },
    {
      command:
        '<%= config.bin %> <%= command.id %> --storage "s3://backups/dcos/?region=us-east-1" --zk zk://10.0.0.1,10.0.0.2,10.0.0.3 --listen 0.0.0.0:8095 --token-file /run/dcos-backup/token',
      description: 'One instance per master, all sharing an S3 bucket, with a token required',
    },
    {
      command: '<%= config.bin %> <%= command.id %> --storage /backups --zk localhost:2181 --schedule 1h --keep 48',
      description: 'Hourly backups, keeping the newest 48 (hand-made backups are never pruned)',
    },
    {
      command:
        '<%= config.bin %> <%= command.id %> --storage /backups --zk localhost:2181 --component marathon=/marathon --component app=/app --socket /run/dcos-backup.sock',
      description: 'Two components, served on a Unix socket (mode 0660)',
    },
  ]
  static flags = {
    ...zkFlags,
    storage: Flags.string({
      description:
        'Where backups are kept: a directory (created, mode 0700, when only its parent exists), file:///abs/dir or s3://bucket/prefix/?region=...',
      required: true,
    }),
    component: Flags.string({
      description:
        'A component to back up, name=/znode/path (name: letters, digits, _ and -). Repeatable. Default: marathon=/marathon.',
      multiple: true,
    }),
    exclude: Flags.string({
      description: `A znode path (with its subtree) or glob that backups leave out and restores leave alone. Repeatable. Default: ${DEFAULT_EXCLUDE.join(', ')} (Marathon's leader election).`,
      multiple: true,
    }),
    listen: Flags.string({description: 'host:port to serve on. Default 127.0.0.1:8095.', exclusive: ['socket']}),
    socket: Flags.string({
      description: 'Serve on this Unix socket instead, created with mode 0660.',
      exclusive: ['listen'],
    }),
    'token-file': Flags.string({
      description: 'File holding the token every request must carry (Authorization: token=<t> or Bearer <t>).',
    }),
    schedule: Flags.string({description: 'Take a backup labelled "scheduled" at this interval (30m, 1h, 24h).'}),
    keep: Flags.integer({
      description:
        'With --schedule: how many ready scheduled backups to keep (default 48); older ones are pruned after each success.',
      min: 1,
      dependsOn: ['schedule'],
    }),
    'lock-path': Flags.string({default: DEFAULT_LOCK_PATH, description: 'The znode of the cluster-wide lock.'}),
    'dcos-version': Flags.string({
      default: PACKAGE_VERSION,
      description: 'The version recorded in each backup (dcos_version).',
    }),
    'log-level': Flags.option({default: 'info', options: ['debug', 'info', 'warn', 'error'] as const})(),
  }
  static summary = "Run the backup service: DC/OS's backup API, backed by any storage location."

  async run(): Promise<void> {
    const {flags} = await this.parse(BackupServe)
    if (!flags.zk)
      throw new UsageError('Missing --zk (or DCOS_ZK): the ZooKeeper hosts, such as zk://master.mesos:2181')
    const target = this.parseZk(flags.zk)
    if (target.path !== undefined && target.path !== '/') {
      throw new UsageError(
        `--zk names the path ${target.path}: give only the hosts, and the paths with --component name=/path`,
      )
    }

    const token = flags['token-file'] === undefined ? undefined : await readToken(flags['token-file'])
    const listenOn: ListenTarget = flags.socket ? {socket: flags.socket} : parseListen(flags.listen ?? '127.0.0.1:8095')
    const logger = createServiceLogger(flags['log-level'])
    const service = new BackupService({
      components: parseComponents(flags.component ?? ['marathon=/marathon']),
      exclude: flags.exclude ?? DEFAULT_EXCLUDE,
      lockPath: validateZnodePath(flags['lock-path']),
      log: logger,
      schedule:
        flags.schedule === undefined
          ? undefined
          : {intervalMs: parseDuration(flags.schedule, 'schedule'), keep: flags.keep ?? 48},
      storage: resolveLocation(flags.storage),
      version: flags['dcos-version'],
      zk: sessionOptions(target.hosts, flags),
    })
    await service.start()
    const app = createHttpServer({logger, service, token})
    const address = await listen(app, listenOn)
    logger.info({address, storage: service.storageDisplay}, 'backup service listening')

    await new Promise<void>((resolve) => {
      const shutdown = (signal: string) => {
        logger.info({signal}, 'stopping')
        resolve()
      }

      process.once('SIGTERM', shutdown)
      process.once('SIGINT', shutdown)
    })
    await app.close()
    await service.stop()
  }
}

async function readToken(file: string): Promise<string> {
  const token = await readFile(file, 'utf8').then(
    (text) => text.trim(),
    (error: unknown) => {
      throw new UsageError(`Cannot read --token-file ${file}: ${errorMessage(error)}`)
    },
  )
  if (token === '') throw new UsageError(`--token-file ${file} is empty`)
  return token
}

function parseComponents(specs: string[]): Component[] {
  const components = specs.map((spec) => {
    const match = /^([\w-]+)=(\/.*)$/.exec(spec)
    if (!match) throw new UsageError(`Invalid --component "${spec}": use name=/znode/path, such as marathon=/marathon`)
    return {name: match[1], path: validateZnodePath(match[2])}
  })
  const names = components.map((component) => component.name)
  const repeated = names.find((name, index) => names.indexOf(name) !== index)
  if (repeated) throw new UsageError(`--component ${repeated} is given twice: each component needs its own name`)
  return components
}
