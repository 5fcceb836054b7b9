/**
 * The archiver's loop: syncOnce every interval until stopped; a stop request lets the step under
 * way finish, ships what is written since in one last step, and returns.
 */
import {setTimeout as sleep} from 'node:timers/promises'

import {errorMessage, UsageError} from '../../errors.js'
import {syncOnce, type SyncOptions} from './sync.js'

export interface ArchiveRunOptions extends SyncOptions {
  intervalMs: number
  /** Aborted on SIGTERM/SIGINT. */
  signal: AbortSignal
}

export async function runArchiver(options: ArchiveRunOptions): Promise<void> {
  const {intervalMs, signal, ...sync} = options
  const step: SyncOptions = {logMarks: new Map(), ...sync}
  while (!signal.aborted) {
    // A failed step (storage down, a log read mid-rename) is retried next interval: under systemd the
    // archiver should outlive a passing fault. Bad usage never heals, so it ends the run.
    await syncOnce(step).catch((error: unknown) => {
      if (error instanceof UsageError) throw error
      step.log?.({event: 'error', message: errorMessage(error)})
    })
    await sleep(intervalMs, undefined, {signal}).catch(() => {})
  }

  await syncOnce(step)
}
