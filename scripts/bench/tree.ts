import type {WireSession} from '../../src/zk/wire/session.js'
import type {DataFill} from './options.js'

/** The bench's tree: a scheduler-shaped shape, its data fill, and seeding and deleting it fast. */
import {MultiWriter} from '../../src/engine/znodes/write-znodes.js'
import {OPEN_ACL} from '../../src/zk/session.js'

/** The fill pools are sliced, not copied: this many bytes at least, so gzip's 32 KiB window sees no repeats. */
const POOL_BYTES = 8 * 2 ** 20

/** A small deterministic generator (mulberry32): the same tree on every run and every machine. */
function random(seed: number): () => number {
  let state = seed >>> 0
  return () => {
    state = (state + 0x6d_2b_79_f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32
  }
}

const WORDS = [
  'payments',
  'orders',
  'search',
  'kafka',
  'cassandra',
  'spark',
  'web',
  'api',
  'prod',
  'staging',
  'eu-west',
  'us-east',
  'docker',
  'mesos',
  'healthy',
  'running',
  'staged',
  'killed',
]

/** JSON records of the kind a scheduler keeps (ids, hex task ids, timestamps, labels): compresses about 3 to 5 : 1 like real state. */
function textPool(bytes: number): Buffer {
  const next = random(7)
  const word = () => WORDS[Math.floor(next() * WORDS.length)]
  const hex = (length: number) => Array.from({length}, () => Math.floor(next() * 16).toString(16)).join('')
  const records: string[] = []
  let length = 0
  while (length < bytes) {
    const record = JSON.stringify({
      cmd: `./bin/${word()} --port $PORT0 --zone ${word()}`,
      cpus: Math.round(next() * 40) / 10,
      host: `10.${Math.floor(next() * 256)}.${Math.floor(next() * 256)}.${Math.floor(next() * 256)}`,
      id: `/${word()}/${word()}-${Math.floor(next() * 10_000)}`,
      instances: Math.floor(next() * 20),
      labels: {env: word(), team: word()},
      mem: Math.floor(next() * 8192),
      state: word(),
      taskId: `${word()}.${hex(8)}-${hex(4)}-${hex(4)}-${hex(4)}-${hex(12)}`,
      version: new Date(1_700_000_000_000 + Math.floor(next() * 3e10)).toISOString(),
    })
    records.push(record)
    length += record.length + 1
  }

  return Buffer.from(records.join('\n'))
}

function randomPool(bytes: number): Buffer {
  const next = random(11)
  const pool = Buffer.alloc(bytes)
  for (let offset = 0; offset + 4 <= bytes; offset += 4) pool.writeUInt32LE(Math.floor(next() * 2 ** 32), offset)
  return pool
}

/** Data of each znode by its index: `constant` is the old fill (a byte repeated, compresses past 100 : 1). */
export function dataFill(fill: DataFill, largest: number): (index: number, length: number) => Buffer {
  if (fill === 'constant') return (index, length) => Buffer.alloc(length, index % 251)
  const pool = (fill === 'text' ? textPool : randomPool)(Math.max(POOL_BYTES, 4 * largest))
  // A fixed pseudo-random start per index: neighbours in the archive come from far apart in the pool.
  return (index, length) => {
    const start = Math.floor(random(index + 1)() * (pool.length - length))
    return pool.subarray(start, start + length)
  }
}

export interface TreeSpec {
  count: number
  data: (index: number, length: number) => Buffer
  fanout: number
  size: number
}

/** A scheduler-shaped tree: parents of `fanout - 1` children, data sizes from half to one and a half `size`. */
export function* treeShape(
  root: string,
  {count, fanout, size}: Omit<TreeSpec, 'data'>,
): Generator<{index: number; length: number; path: string}> {
  yield {index: 0, length: 0, path: root}
  let index = 1
  for (let parent = 0; index < count; parent++) {
    const parentPath = `${root}/app-${parent}`
    yield {index: index++, length: Math.round(size / 4), path: parentPath}
    for (let child = 0; child < fanout - 1 && index < count; child++) {
      yield {index: index++, length: Math.round(size * (0.5 + (child % 11) / 10)), path: `${parentPath}/v-${child}`}
    }
  }
}

export function dataBytes(spec: TreeSpec): number {
  let bytes = 0
  for (const {length} of treeShape('/', spec)) bytes += length
  return bytes
}

/**
 * The tree a realistic restore lands on: the backed-up one as it was later, a tenth of its znodes
 * changed and a twentieth more added (all of it saved in the safety backup, then deleted).
 */
export function drifted(spec: TreeSpec): TreeSpec {
  return {
    ...spec,
    count: Math.ceil(spec.count * 1.05),
    data: (index, length) => spec.data(index % 10 === 0 ? index + spec.count : index, length),
  }
}

/** Creates the tree in multis (setup, not measured: fast wherever multi exists, ZooKeeper 3.4 included). */
export async function seedTree(wire: WireSession, root: string, spec: TreeSpec): Promise<void> {
  const writer = new MultiWriter(wire)
  for (const {index, length, path} of treeShape(root, spec)) {
    await writer.add({acl: OPEN_ACL, data: spec.data(index, length), kind: 'create', path}, () => {})
  }

  await writer.drain()
}

/** Deletes a tree of this shape, children first, in multis. */
export async function deleteTree(wire: WireSession, root: string, spec: Omit<TreeSpec, 'data'>): Promise<void> {
  const writer = new MultiWriter(wire)
  for (const {path} of [...treeShape(root, spec)].reverse()) {
    await writer.add({kind: 'delete', path}, () => {})
  }

  await writer.drain()
}
