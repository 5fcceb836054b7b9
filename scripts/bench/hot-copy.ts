/**
 * The hot backup against `tar czf`: in each run the real CLI's `zk backup --data-dir` of the
 * running node, then `tar czf` of the very files it chose (named in its manifest), as an operator
 * would archive them by hand. Ours runs first in every run, so tar finds the files in the page
 * cache that our copy warmed (if anything, the comparison favours tar).
 */
import {execFile} from 'node:child_process'
import {rm, stat} from 'node:fs/promises'
import {basename, join} from 'node:path'
import {promisify} from 'node:util'

import type {DataDirManifest} from '../../src/archive/datadir.js'

import {timedRun} from './cli.js'
import {spread, type Spread} from './figures.js'

export interface HotNode {
  configFile: string
  dataDir: string
}

interface OneCopy {
  archiveBytes: number
  cpuSeconds: number
  peakRssMiB?: number
  seconds: number
}

export interface HotCopyFigures {
  ours: CopyFigures & {
    /** What the copy held: the snapshot, the logs (cut after their last whole txn), the zxid it is consistent at. */
    recoverySet: {logBytes: number; logs: number; snapshotBytes: number; txnsReplayed: number}
  }
  /** tar's / ours of the median wall and CPU seconds: above 1, ours is the faster. */
  ratio: {cpu: number; wall: number}
  tar: CopyFigures & {
    /** The files' sizes on disk when tar read them: the logs whole, their preallocated zero tail included. */
    inputBytes: number
  }
  znodes: number
}

interface CopyFigures {
  archiveMiB: number
  cpuSeconds: Spread
  peakRssMiB?: number
  runs: number
  seconds: Spread
}

const MiB = 2 ** 20
const round = (value: number, digits = 2) => Number(value.toFixed(digits))

/** Our manifest, read out of the archive by tar itself (an implementation other than ours). */
async function manifestOf(archive: string): Promise<DataDirManifest> {
  const {stdout} = await promisify(execFile)('tar', ['-xzOf', archive, './dcos-zk-backup.json'], {
    encoding: 'utf8',
    maxBuffer: 64 * MiB,
  })
  return JSON.parse(stdout) as DataDirManifest
}

async function ourCopy(node: HotNode, archive: string): Promise<OneCopy & {manifest: DataDirManifest}> {
  const run = await timedRun(process.execPath, [
    'bin/run.js',
    'zk',
    'backup',
    `file://${archive}`,
    '--data-dir',
    node.dataDir,
    '--zk-config',
    node.configFile,
    '--json',
  ])
  const answer = JSON.parse(run.stdout) as {archiveBytes: number; hot: boolean}
  if (!answer.hot) throw new Error(`zk backup did not see the node running (${node.configFile}): not a hot copy`)
  return {...measured(run), archiveBytes: answer.archiveBytes, manifest: await manifestOf(archive)}
}

/** `tar czf` of the files the manifest names, from the node's directory (its version-2/). */
async function tarCopy(node: HotNode, manifest: DataDirManifest, archive: string): Promise<OneCopy & {input: number}> {
  const files = manifest.files.map(({path}) => join('version-2', basename(path)))
  let input = 0
  for (const file of files) input += (await stat(join(node.dataDir, file))).size
  // Status 1: a log grew while tar read it (the writer keeps writing), as it would for an operator.
  const run = await timedRun('tar', ['czf', archive, '-C', node.dataDir, ...files], [1])
  return {...measured(run), archiveBytes: (await stat(archive)).size, input}
}

function measured(run: Awaited<ReturnType<typeof timedRun>>): Omit<OneCopy, 'archiveBytes'> {
  return {cpuSeconds: run.cpuSeconds ?? Number.NaN, peakRssMiB: run.peakRssMiB, seconds: run.seconds}
}

function figuresOf(copies: OneCopy[]): CopyFigures {
  const rss = copies.flatMap(({peakRssMiB}) => (peakRssMiB === undefined ? [] : [peakRssMiB]))
  const rounded = (values: number[]) => {
    const {max, median, min} = spread(values)
    return {max: round(max), median: round(median), min: round(min)}
  }

  return {
    archiveMiB: round(spread(copies.map(({archiveBytes}) => archiveBytes)).median / MiB),
    cpuSeconds: rounded(copies.map(({cpuSeconds}) => cpuSeconds)),
    ...(rss.length > 0 ? {peakRssMiB: Math.max(...rss)} : {}),
    runs: copies.length,
    seconds: rounded(copies.map(({seconds}) => seconds)),
  }
}

export async function hotCopies(node: HotNode, znodes: number, runs: number, work: string): Promise<HotCopyFigures> {
  const ours: Array<OneCopy & {manifest: DataDirManifest}> = []
  const tars: Array<OneCopy & {input: number}> = []
  for (let run = 0; run < runs; run++) {
    const archive = join(work, `hot-${znodes}-${run}.tar.gz`)
    const tarArchive = join(work, `tar-${znodes}-${run}.tar.gz`)
    const copy = await ourCopy(node, archive)
    ours.push(copy)
    const tar = await tarCopy(node, copy.manifest, tarArchive)
    tars.push(tar)
    console.error(
      `hot copy at ${znodes} znodes, run ${run + 1}/${runs}: ours ${copy.seconds.toFixed(2)} s (${copy.cpuSeconds.toFixed(2)} s CPU), tar czf ${tar.seconds.toFixed(2)} s (${tar.cpuSeconds.toFixed(2)} s CPU)`,
    )
    await Promise.all([rm(archive), rm(tarArchive)])
  }

  const [oursFigures, tarFigures] = [figuresOf(ours), figuresOf(tars)]
  const last = ours.at(-1)!.manifest
  const logs = last.files.filter(({path}) => basename(path).startsWith('log.'))
  const snapshot = last.files.find(({path}) => basename(path).startsWith('snapshot.'))
  let logBytes = 0
  for (const {size} of logs) logBytes += size
  return {
    ours: {
      ...oursFigures,
      recoverySet: {
        logBytes,
        logs: logs.length,
        snapshotBytes: snapshot?.size ?? 0,
        txnsReplayed: last.consistentAt?.txnsReplayed ?? 0,
      },
    },
    ratio: {
      cpu: round(tarFigures.cpuSeconds.median / oursFigures.cpuSeconds.median),
      wall: round(tarFigures.seconds.median / oursFigures.seconds.median),
    },
    tar: {...tarFigures, inputBytes: spread(tars.map(({input}) => input)).median},
    znodes,
  }
}
