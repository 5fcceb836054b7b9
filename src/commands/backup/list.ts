import {Args} from '@oclif/core'

import type {BackupInfo} from '../../service/api.js'

import {backupClient, backupFlags} from '../../cli/backup-flags.js'
import {BACKUP_EXIT_CODES_HELP, BaseCommand} from '../../cli/base.js'
import {forStream} from '../../cli/printable.js'
import {plainTable} from '../../cli/table.js'

export default class BackupList extends BaseCommand {
  static args = {
    prefix: Args.string({
      description: 'Only the backups whose id starts with this (a label, for example).',
      ignoreStdin: true,
    }),
  }
  static description = `Prints a table of the backups, newest first: BACKUP ID | VERSION | STATUS | TIMESTAMP. With no backup, stdout stays empty and "No backups." is written on stderr.

${BACKUP_EXIT_CODES_HELP}`
  static enableJsonFlag = true
  static examples = [
    {
      command: 'DCOS_URL=https://master.example.com <%= config.bin %> <%= command.id %>',
      description: 'Every backup, newest first',
    },
    {command: '<%= config.bin %> <%= command.id %> nightly', description: 'Only the backups labelled nightly'},
    {
      command: '<%= config.bin %> <%= command.id %> --json | jq -r \'.[] | select(.status == "STATUS_READY") | .id\'',
      description: 'The ids of the ready backups',
    },
  ]
  static flags = backupFlags
  static summary = 'List the backups of the backup service.'

  async run(): Promise<BackupInfo[]> {
    const {args, flags} = await this.parse(BackupList)
    const backups = await backupClient(flags).list(args.prefix)
    if (this.jsonEnabled()) return backups
    if (backups.length === 0) this.logToStderr('No backups.')
    // The ids, versions and statuses come from the service: escaped before they are laid out.
    else this.logLines(formatBackups(backups, (text) => forStream(text, process.stdout)))
    return backups
  }
}

const COLUMNS = [
  {key: 'id', name: 'BACKUP ID'},
  {key: 'dcos_version', name: 'VERSION'},
  {key: 'status', name: 'STATUS'},
  {key: 'timestamp', name: 'TIMESTAMP'},
] as const

/** Plain padded columns: no colours, no box drawing, never truncated to the terminal's width. */
export function formatBackups(backups: BackupInfo[], shown: (text: string) => string = (text) => text): string {
  const data = backups.map(({dcos_version, id, status, timestamp}) => ({
    dcos_version: shown(dcos_version),
    id: shown(id),
    status: shown(status),
    timestamp: shown(timestamp),
  }))
  return plainTable(COLUMNS, data)
}
