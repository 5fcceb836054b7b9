import {Flags, ux} from '@oclif/core'
import {readFileSync} from 'node:fs'

import {BackupClient, type WaitOptions} from '../client/backup-client.js'
import {errorMessage, UsageError} from '../errors.js'
import {parseDuration} from './duration.js'
import {progressEnabled} from './progress.js'

/** The flags of every `backup` command: where the service is and how to authenticate. */
export const backupFlags = {
  url: Flags.string({
    description:
      'Address of the DC/OS cluster (its master or load balancer), e.g. https://master.example.com; the backup API is under /system/v1/backup/v1.',
    env: 'DCOS_URL',
  }),
  token: Flags.string({
    description:
      'DC/OS authentication token, sent as "Authorization: token=<token>". Prefer the environment variable DCOS_ACS_TOKEN: flags show up in ps.',
    env: 'DCOS_ACS_TOKEN',
  }),
  'ca-cert': Flags.string({
    description: "PEM file of the cluster's CA, for https with a private CA (DC/OS's own CA, for example).",
  }),
  'request-timeout': Flags.string({
    default: '30s',
    description: 'Deadline of each request to the service (30s, 5m, 500ms, or seconds).',
  }),
}

/** --wait, --timeout and --interval of create and restore. */
export const waitFlags = {
  interval: Flags.string({
    default: '1s',
    description: 'With --wait: time between two looks at the job (30s, 500ms, or seconds).',
  }),
  timeout: Flags.string({
    default: '30m',
    description: 'With --wait: how long to wait for the end (30s, 5m, 1h, or seconds); exit 1 when it passes.',
  }),
  wait: Flags.boolean({
    description: 'Follow the job until it ends: exit 0 when it is STATUS_READY, 1 when it is STATUS_ERROR.',
  }),
}

export interface BackupFlagValues {
  'ca-cert'?: string
  'request-timeout'?: string
  token?: string
  url?: string
}

/** A client of the service named by --url (or DCOS_URL), with --token, --ca-cert and --request-timeout. */
export function backupClient(flags: BackupFlagValues): BackupClient {
  const url = flags.url?.trim()
  if (!url)
    throw new UsageError("No cluster to talk to: pass --url https://<master> or set DCOS_URL to the cluster's address")
  return new BackupClient({
    ca: flags['ca-cert'] === undefined ? undefined : readCaCert(flags['ca-cert']),
    timeoutMs:
      flags['request-timeout'] === undefined ? undefined : parseDuration(flags['request-timeout'], 'request-timeout'),
    token: flags.token?.trim() || undefined,
    url,
  })
}

export function readCaCert(file: string): Buffer {
  try {
    return readFileSync(file)
  } catch (error) {
    throw new UsageError(`Cannot read --ca-cert ${file}: ${errorMessage(error)}`)
  }
}

/** --timeout and --interval, parsed before anything is sent. */
export function waitTimes(flags: {interval: string; timeout: string}): {intervalMs: number; timeoutMs: number} {
  return {intervalMs: parseDuration(flags.interval, 'interval'), timeoutMs: parseDuration(flags.timeout, 'timeout')}
}

/** WaitOptions with a spinner on stderr (only on a terminal, never with --json) showing the job's status until stop(). */
export function waitOptions(
  times: {intervalMs: number; timeoutMs: number},
  json: boolean,
  label: string,
): WaitOptions & {stop: () => void} {
  if (!progressEnabled(json)) return {...times, stop() {}}
  let last = 'stopped'
  ux.action.start(label, undefined, {stdout: false})
  return {
    onStatus(status) {
      last = status
      ux.action.status = status
    },
    stop() {
      ux.action.stop(last)
    },
    ...times,
  }
}
