import {Flags} from '@oclif/core'

import {backupClient, backupFlags, waitFlags, waitOptions, waitTimes} from '../../cli/backup-flags.js'
import {BACKUP_EXIT_CODES_HELP, BaseCommand, JobFailed} from '../../cli/base.js'
import {failureReason} from '../../client/backup-client.js'
import {type BackupInfo, isFailed, LABEL_MAX, LABEL_MIN} from '../../service/api.js'

export default class BackupCreate extends BaseCommand {
  static description = `Asks the backup service to back up the cluster's state now, and prints the new backup's id (<label>-<uuid>) alone on stdout, so that scripts can capture it.

The label is checked before anything is sent: ${LABEL_MIN} to ${LABEL_MAX} characters, letters, digits and _ . - only, starting with two letters, digits or underscores.

The backup runs in the service: without --wait the command returns as soon as it has started. With --wait it follows the backup until it is STATUS_READY (exit 0) or STATUS_ERROR (exit 1, with the reason), or until --timeout passes (exit 1; the backup goes on). Only one backup or restore runs at a time in a cluster: while another runs, the service answers "backup/restore is currently busy: lock is already held".

${BACKUP_EXIT_CODES_HELP}`
  static enableJsonFlag = true
  static examples = [
    {
      command: 'DCOS_URL=https://master.example.com <%= config.bin %> <%= command.id %> --label nightly --wait',
      description: 'Back up and wait until the backup is ready',
    },
    {
      command: 'id=$(<%= config.bin %> <%= command.id %> --label before-upgrade)',
      description: 'Start a backup and keep its id (the token from DCOS_ACS_TOKEN, the address from DCOS_URL)',
    },
    {
      command:
        '<%= config.bin %> <%= command.id %> --label nightly --wait --timeout 1h --json --url https://master.example.com --ca-cert ./dcos-ca.crt',
      description: "The backup's final state as JSON, trusting the cluster's private CA",
    },
  ]
  static flags = {
    ...backupFlags,
    ...waitFlags,
    label: Flags.string({
      description: `Name of the backup, the start of its id (${LABEL_MIN} to ${LABEL_MAX} characters: letters, digits, _ . -).`,
      required: true,
    }),
  }
  static summary = "Back up the cluster's state through the backup service."

  async run(): Promise<BackupInfo> {
    const {flags} = await this.parse(BackupCreate)
    const json = this.jsonEnabled()
    const client = backupClient(flags)
    const times = waitTimes(flags)
    const created = await client.create(flags.label)
    if (!json) this.log(created.id)
    if (!flags.wait) return created

    const wait = waitOptions(times, json, `Backing up ${created.id}`)
    const backup = await client.waitForBackup(created.id, wait).finally(() => wait.stop())
    if (isFailed(backup)) {
      const reason = failureReason(backup)
      throw new JobFailed(
        `Backup ${backup.id} failed${reason ? `: ${reason}` : ' (the service gave no reason)'}`,
        backup,
      )
    }

    return backup
  }
}
