import {Args, Flags} from '@oclif/core'

import type {RestoreInfo} from '../../service/api.js'

import {backupClient, backupFlags, waitFlags, waitOptions, waitTimes} from '../../cli/backup-flags.js'
import {BACKUP_EXIT_CODES_HELP, BaseCommand, JobFailed} from '../../cli/base.js'
import {confirm} from '../../cli/confirm.js'
import {failureReason} from '../../client/backup-client.js'
import {OperationError} from '../../errors.js'

export default class BackupRestore extends BaseCommand {
  static args = {
    id: Args.string({description: 'Id of the backup to restore (see dcos backup list).', required: true}),
  }
  static description = `Asks the backup service to replace the cluster's current state with a backup's, and prints the restore's id alone on stdout: a restore has an id of its own, and is listed among the backup's restores (dcos backup show <id>).

It asks first on a terminal; scripts pass --yes (without a terminal and without --yes, nothing is sent and the exit code is 2). Stop the writers of the state (Marathon, for example) first: what they write during the restore is lost.

The restore runs in the service: without --wait the command returns as soon as it has started. With --wait it follows the restore until it is STATUS_READY (exit 0) or STATUS_ERROR (exit 1, with the reason and, when the service saved the state it was replacing, the id of that safety backup), or until --timeout passes (exit 1; the restore goes on).

${BACKUP_EXIT_CODES_HELP}`
  static enableJsonFlag = true
  static examples = [
    {
      command:
        'DCOS_URL=https://master.example.com <%= config.bin %> <%= command.id %> nightly-0b6a5d0e-5f7c-4f43-9d0a-3b1c2e4f5a6b --wait',
      description: 'Restore a backup, asking first, and wait for the end',
    },
    {
      command:
        '<%= config.bin %> <%= command.id %> nightly-0b6a5d0e-5f7c-4f43-9d0a-3b1c2e4f5a6b --yes --wait --timeout 1h --json',
      description: 'From a script: no question, the final state of the restore as JSON',
    },
  ]
  static flags = {
    ...backupFlags,
    ...waitFlags,
    yes: Flags.boolean({char: 'y', description: 'Do not ask before restoring (for scripts).'}),
  }
  static summary = "Restore the cluster's state from a backup, through the backup service."

  async run(): Promise<RestoreInfo> {
    const {args, flags} = await this.parse(BackupRestore)
    const json = this.jsonEnabled()
    const client = backupClient(flags)
    const times = waitTimes(flags)
    if (
      !(await confirm(`Replace the cluster's current state with backup ${args.id}?`, flags.yes, 'restore a backup'))
    ) {
      throw new OperationError('Restore cancelled: nothing changed')
    }

    const started = await client.restore(args.id)
    if (!json) this.log(started.id)
    if (!flags.wait) return started

    const wait = waitOptions(times, json, `Restoring ${args.id}`)
    const restore = await client.waitForRestore(args.id, started.id, wait).finally(() => wait.stop())
    if (restore.status === 'STATUS_ERROR') {
      const reason = failureReason(restore) ?? '(the service gave no reason)'
      const safety = restore.safety_backup_id
      const undo =
        safety && !reason.includes(safety)
          ? `; the state before the restore is backup ${safety} ("dcos backup restore ${safety}" puts it back)`
          : ''
      throw new JobFailed(`Restore ${restore.id} of backup ${args.id} failed: ${reason}${undo}`, restore)
    }

    return restore
  }
}
