/**
 * Mocha global fixture (loaded through `require` in .mocharc.json).
 *
 * Checks, after the last test, that no secret leaked (see test/helpers/secrets.ts).
 *
 * Provides one shared 3-node ZooKeeper ensemble, started lazily by the first test that calls
 * `sharedEnsemble()`; test files that never call it do not start any JVM. The ensemble is stopped
 * in the global teardown (and, as a safety net, every JVM is SIGKILLed when the process exits).
 *
 * Tests sharing the ensemble must use their own znode paths and must not stop its nodes — a test
 * that stops nodes should start its own `Ensemble`.
 *
 * Under `mocha --parallel` this file is a root-hook plugin loaded by every worker: each worker has
 * its own shared ensemble and its own secret scan (after each of its files), and the global teardown
 * runs in the main process only, so a worker's ensemble goes when the worker exits.
 */
import {rmSync} from 'node:fs'

import {secretLeaks} from '../helpers/secrets.js'
import {Ensemble} from './ensemble.js'

let shared: Promise<Ensemble> | undefined

/** The shared 3-node ensemble (started on first call, reused afterwards). */
export function sharedEnsemble(): Promise<Ensemble> {
  // A failed start is cached as well: every later caller gets the same error quickly.
  shared ??= Ensemble.start({nodes: 3}).then((ensemble) => {
    // A parallel worker never sees the global teardown: its JVMs are killed on exit (ensemble.ts), and its files go here.
    process.once('exit', () => rmSync(ensemble.dir, {force: true, recursive: true}))
    return ensemble
  })
  return shared
}

/** Root hook: the suite fails if any output or leftover file held a registered secret (test/helpers/secrets.ts). */
export const mochaHooks = {
  afterAll(): void {
    const leaks = secretLeaks()
    if (leaks.length > 0) throw new Error(`Secrets leaked:\n${[...new Set(leaks)].join('\n')}`)
  },
}

export async function mochaGlobalTeardown(): Promise<void> {
  const pending = shared
  shared = undefined
  if (!pending) return
  const ensemble = await pending.catch(() => undefined)
  await ensemble?.stop()
}
