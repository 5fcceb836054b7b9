import {Args} from '@oclif/core'

import type {BackupInfo} from '../../service/api.js'

import {backupClient, backupFlags} from '../../cli/backup-flags.js'
import {BACKUP_EXIT_CODES_HELP, BaseCommand} from '../../cli/base.js'
import {inertJson} from '../../cli/printable.js'

export default class BackupShow extends BaseCommand {
  static args = {
    id: Args.string({description: 'Id of the backup (see dcos backup list).', required: true}),
  }
  static description = `Prints the metadata of one backup as JSON, as DC/OS did: id, DC/OS version, timestamp, status, the status of each component and every restore of the backup (each with its own id and status). An unknown id is bad input (exit 2).

${BACKUP_EXIT_CODES_HELP}`
  static enableJsonFlag = true
  static examples = [
    {
      command:
        'DCOS_URL=https://master.example.com <%= config.bin %> <%= command.id %> nightly-0b6a5d0e-5f7c-4f43-9d0a-3b1c2e4f5a6b',
      description: "A backup's metadata and restores",
    },
  ]
  static flags = backupFlags
  static summary = 'Show the metadata of a backup, its restores included.'

  async run(): Promise<BackupInfo> {
    const {args, flags} = await this.parse(BackupShow)
    const backup = await backupClient(flags).show(args.id)
    if (!this.jsonEnabled()) this.logLines(inertJson(JSON.stringify(backup, null, 2)))
    return backup
  }
}
