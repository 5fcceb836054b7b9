/** What every part of the bench gets (one ensemble, its sessions, the parameters) and gives back. */
import type {ZkSession} from '../../src/zk/session.js'
import type {WireSession} from '../../src/zk/wire/session.js'
import type {Ensemble} from '../../test/harness/ensemble.js'
import type {BenchOptions} from './options.js'
import type {TreeSpec} from './tree.js'

export interface BenchContext {
  aclSessions: WireSession[]
  connectString: string
  ensemble: Ensemble
  /** host:port of every node, and them joined, for --zk. */
  hosts: string[]
  /** Whether the servers answer multi-read (ZooKeeper 3.6+), probed as the CLI probes it. */
  multiRead: boolean
  options: BenchOptions
  session: ZkSession
  /** The tree of --znodes znodes with the --data fill. */
  spec: TreeSpec
  /** Our own protocol session (multi, multi-read) and one more on every node for spread getACLs. */
  wire: WireSession
  /** A scratch directory, removed at the end. */
  work: string
}

export interface SectionResult {
  /** What goes under the section's name in --out. */
  json: unknown
  /** The printed report of the section. */
  lines: string[]
}

export interface Section {
  name: string
  run(context: BenchContext): Promise<SectionResult>
}
