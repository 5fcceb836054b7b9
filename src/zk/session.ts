import {setTimeout as sleep} from 'node:timers/promises'

import {OperationError} from '../errors.js'
import {identitiesOf, type Identity} from './acl.js'
import {checkResolvable} from './resolve.js'
import {TlsFailed, type ZkTlsOptions} from './tls.js'
import {type Acl, OPEN_ACL, type Stat, zkConstants, ZkError} from './types.js'
import {ProtocolError, type ReadOp, type ReadResult, type WriteOp, type WriteResult} from './wire/protocol.js'
import {AuthFailed, WireSession} from './wire/session.js'

export {type Acl, OPEN_ACL, type Stat, zkConstants, ZkError} from './types.js'

export interface SessionOptions {
  auth?: {password: string; user: string}
  /** Default: the session timeout. */
  connectTimeoutMs?: number
  hosts: string[]
  /** The host to try first (one of `hosts`); by default a random one. */
  preferredHost?: string
  /** SASL DIGEST-MD5 credentials (ZooKeeper's DigestLoginModule). */
  sasl?: {password: string; user: string}
  sessionTimeoutMs?: number
  /** Connect over TLS (a secureClientPort), with a client certificate for x509 when given. */
  tls?: ZkTlsOptions
}

const DEFAULT_TIMEOUT_MS = 15_000

const {ZCONNECTIONLOSS, ZNODEEXISTS, ZNONODE, ZOO_EPHEMERAL, ZOO_SEQUENCE} = zkConstants

/** After a lost connection the session reconnects by itself; a re-sent request waits for that, then this long at most between tries. */
const MAX_RETRY_PAUSE_MS = 1000

/**
 * A connected ZooKeeper session (src/zk/wire), with the tool's one retry policy: single requests
 * that fail with a lost connection are re-sent once the session has reconnected to another node,
 * until the session timeout has passed; writes are re-sent only when a second landing cannot
 * differ from the first (a sequential create never is). Multi and multi-read are never re-sent
 * here: their callers split or resend them. Requests pipeline: keep many in flight.
 */
export class ZkSession {
  /** Who this session is to ACLs: world:anyone, plus the digest id of its credentials. */
  readonly identities: Identity[]
  // Kept for opening more sessions like this one with the same credentials; never shown.
  readonly #options: SessionOptions

  private constructor(
    private readonly wire: WireSession,
    options: SessionOptions,
  ) {
    this.#options = {
      auth: options.auth,
      hosts: options.hosts,
      sasl: options.sasl,
      sessionTimeoutMs: options.sessionTimeoutMs,
      tls: options.tls,
    }
    this.identities = identitiesOf(options.auth)
  }

  static async connect(options: SessionOptions): Promise<ZkSession> {
    await checkResolvable(options.hosts)
    const connectTimeoutMs = options.connectTimeoutMs ?? options.sessionTimeoutMs ?? DEFAULT_TIMEOUT_MS
    try {
      return new ZkSession(await WireSession.connect({...options, connectTimeoutMs}), options)
    } catch (error) {
      if (error instanceof AuthFailed || error instanceof TlsFailed || error instanceof ProtocolError) throw error
      throw new OperationError(
        `Cannot connect to ZooKeeper at ${options.hosts.join(',')} within ${connectTimeoutMs / 1000}s: check the hosts and that a quorum is up`,
        {cause: error},
      )
    }
  }

  /** False once the session was closed or expired: it cannot be used again. */
  get alive(): boolean {
    return this.wire.alive
  }

  /** How to open another session like this one (hosts, credentials, timeout). */
  get connectOptions(): SessionOptions {
    return this.#options
  }

  /** The node this session is connected to now. */
  get host(): string | undefined {
    return this.wire.host
  }

  /** Every node this session may connect to, "host:port" each. */
  get hostList(): readonly string[] {
    return this.wire.hostList
  }

  /** The hosts as given (not split), for srvr and for opening sessions like this one. */
  get hosts(): string[] {
    return this.#options.hosts
  }

  /** The session's id, as the server's `cons` shows it (in hex). */
  get id(): bigint {
    return this.wire.id
  }

  /**
   * The session timeout asked for, in milliseconds: what a lock holder records and how long a request
   * is re-sent. The server may have agreed to another (it keeps it between 2 and 20 ticks).
   */
  get timeoutMs(): number {
    return this.#options.sessionTimeoutMs ?? DEFAULT_TIMEOUT_MS
  }

  /** Ends the session (the server deletes its ephemerals); `alive` is false at once. Closing again does nothing. */
  close(): Promise<void> {
    return this.wire.close()
  }

  /**
   * Creates `path` with `acl` in the same request (no moment with another ACL) and answers the name
   * created. A sequential create is never re-sent: a second landing would be a second znode. Another
   * create re-sent after a lost connection that finds its znode counts as done only when the znode is
   * the first attempt's: created after the request was sent, with our data, and for an ephemeral by
   * this session; otherwise NodeExists stands (someone else created it).
   */
  async create(path: string, data: Buffer, flags = 0, ttlMs?: number, acl: Acl[] = OPEN_ACL): Promise<string> {
    const send = () => this.wire.create(path, data, acl, flags, ttlMs)
    if (flags & ZOO_SEQUENCE) return send()
    const zxidBefore = this.wire.lastZxidSeen
    return this.retrying(send, {
      landed: (error) => error.code === ZNODEEXISTS && this.createdByUs(path, data, flags, zxidBefore),
      result: path,
    })
  }

  /** Creates every missing ancestor of `path` (not `path` itself) as a persistent znode. */
  async createParents(path: string): Promise<void> {
    const names = path.split('/').filter(Boolean).slice(0, -1)
    let current = ''
    for (const name of names) {
      current += `/${name}`

      await this.create(current, Buffer.alloc(0), 0).catch((error: unknown) => {
        if (!(error instanceof ZkError && error.code === ZNODEEXISTS)) throw error
      })
    }
  }

  /** Re-sent after a lost connection; NoNode on a re-sent delete means the first one landed. */
  delete(path: string, version = -1): Promise<void> {
    return this.retrying(() => this.wire.delete(path, version), {
      landed: (error) => error.code === ZNONODE,
      result: undefined,
    })
  }

  exists(path: string): Promise<Stat | undefined> {
    return this.retrying(() => this.wire.exists(path))
  }

  getAcl(path: string): Promise<{acl: Acl[]; stat: Stat}> {
    return this.retrying(() => this.wire.getAcl(path))
  }

  /** How many znodes are under `path`, at any depth (ZooKeeper 3.6+). */
  getAllChildrenNumber(path: string): Promise<number> {
    return this.retrying(() => this.wire.getAllChildrenNumber(path))
  }

  getChildren(path: string): Promise<string[]> {
    return this.retrying(() => this.wire.getChildren(path))
  }

  getData(path: string): Promise<{data: Buffer; stat: Stat}> {
    return this.retrying(() => this.wire.getData(path))
  }

  /** Applies all `ops` or none; never re-sent here (see MultiWriter). */
  multi(ops: WriteOp[]): Promise<WriteResult[]> {
    return this.wire.multi(ops)
  }

  /** getData and getChildren of many paths in one round trip (ZooKeeper 3.6+); never re-sent here. */
  multiRead(ops: ReadOp[]): Promise<Array<ReadResult | ZkError>> {
    return this.wire.multiRead(ops)
  }

  /** Called once when the session ends, by close() or by expiry. */
  onClose(listener: () => void): void {
    this.wire.onClose(listener)
  }

  setAcl(path: string, acl: Acl[], version = -1): Promise<void> {
    return this.retrying(() => this.wire.setAcl(path, acl, version))
  }

  setData(path: string, data: Buffer, version = -1): Promise<void> {
    return this.retrying(() => this.wire.setData(path, data, version))
  }

  /** Waits until the node this session is on has caught up with the leader. */
  sync(path: string): Promise<void> {
    return this.retrying(() => this.wire.sync(path))
  }

  /** Whether the znode at `path` is the one a create sent after `zxidBefore` made. */
  private async createdByUs(path: string, data: Buffer, flags: number, zxidBefore: bigint): Promise<boolean> {
    // NodeExists came from the leader; the node this session reads from may not have applied that create yet.
    await this.wire.sync(path).catch(() => {})
    const {data: found, stat} = await this.getData(path).catch(() => ({data: undefined, stat: undefined}))
    if (!stat || !found || BigInt(stat.czxid) <= zxidBefore || !found.equals(data)) return false
    return !(flags & ZOO_EPHEMERAL) || stat.ephemeralOwner === this.wire.id.toString(16)
  }

  /**
   * Sends until an answer other than a lost connection, or the session timeout has passed. For a
   * write whose first attempt may have landed unseen, `landedAs.landed` tells from a re-sent one's
   * error that it did, and `landedAs.result` is then the answer.
   */
  private async retrying<T>(
    send: () => Promise<T>,
    landedAs?: {landed: (error: ZkError) => boolean | Promise<boolean>; result: T},
  ): Promise<T> {
    const deadline = Date.now() + this.timeoutMs
    for (let attempt = 0; ; attempt++) {
      try {
        return await send()
      } catch (error) {
        if (!(error instanceof ZkError)) throw error

        if (attempt > 0 && landedAs && (await landedAs.landed(error))) return landedAs.result
        if (error.code !== ZCONNECTIONLOSS || Date.now() > deadline) throw error

        await sleep(Math.min(MAX_RETRY_PAUSE_MS, 10 * 2 ** attempt))
      }
    }
  }
}

/**
 * The one rule for sessions: whoever opens a session closes it, and waits for the close (the server
 * has then deleted its ephemerals), whatever happened. Runs `work` on the session `open` connects
 * and closes it after; when `work` failed, a failing close is dropped so that it never hides the
 * work's own error.
 */
export async function withSession<T>(
  open: () => Promise<ZkSession>,
  work: (session: ZkSession) => Promise<T>,
): Promise<T> {
  const session = await open()
  let result: T
  try {
    result = await work(session)
  } catch (error) {
    await session.close().catch(() => {})
    throw error
  }

  await session.close()
  return result
}
