import {Args, Flags} from '@oclif/core'

import {backupClient, backupFlags} from '../../cli/backup-flags.js'
import {BACKUP_EXIT_CODES_HELP, BaseCommand} from '../../cli/base.js'
import {confirm} from '../../cli/confirm.js'
import {OperationError} from '../../errors.js'

export default class BackupDelete extends BaseCommand {
  static args = {
    id: Args.string({description: 'Id of the backup to delete (see dcos backup list).', required: true}),
  }
  static description = `Asks the backup service to delete a backup and its archives. It asks first on a terminal; scripts pass --yes (without a terminal and without --yes, nothing is sent and the exit code is 2). Prints nothing on success (with --json: {"deleted": "<id>"}).

The service refuses to delete an unknown id, a restore's id, or a backup being restored (exit 2).

${BACKUP_EXIT_CODES_HELP}`
  static enableJsonFlag = true
  static examples = [
    {
      command:
        'DCOS_URL=https://master.example.com <%= config.bin %> <%= command.id %> nightly-0b6a5d0e-5f7c-4f43-9d0a-3b1c2e4f5a6b',
      description: 'Delete a backup, asking first',
    },
    {
      command: '<%= config.bin %> <%= command.id %> nightly-0b6a5d0e-5f7c-4f43-9d0a-3b1c2e4f5a6b --yes',
      description: 'From a script: no question',
    },
  ]
  static flags = {
    ...backupFlags,
    yes: Flags.boolean({char: 'y', description: 'Do not ask before deleting (for scripts).'}),
  }
  static summary = 'Delete a backup from the backup service.'

  async run(): Promise<{deleted: string}> {
    const {args, flags} = await this.parse(BackupDelete)
    const client = backupClient(flags)
    if (!(await confirm(`Delete backup ${args.id}? It cannot be restored afterwards.`, flags.yes, 'delete a backup'))) {
      throw new OperationError('Delete cancelled: nothing changed')
    }

    await client.delete(args.id)
    return {deleted: args.id}
  }
}
