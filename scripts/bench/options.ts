/** The bench's command line: every parameter, checked, with the defaults the README quotes. */
import {parseArgs} from 'node:util'

import {ZOOKEEPER_VERSIONS, type ZookeeperVersion} from '../../test/harness/ensemble.js'

export const DATA_FILLS = ['constant', 'text', 'random'] as const
export type DataFill = (typeof DATA_FILLS)[number]
export const BATCH_RUNS = ['both', 'auto', 'off'] as const
export type BatchRuns = (typeof BATCH_RUNS)[number]

export interface BenchOptions {
  /** How long each archiver run measures (its RPO at --rate, its CPU at 1,000 writes/s), seconds. */
  archiveSeconds: number
  /** Which CLI runs: batched (`auto`, the CLI's default), single-request (`off`), or both side by side. */
  batch: BatchRuns
  /** Create-and-delete pairs raising one sequence counter, as a restore does (0: skip). */
  counterPairs: number
  data: DataFill
  fanout: number
  /** zoo.cfg forceSync of the servers: yes is ZooKeeper's default, what production runs with. */
  forceSync: 'no' | 'yes'
  /** Znodes of the running node the hot backup and the archiver are measured on (0: skip). */
  hotZnodes: number
  memory: number[]
  out?: string
  /** Znodes of the point-in-time restore's base (0: skip), the transactions after it, and how many of the znodes the online restore creates. */
  pitrOnlineZnodes: number
  pitrTxns: number
  pitrZnodes: number
  runs: number
  size: number
  /** Znodes of the data directory the snapshot reader and archive writer are measured on (0: skip). */
  zkdiskZnodes: number
  zkVersion: ZookeeperVersion
  znodes: number
}

export const USAGE = `npm run bench -- [--znodes 100000] [--size 1024] [--fanout 100] [--runs 3] [--memory 100000,400000]
  [--data text|constant|random] [--batch both|auto|off] [--force-sync yes|no] [--zk-version 3.8|3.4|3.9]
  [--counter-pairs 100000] [--zkdisk-znodes 333000] [--hot-znodes 300000] [--archive-seconds 90]
  [--pitr-znodes 300000] [--pitr-txns 100000] [--pitr-online-znodes <--pitr-znodes>] [--out bench.json]
with --zk-version 3.9 the AdminServer snapshot path is measured too
quick check: npm run bench -- --znodes 2000 --runs 1 --memory '' --zkdisk-znodes 3000 --hot-znodes 3000 --archive-seconds 15 --pitr-znodes 3000 --pitr-txns 2000`

function oneOf<T extends string>(flag: string, value: string, allowed: readonly T[]): T {
  if (!(allowed as readonly string[]).includes(value))
    throw new Error(`--${flag} ${value}: use one of ${allowed.join(', ')}`)
  return value as T
}

function positive(flag: string, value: string, minimum = 1): number {
  const number = Number(value)
  if (!Number.isInteger(number) || number < minimum)
    throw new Error(`--${flag} ${value}: use a whole number of at least ${minimum}`)
  return number
}

export function parseOptions(args: string[]): BenchOptions {
  const {values} = parseArgs({
    args,
    options: {
      'archive-seconds': {default: '90', type: 'string'},
      batch: {default: 'both', type: 'string'},
      'counter-pairs': {default: '100000', type: 'string'},
      data: {default: 'text', type: 'string'},
      fanout: {default: '100', type: 'string'},
      'force-sync': {default: 'yes', type: 'string'},
      'hot-znodes': {default: '300000', type: 'string'},
      memory: {default: '100000,400000', type: 'string'},
      out: {type: 'string'},
      'pitr-online-znodes': {type: 'string'},
      'pitr-txns': {default: '100000', type: 'string'},
      'pitr-znodes': {default: '300000', type: 'string'},
      runs: {default: '3', type: 'string'},
      size: {default: '1024', type: 'string'},
      'zk-version': {default: '3.8', type: 'string'},
      znodes: {default: '100000', type: 'string'},
      'zkdisk-znodes': {default: '333000', type: 'string'},
    },
  })
  return {
    archiveSeconds: positive('archive-seconds', values['archive-seconds']),
    batch: oneOf('batch', values.batch, BATCH_RUNS),
    counterPairs: positive('counter-pairs', values['counter-pairs'], 0),
    data: oneOf('data', values.data, DATA_FILLS),
    fanout: positive('fanout', values.fanout, 2),
    forceSync: oneOf('force-sync', values['force-sync'], ['yes', 'no'] as const),
    hotZnodes: positive('hot-znodes', values['hot-znodes'], 0),
    memory: values.memory === '' ? [] : values.memory.split(',').map((one) => positive('memory', one)),
    out: values.out,
    pitrOnlineZnodes: positive('pitr-online-znodes', values['pitr-online-znodes'] ?? values['pitr-znodes'], 2),
    pitrTxns: positive('pitr-txns', values['pitr-txns']),
    pitrZnodes: positive('pitr-znodes', values['pitr-znodes'], 0),
    runs: positive('runs', values.runs),
    size: positive('size', values.size, 0),
    zkVersion: oneOf('zk-version', values['zk-version'], ZOOKEEPER_VERSIONS),
    zkdiskZnodes: positive('zkdisk-znodes', values['zkdisk-znodes'], 0),
    znodes: positive('znodes', values.znodes, 2),
  }
}
