import {errorMessage, OperationError} from '../errors.js'
import {ZkError, zkConstants, type ZkSession} from '../zk/session.js'
import {WireSession} from '../zk/wire/session.js'
import {MultiReadBatcher, singleRequestReader, type ZnodeReader} from './read-znodes.js'

/** auto: batches when the server answers multi-read (ZooKeeper 3.6+); on: batches or fail; off: one request per znode. */
export type BatchMode = 'auto' | 'on' | 'off'
export const BATCH_MODES: BatchMode[] = ['auto', 'on', 'off']

/** admin-snapshot: the state came from a ZooKeeper 3.9 AdminServer snapshot (see backup.ts), not from a walk. */
export type ReadPath = 'multi-read' | 'single' | 'admin-snapshot'
export type WritePath = 'multi' | 'single'

/** Sessions besides the batching one that share a walk's ACL reads: one per other node of a 3-node ensemble. */
const MAX_ACL_SESSIONS = 2
const ACL_SESSION_CONNECT_MS = 1000

/**
 * The connections a bulk job reads and writes through: with batching, our own session (multi-read,
 * multi) beside the native one; without, the native session's pipelined single requests.
 */
export class BulkAccess {
  private batcher?: MultiReadBatcher
  /** Sessions on the other nodes, opened on first read, that share the ACL reads of a batched walk. */
  private aclSessions?: Promise<WireSession[]>

  private constructor(
    readonly session: ZkSession,
    readonly wire: WireSession | undefined,
    readonly readPath: ReadPath,
    readonly writePath: WritePath,
    /** Why batching is not used, when it is not. */
    readonly fallbackReason?: string,
  ) {}

  static async open(session: ZkSession, mode: BatchMode = 'auto'): Promise<BulkAccess> {
    if (mode === 'off') return new BulkAccess(session, undefined, 'single', 'single')
    let wire: WireSession | undefined
    try {
      wire = await WireSession.connect(session.connectOptions)
      if (await supportsMultiRead(wire)) return new BulkAccess(session, wire, 'multi-read', 'multi')
      throw new OperationError('ZooKeeper does not answer multi-read requests (ZooKeeper before 3.6)')
    } catch (error) {
      await wire?.close()
      if (mode === 'on') throw new OperationError(`Cannot use batches (--batch on): ${errorMessage(error)}; use --batch auto or off`)
      return new BulkAccess(session, undefined, 'single', 'single', errorMessage(error))
    }
  }

  /**
   * The znode reader of the read path: multi-read batches, or pipelined single requests. Batched
   * walks read ACLs through every node, each brought up to date with the leader first (a restore's
   * check reads what it has just written).
   */
  async reader(): Promise<ZnodeReader> {
    const {wire} = this
    if (this.readPath === 'single' || !wire) return singleRequestReader(this.session)
    this.aclSessions ??= openSessionsOnOtherNodes(wire, this.session)
    const aclSessions = await this.aclSessions
    await Promise.all(aclSessions.map((session) => session.sync('/').catch(() => {})))
    this.batcher ??= new MultiReadBatcher(wire, undefined, aclSessions)
    return this.batcher.read
  }

  async close(): Promise<void> {
    await Promise.all([this.wire?.close(), ...(this.aclSessions ? (await this.aclSessions).map((session) => session.close()) : [])])
  }
}

/** At most one per node besides the batching session's; a node that does not answer within a second is left out. */
async function openSessionsOnOtherNodes(wire: WireSession, session: ZkSession): Promise<WireSession[]> {
  const others = wire.hostList.filter((host) => host !== wire.host).slice(0, MAX_ACL_SESSIONS)
  const opened = await Promise.all(
    others.map((host) => WireSession.connect({...session.connectOptions, connectTimeoutMs: ACL_SESSION_CONNECT_MS, preferredHost: host}).catch(() => undefined)),
  )
  const sessions = opened.filter((one): one is WireSession => one !== undefined)
  // Two that landed on the same node (the preferred one was down) are no faster than one.
  const unique = sessions.filter((one, index) => one.host !== wire.host && sessions.findIndex((other) => other.host === one.host) === index)
  await Promise.all(sessions.filter((one) => !unique.includes(one)).map((one) => one.close()))
  return unique
}

/**
 * One multi-read of "/": ZooKeeper 3.6+ answers it; 3.4 answers ZUNIMPLEMENTED and drops the
 * connection; an op error (no right to read /) still proves support. Without multi-read, writes
 * stay on the native session too, so that the verifying re-read sees them (it reads there).
 */
async function supportsMultiRead(wire: WireSession): Promise<boolean> {
  try {
    await wire.multiRead([{kind: 'getData', path: '/'}])
    return true
  } catch (error) {
    if (error instanceof ZkError && (error.code === zkConstants.ZUNIMPLEMENTED || error.code === zkConstants.ZCONNECTIONLOSS)) return false
    throw error
  }
}
