/** What every part of the bench gets (one ensemble, its sessions, the parameters) and gives back. */
import type {ZkSession} from '../../src/zk/session.js'
import type {WireSession} from '../../src/zk/wire/session.js'
import type {Ensemble} from '../../test/harness/ensemble.js'
import type {BenchOptions} from './options.js'
import type {TreeSpec} from './tree.js'

export interface BenchContext {
  options: BenchOptions
  ensemble: Ensemble
  /** host:port of every node, and them joined, for --zk. */
  hosts: string[]
  connectString: string
  session: ZkSession
  /** Our own protocol session (multi, multi-read) and one more on every node for spread getACLs. */
  wire: WireSession
  aclSessions: WireSession[]
  /** Whether the servers answer multi-read (ZooKeeper 3.6+), probed as the CLI probes it. */
  multiRead: boolean
  /** The tree of --znodes znodes with the --data fill. */
  spec: TreeSpec
  /** A scratch directory, removed at the end. */
  work: string
}

export interface SectionResult {
  /** The printed report of the section. */
  lines: string[]
  /** What goes under the section's name in --out. */
  json: unknown
}

export interface Section {
  name: string
  run(context: BenchContext): Promise<SectionResult>
}
