/**
 * The speed section: in each run, the ceilings (raw requests), then the real CLI's backup, inspect
 * and restores of the same tree, batched and on the single-request path. Headline ratios compare a
 * CLI step with the ceiling that does the same work, medians of the same runs (these machines are
 * noisy): a backup (it keeps ACLs) with the walk plus one getACL per znode, a restore with the
 * creates of the path it wrote on.
 */
import {createReadStream} from 'node:fs'
import {rm, stat} from 'node:fs/promises'
import {join} from 'node:path'
import {createGunzip} from 'node:zlib'

import type {BenchContext, Section} from './section.js'

import {cli, type CliSample} from './cli.js'
import {type Figure, figure, ratio, type Sample} from './figures.js'
import {rawMultiRead, rawMultiWrite, rawRead, rawWrite} from './raw.js'
import {formatFigures} from './report.js'
import {dataBytes, deleteTree, drifted, seedTree} from './tree.js'

export const STEPS = {
  read: 'raw read: getData (+ getChildren of parents), pipelined (ceiling for reads without ACLs)',
  readAcl: 'raw read + getACL, pipelined (ceiling for a single-request backup)',
  multiRead: 'raw multi-read, 100 paths a batch (ceiling for reads without ACLs)',
  multiReadAcl: 'raw multi-read + getACL on every node (ceiling for a batched backup)',
  backup: 'dcos zk backup',
  backupOff: 'dcos zk backup --batch off',
  inspect: 'dcos zk inspect',
  write: 'raw write: create, pipelined (ceiling for single creates)',
  multiWrite: 'raw multi write: multis of creates (ceiling for a batched restore)',
  restore: 'dcos zk restore, fresh path',
  restoreExisting: 'dcos zk restore over the tree (safety backup, deletes; batched unless --batch off)',
  restoreOff: 'dcos zk restore --batch off, fresh path',
} as const
export type Step = keyof typeof STEPS

/** Figures that cannot be measured here, and why. */
function skippedSteps({multiRead, options}: BenchContext): Partial<Record<Step, string>> {
  const skipped: Partial<Record<Step, string>> = {}
  const noMultiRead = `ZooKeeper ${options.zkVersion} has no multi-read (3.6+)`
  if (!multiRead) Object.assign(skipped, {multiRead: noMultiRead, multiReadAcl: noMultiRead})
  const notAsked = `not asked for (--batch ${options.batch})`
  if (options.batch === 'off') Object.assign(skipped, {backup: notAsked, restore: notAsked})
  if (options.batch === 'auto') Object.assign(skipped, {backupOff: notAsked, restoreOff: notAsked})
  return skipped
}

interface RunState {
  archive?: {bytes: number; tarBytes: number}
  /** The paths the CLI reported, by step. */
  paths: Partial<Record<Step, string>>
  samples: Partial<Record<Step, Sample[]>>
}

async function gunzippedBytes(file: string): Promise<number> {
  let bytes = 0
  for await (const chunk of createReadStream(file).pipe(createGunzip())) bytes += (chunk as Buffer).length
  return bytes
}

async function oneRun(
  context: BenchContext,
  run: number,
  skipped: Partial<Record<Step, string>>,
  state: RunState,
): Promise<void> {
  const {aclSessions, connectString, session, spec, wire, work} = context
  const wanted = (step: Step) => skipped[step] === undefined
  const record = (step: Step, sample: CliSample | number) => {
    const one = typeof sample === 'number' ? {seconds: sample} : sample
    console.error(`run ${run + 1}/${context.options.runs}: ${STEPS[step]}: ${one.seconds.toFixed(2)} s`)
    ;(state.samples[step] ??= []).push(one)
    const path =
      typeof sample === 'number'
        ? undefined
        : [
            sample.readPath && `read ${sample.readPath}`,
            sample.writePath && `write ${sample.writePath}`,
            sample.restored,
          ]
            .filter(Boolean)
            .join(', ')
    if (path) state.paths[step] = path
  }

  record('write', await rawWrite(session, `/write-${run}`, spec))
  await deleteTree(wire, `/write-${run}`, spec)
  record('multiWrite', await rawMultiWrite(wire, `/multi-write-${run}`, spec))
  await deleteTree(wire, `/multi-write-${run}`, spec)
  record('read', await rawRead(session, '/bench', false))
  record('readAcl', await rawRead(session, '/bench', true))
  if (wanted('multiRead')) record('multiRead', await rawMultiRead(wire, '/bench', []))
  if (wanted('multiReadAcl')) record('multiReadAcl', await rawMultiRead(wire, '/bench', aclSessions))

  const backups = (['backup', 'backupOff'] as const).filter((step) => wanted(step))
  const archives: string[] = []
  for (const step of backups) {
    const archive = join(work, `${step}-${run}.tar.gz`)
    record(
      step,
      await cli([
        'zk',
        'backup',
        archive,
        '--zk',
        `${connectString}/bench`,
        '--batch',
        step === 'backup' ? 'auto' : 'off',
      ]),
    )
    archives.push(archive)
  }

  const archive = archives[0]
  state.archive = {bytes: (await stat(archive)).size, tarBytes: await gunzippedBytes(archive)}
  record('inspect', await cli(['zk', 'inspect', archive]))

  const restore = (target: string, batch: string, safety: string[]) =>
    cli(['zk', 'restore', archive, '--zk', `${connectString}${target}`, '--yes', '--batch', batch, ...safety])
  if (wanted('restore')) {
    record('restore', await restore(`/restored-${run}`, 'auto', ['--no-safety-backup']))
    await deleteTree(wire, `/restored-${run}`, spec)
  }

  if (wanted('restoreExisting')) {
    await seedTree(wire, `/existing-${run}`, drifted(spec))
    const safety = join(work, `safety-${run}.tar.gz`)
    record(
      'restoreExisting',
      await restore(`/existing-${run}`, context.options.batch === 'off' ? 'off' : 'auto', ['--safety-backup', safety]),
    )
    await deleteTree(wire, `/existing-${run}`, spec)
    await rm(safety)
  }

  if (wanted('restoreOff')) {
    record('restoreOff', await restore(`/restored-off-${run}`, 'off', ['--no-safety-backup']))
    await deleteTree(wire, `/restored-off-${run}`, spec)
  }

  await Promise.all(archives.map((file) => rm(file)))
}

/** Headline ratios (same work), then the single-request and no-ACL ones, labelled as what they compare. */
function ratios(figures: Partial<Record<Step, Figure>>, paths: Partial<Record<Step, string>>) {
  const found: Record<string, number> = {}
  const add = (name: string, step: Step, ceiling: Step) => {
    if (figures[step] && figures[ceiling]) found[name] = ratio(figures[step], figures[ceiling])
  }

  const batchedRead = paths.backup?.includes('multi-read')
  add(
    batchedRead ? 'backup / raw multi-read + getACL' : 'backup (single requests: no multi-read) / raw read + getACL',
    'backup',
    batchedRead ? 'multiReadAcl' : 'readAcl',
  )
  const batchedWrite = paths.restore?.includes('write multi')
  add(
    batchedWrite ? 'restore / raw multi write' : 'restore (single requests: no multi-read) / raw write',
    'restore',
    batchedWrite ? 'multiWrite' : 'write',
  )
  add('backup --batch off / raw read + getACL', 'backupOff', 'readAcl')
  add('restore --batch off / raw write', 'restoreOff', 'write')
  add(
    'restore over the tree / restore into a fresh path',
    'restoreExisting',
    figures.restore ? 'restore' : 'restoreOff',
  )
  add('(no ACLs in the ceiling) backup / raw read', 'backup', 'read')
  add('(no ACLs in the ceiling) backup / raw multi-read', 'backup', 'multiRead')
  return found
}

export const speedSection: Section = {
  name: 'speed',
  async run(context) {
    const {options, spec, wire} = context
    const skipped = skippedSteps(context)
    const state: RunState = {paths: {}, samples: {}}
    await seedTree(wire, '/bench', spec)
    // Untimed: the first walk of a fresh tree ran at half speed (the servers' JIT, caches) and skewed run 1.
    await rawRead(context.session, '/bench', true)
    for (let run = 0; run < options.runs; run++) {
      await oneRun(context, run, skipped, state)
    }

    await deleteTree(wire, '/bench', spec)
    const bytes = dataBytes(spec)
    const figures: Partial<Record<Step, Figure>> = {}
    for (const step of Object.keys(STEPS) as Step[]) {
      const samples = state.samples[step]
      if (samples) figures[step] = figure(STEPS[step], samples, spec.count, bytes)
    }

    const archive = {
      bytes: state.archive!.bytes,
      dataToArchive: Number((bytes / state.archive!.bytes).toFixed(2)),
      gzipRatio: Number((state.archive!.tarBytes / state.archive!.bytes).toFixed(2)),
      tarBytes: state.archive!.tarBytes,
    }
    const found = ratios(figures, state.paths)
    const lines = [
      `${spec.count} znodes, ${(bytes / 1e6).toFixed(1)} MB of data (--data ${options.data}), ${options.runs} run(s) of each step`,
      ...formatFigures(figures, state.paths),
      ...Object.entries(skipped).map(([step, why]) => `skipped: ${STEPS[step as Step]}: ${why}`),
      ...(context.multiRead
        ? []
        : [
            `note: the CLI writes multis only where the servers answer multi-read (3.6+): on ${options.zkVersion} it restores with single creates`,
          ]),
      '',
      ...Object.entries(found).map(([name, value]) => `${name}: ${value}`),
      '',
      `archive ${(archive.bytes / 1e6).toFixed(2)} MB: data / archive ${archive.dataToArchive} : 1, tar / archive (gzip's ratio) ${archive.gzipRatio} : 1`,
    ]
    return {
      json: {archive, dataBytes: bytes, figures, paths: state.paths, ratios: found, skipped, znodes: spec.count},
      lines,
    }
  },
}
