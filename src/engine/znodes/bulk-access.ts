import {errorMessage, OperationError} from '../../errors.js'
import {zkConstants, ZkError, ZkSession} from '../../zk/session.js'
import {MultiReadBatcher, singleRequestReader, type ZnodeReader} from './read-znodes.js'

/** auto: batches when the server answers multi-read (ZooKeeper 3.6+); on: batches or fail; off: one request per znode. */
export type BatchMode = 'auto' | 'off' | 'on'
export const BATCH_MODES: BatchMode[] = ['auto', 'on', 'off']

/** admin-snapshot: the state came from a ZooKeeper 3.9 AdminServer snapshot (see backup.ts), not from a walk. */
export type ReadPath = 'admin-snapshot' | 'multi-read' | 'single'
export type WritePath = 'multi' | 'single'

/** Sessions besides the batching one that share a walk's ACL reads: one per other node of a 3-node ensemble. */
const MAX_ACL_SESSIONS = 2
const ACL_SESSION_CONNECT_MS = 1000

/**
 * How a bulk job reads and writes through its session: with batching, multi-read and multi; without,
 * pipelined single requests.
 */
export class BulkAccess {
  /** Sessions on the other nodes, opened on first read, that share the ACL reads of a batched walk. */
  private aclSessions?: Promise<ZkSession[]>
  private batcher?: MultiReadBatcher

  private constructor(
    readonly session: ZkSession,
    readonly readPath: ReadPath,
    readonly writePath: WritePath,
    /** Why batching is not used, when it is not. */
    readonly fallbackReason?: string,
  ) {}

  static async open(session: ZkSession, mode: BatchMode = 'auto'): Promise<BulkAccess> {
    if (mode === 'off') return new BulkAccess(session, 'single', 'single')
    try {
      if (await supportsMultiRead(session)) return new BulkAccess(session, 'multi-read', 'multi')
      throw new OperationError('ZooKeeper does not answer multi-read requests (ZooKeeper before 3.6)')
    } catch (error) {
      if (mode === 'on')
        throw new OperationError(`Cannot use batches (--batch on): ${errorMessage(error)}; use --batch auto or off`)
      return new BulkAccess(session, 'single', 'single', errorMessage(error))
    }
  }

  /** Closes the sessions it opened (not the one it was given), waiting for each; never throws, as it runs in finally blocks. */
  async close(): Promise<void> {
    if (this.aclSessions) await Promise.allSettled((await this.aclSessions).map((other) => other.close()))
  }

  /**
   * The znode reader of the read path: multi-read batches, or pipelined single requests. Batched
   * walks read ACLs through every node, each brought up to date with the leader first (a restore's
   * check reads what it has just written).
   */
  async reader(): Promise<ZnodeReader> {
    const {session} = this
    if (this.readPath === 'single') return singleRequestReader(session)
    this.aclSessions ??= openSessionsOnOtherNodes(session)
    const aclSessions = await this.aclSessions
    await Promise.all(aclSessions.map((other) => other.sync('/').catch(() => {})))
    this.batcher ??= new MultiReadBatcher(session, undefined, aclSessions)
    return this.batcher.read
  }
}

/** At most one per node besides the batching session's; a node that does not answer within a second is left out. */
async function openSessionsOnOtherNodes(session: ZkSession): Promise<ZkSession[]> {
  const others = session.hostList.filter((host) => host !== session.host).slice(0, MAX_ACL_SESSIONS)
  const opened = await Promise.all(
    others.map((host) =>
      ZkSession.connect({
        ...session.connectOptions,
        connectTimeoutMs: ACL_SESSION_CONNECT_MS,
        preferredHost: host,
      }).catch(() => undefined),
    ),
  )
  const sessions = opened.filter((one): one is ZkSession => one !== undefined)
  // Two that landed on the same node (the preferred one was down) are no faster than one.
  const unique = sessions.filter(
    (one, index) => one.host !== session.host && sessions.findIndex((other) => other.host === one.host) === index,
  )
  await Promise.all(sessions.filter((one) => !unique.includes(one)).map((one) => one.close()))
  return unique
}

/**
 * One multi-read of "/": ZooKeeper 3.6+ answers it; 3.4 answers ZUNIMPLEMENTED and drops the
 * connection (the session reconnects, same session); an op error (no right to read /) still proves
 * support.
 */
async function supportsMultiRead(session: ZkSession): Promise<boolean> {
  try {
    await session.multiRead([{kind: 'getData', path: '/'}])
    return true
  } catch (error) {
    if (
      error instanceof ZkError &&
      (error.code === zkConstants.ZUNIMPLEMENTED || error.code === zkConstants.ZCONNECTIONLOSS)
    )
      return false
    throw error
  }
}
