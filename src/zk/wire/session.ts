import {setTimeout as sleep} from 'node:timers/promises'

import type {JuteReader} from '../../jute/reader.js'

import {OperationError} from '../../errors.js'
import {JuteWriter} from '../../jute/writer.js'
import {TlsFailed, type ZkTlsOptions} from '../tls.js'
import {type Acl, type Stat, zkConstants, ZkError} from '../types.js'
import {Connection, ConnectionClosed} from './connection.js'
import {
  connectRequest,
  multiReadRequest,
  multiRequest,
  OP,
  ProtocolError,
  readMultiReadResults,
  readMultiResults,
  type ReadOp,
  type ReadResult,
  readStat,
  readStrings,
  readWriteResult,
  type ReplyHeader,
  type WriteOp,
  writeOpBody,
  writeOpType,
  type WriteResult,
  XID,
} from './protocol.js'
import {DigestMd5Client} from './sasl.js'

export interface WireSessionOptions {
  auth?: {password: string; user: string}
  /** For tests: any scheme; the tool uses `auth` (digest). */
  authScheme?: {credentials: string; scheme: string; user: string}
  /** How long connect() goes on trying the hosts in turn (at least one second each); by default the session timeout. */
  connectTimeoutMs?: number
  hosts: string[]
  /** The host to try first (one of `hosts`); by default a random one. */
  preferredHost?: string
  /** SASL DIGEST-MD5 credentials (ZooKeeper's DigestLoginModule): the session's `sasl:<user>` identity. */
  sasl?: {password: string; user: string}
  sessionTimeoutMs?: number
  /** Connect over TLS (a secureClientPort). */
  tls?: ZkTlsOptions
}

interface Pending {
  decode: (reader: JuteReader, header: ReplyHeader) => unknown
  operation: string
  path: string
  reject: (error: Error) => void
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- each request's own resolve, whatever its reply type
  resolve: (value: any) => void
}

type State = 'closed' | 'connected' | 'expired' | 'reconnecting'

const RECONNECT_PAUSE_MS = 100

/**
 * A ZooKeeper session over our own sockets: single requests, multi-read and multi, pipelined (the
 * server answers a session's requests in order). A lost connection fails the requests in flight
 * with ZCONNECTIONLOSS and is replaced by one to another node, same session, within the session
 * timeout; requests sent meanwhile wait for it. Nothing is re-sent here: that is ZkSession's policy.
 */
export class WireSession {
  private readonly closeListeners: Array<() => void> = []
  private closing = false
  private connecting?: Promise<void>
  private connection?: Connection
  private hostIndex: number
  /** "host:port" each; an entry of `options.hosts` may also be a comma-separated list. */
  private readonly hosts: string[]
  private lastZxid = 0n
  private negotiatedTimeoutMs: number
  private password = Buffer.alloc(16)
  private readonly pending = new Map<number, Pending>()
  private pinger?: NodeJS.Timeout
  private sessionId = 0n
  private state: State = 'reconnecting'
  private xid = 0

  private constructor(private readonly options: WireSessionOptions) {
    this.negotiatedTimeoutMs = options.sessionTimeoutMs ?? 15_000
    this.hosts = options.hosts.flatMap((host) => host.split(',')).filter(Boolean)
    const preferred = options.preferredHost === undefined ? -1 : this.hosts.indexOf(options.preferredHost)
    this.hostIndex = preferred >= 0 ? preferred : Math.floor(Math.random() * this.hosts.length)
  }

  static async connect(options: WireSessionOptions): Promise<WireSession> {
    const session = new WireSession(options)
    await session.reconnect(Date.now() + (options.connectTimeoutMs ?? session.negotiatedTimeoutMs))
    return session
  }

  /** False once the session was closed or expired: it cannot be used again. */
  get alive(): boolean {
    return !this.closing && this.state !== 'closed' && this.state !== 'expired'
  }

  /** The node this session is connected to now. */
  get host(): string | undefined {
    return this.connection?.host
  }

  /** Every node this session may connect to. */
  get hostList(): readonly string[] {
    return this.hosts
  }

  get id(): bigint {
    return this.sessionId
  }

  /** The highest zxid of any answer so far: a znode created later has a higher czxid. */
  get lastZxidSeen(): bigint {
    return this.lastZxid
  }

  get timeoutMs(): number {
    return this.negotiatedTimeoutMs
  }

  /** Drops the connection and leaves the session to expire (for tests of what survives a crash). */
  abandon(): void {
    this.shutdown('closed', new OperationError('the ZooKeeper session was abandoned'))
  }

  /** Ends the session: the server deletes its ephemerals. */
  async close(): Promise<void> {
    if (this.state === 'closed' || this.state === 'expired') return
    if (this.state === 'connected') {
      this.closing = true
      // An unreferenced timer: a process must not wait for it once the server has answered.
      await Promise.race([
        this.request(OP.closeSession, '/', 'close the session', undefined, () => undefined).catch(() => {}),
        sleep(2000, undefined, {ref: false}),
      ])
    }

    this.shutdown('closed', new OperationError('the ZooKeeper session was closed'))
  }

  /** Creates `path` with its ACL in the same request; answers the name created (with its sequence number). */
  async create(path: string, data: Buffer, acl: Acl[], flags = 0, ttlMs?: number): Promise<string> {
    const op: WriteOp = {acl, data, flags, kind: 'create', path, ttlMs}
    const type = writeOpType(op)
    const result = await this.request(type, path, 'create', writeOpBody(new JuteWriter(), op), (reader) =>
      readWriteResult(reader, type),
    )
    return result.path!
  }

  async delete(path: string, version = -1): Promise<void> {
    await this.request(
      OP.delete,
      path,
      'delete',
      writeOpBody(new JuteWriter(), {kind: 'delete', path, version}),
      () => undefined,
    )
  }

  async exists(path: string): Promise<Stat | undefined> {
    try {
      return await this.request(OP.exists, path, 'check', pathAndWatch(path), readStat)
    } catch (error) {
      if (error instanceof ZkError && error.code === zkConstants.ZNONODE) return undefined
      throw error
    }
  }

  getAcl(path: string): Promise<{acl: Acl[]; stat: Stat}> {
    return this.request(OP.getACL, path, 'read the ACL of', new JuteWriter().string(path), (reader) => ({
      acl: reader.acls() ?? [],
      stat: readStat(reader),
    }))
  }

  /** How many znodes are under `path`, at any depth (ZooKeeper 3.6+; older servers do not know the request). */
  getAllChildrenNumber(path: string): Promise<number> {
    return this.request(
      OP.getAllChildrenNumber,
      path,
      'count the znodes under',
      new JuteWriter().string(path),
      (reader) => reader.int(),
    )
  }

  getChildren(path: string): Promise<string[]> {
    return this.request(OP.getChildren, path, 'list children of', pathAndWatch(path), readStrings)
  }

  getData(path: string): Promise<{data: Buffer; stat: Stat}> {
    return this.request(OP.getData, path, 'read', pathAndWatch(path), (reader) => ({
      data: reader.buffer(true) ?? Buffer.alloc(0),
      stat: readStat(reader),
    }))
  }

  /** Applies all `ops` or none: a failure throws MultiFailed naming the op. */
  multi(ops: WriteOp[]): Promise<WriteResult[]> {
    return this.request(
      OP.multi,
      ops[0]?.path ?? '/',
      `write (a multi of ${ops.length})`,
      multiRequest(ops),
      (reader, header) => {
        if (header.err !== 0 && reader.remaining === 0)
          throw new ZkError(header.err, ops[0]?.path ?? '/', `write (a multi of ${ops.length})`)
        return readMultiResults(reader, ops)
      },
      true,
    )
  }

  /** getData and getChildren of many paths in one round trip (ZooKeeper 3.6+); each op gets its result or its error. */
  multiRead(ops: ReadOp[]): Promise<Array<ReadResult | ZkError>> {
    return this.request(
      OP.multiRead,
      ops[0]?.path ?? '/',
      `read (a multi-read of ${ops.length})`,
      multiReadRequest(ops),
      (reader, header) => {
        if (header.err !== 0) throw new ZkError(header.err, ops[0]?.path ?? '/', `read (a multi-read of ${ops.length})`)
        return readMultiReadResults(reader, ops)
      },
      true,
    )
  }

  /** Called once when the session ends: closed, abandoned or expired (the server has dropped its ephemerals, or will). */
  onClose(listener: () => void): void {
    this.closeListeners.push(listener)
  }

  async setAcl(path: string, acl: Acl[], version = -1): Promise<void> {
    await this.request(
      OP.setACL,
      path,
      'set the ACL of',
      new JuteWriter().string(path).acl(acl).int(version),
      () => undefined,
    )
  }

  async setData(path: string, data: Buffer, version = -1): Promise<void> {
    await this.request(
      OP.setData,
      path,
      'write',
      writeOpBody(new JuteWriter(), {data, kind: 'setData', path, version}),
      () => undefined,
    )
  }

  /** Waits until the node this session is on has caught up with the leader. */
  async sync(path: string): Promise<void> {
    await this.request(OP.sync, path, 'sync', new JuteWriter().string(path), () => undefined)
  }

  private authenticate(connection: Connection): Promise<void> {
    const auth =
      this.options.authScheme ??
      (this.options.auth && {
        credentials: `${this.options.auth.user}:${this.options.auth.password}`,
        scheme: 'digest',
        user: this.options.auth.user,
      })
    if (!auth) return Promise.resolve()
    const packet = new JuteWriter()
      .int(XID.auth)
      .int(OP.auth)
      .int(0)
      .string(auth.scheme)
      .buffer(Buffer.from(auth.credentials))
      .packet()
    return new Promise<void>((resolve, reject) => {
      this.pending.set(XID.auth, {
        decode(_reader, reply) {
          if (reply.err !== 0)
            throw new AuthFailed(
              `ZooKeeper at ${connection.host} refused the ${auth.scheme} credentials of user ${auth.user} (${reply.err === zkConstants.ZAUTHFAILED ? 'ZAUTHFAILED' : `error ${reply.err}`}): check --zk-auth`,
            )
        },
        operation: 'authenticate as',
        path: auth.user,
        reject,
        resolve,
      })
      connection.send(packet)
    })
  }

  /** DIGEST-MD5: an empty first token, the answer to the server's challenge, then its proof checked. */
  private async authenticateSasl(connection: Connection, credentials: {password: string; user: string}): Promise<void> {
    const refused = (why: string) =>
      new AuthFailed(
        `ZooKeeper at ${connection.host} refused the SASL DIGEST-MD5 credentials of user ${credentials.user} (${why})`,
      )
    const client = new DigestMd5Client(credentials.user, credentials.password)
    const challenge = await this.saslToken(connection, Buffer.alloc(0), refused)
    let answer: Buffer
    try {
      answer = client.respond(challenge)
    } catch (error) {
      throw refused((error as Error).message)
    }

    if (!client.verify(await this.saslToken(connection, answer, refused)))
      throw refused('its final token does not prove it knows the password')
  }

  private checkUsable(path: string, operation: string, opcode: number): void {
    if (this.state === 'expired') throw expiredError(path, operation)
    if (this.state === 'closed' || (this.closing && opcode !== OP.closeSession))
      throw new OperationError(`ZooKeeper session is closed (${operation} ${path})`)
  }

  private failPending(error: (path: string, operation: string) => Error): void {
    const waiting = [...this.pending.values()]
    this.pending.clear()
    for (const request of waiting) request.reject(error(request.path, request.operation))
  }

  /** Requests in flight fail with ZCONNECTIONLOSS (ZkSession may re-send them), or with the ProtocolError that ended the connection (re-sending would meet it again). */
  private onConnectionClosed(connection: Connection, reason: Error): void {
    if (connection !== this.connection) return
    this.connection = undefined
    clearInterval(this.pinger)
    this.failPending((path, operation) =>
      reason instanceof ProtocolError ? reason : new ZkError(zkConstants.ZCONNECTIONLOSS, path, operation),
    )
    if (this.state !== 'connected' || this.closing) return
    this.state = 'reconnecting'
    // The server keeps the session for its timeout after it last heard from us.
    this.connecting = this.reconnect(connection.lastReceived + this.negotiatedTimeoutMs).catch(() => {})
  }

  private onReply(header: ReplyHeader, reader: JuteReader): void {
    if (header.zxid > this.lastZxid) this.lastZxid = header.zxid
    if (header.xid === XID.ping || header.xid === XID.notification) return
    const waiting = this.pending.get(header.xid)
    if (!waiting) return
    this.pending.delete(header.xid)
    try {
      waiting.resolve(waiting.decode(reader, header))
    } catch (error) {
      waiting.reject(error as Error)
    }
  }

  private async openConnection(host: string, timeoutMs: number): Promise<void> {
    const handshake = connectRequest(this.lastZxid, this.negotiatedTimeoutMs, this.sessionId, this.password)
    let opened: Connection | undefined
    const {connection, response} = await Connection.open(
      host,
      handshake,
      timeoutMs,
      (header, reader) => this.onReply(header, reader),
      (reason) => {
        if (opened) this.onConnectionClosed(opened, reason)
      },
      this.options.tls,
    )
    if (this.state === 'closed') {
      connection.destroy(new ConnectionClosed('session closed'))
      throw new OperationError('the ZooKeeper session was closed')
    }

    if (response.timeoutMs <= 0) {
      connection.destroy(new ConnectionClosed('session expired'))
      const error = expiredError('/', 'reconnect')
      this.shutdown('expired', error)
      throw error
    }

    Object.assign(this, {
      negotiatedTimeoutMs: response.timeoutMs,
      password: response.password,
      sessionId: response.sessionId,
    })
    opened = connection
    this.connection = connection
    try {
      await this.authenticate(connection)
      if (this.options.sasl) await this.authenticateSasl(connection, this.options.sasl)
    } catch (error) {
      connection.destroy(error as Error)
      throw error
    }

    this.state = 'connected'
    this.startPinging(connection)
  }

  /** Connects to the hosts in turn, the current session or a new one, until `deadline`. */
  private async reconnect(deadline: number): Promise<void> {
    const {hosts} = this
    let lastError: Error | undefined
    for (let attempt = 0; Date.now() < deadline || attempt === 0; attempt++) {
      const host = hosts[(this.hostIndex + attempt) % hosts.length]
      try {
        await this.openConnection(
          host,
          Math.max(1000, Math.min(deadline - Date.now(), this.negotiatedTimeoutMs / hosts.length)),
        )
        this.hostIndex = hosts.indexOf(host)
        return
      } catch (error) {
        if (error instanceof AuthFailed || error instanceof TlsFailed || error instanceof ProtocolError)
          this.shutdown('closed', error)
        if (this.state === 'expired' || this.state === 'closed') throw error

        lastError = error as Error

        if ((attempt + 1) % hosts.length === 0) await sleep(RECONNECT_PAUSE_MS)
      }
    }

    const error =
      this.sessionId === 0n
        ? new OperationError(
            `Cannot connect to ZooKeeper at ${hosts.join(',')}: ${lastError?.message ?? 'no answer'}; check the hosts and that a quorum is up`,
          )
        : expiredError('/', 'reach ZooKeeper for')
    this.shutdown(this.sessionId === 0n ? 'closed' : 'expired', error)
    throw error
  }

  /**
   * Sends one request. Its answer's error is the request's error unless `errorsInBody` (multi and
   * multi-read, whose ops carry their own errors).
   */
  private async request<T>(
    opcode: number,
    path: string,
    operation: string,
    body: JuteWriter | undefined,
    decode: (reader: JuteReader, header: ReplyHeader) => T,
    errorsInBody = false,
  ): Promise<T> {
    if (this.state === 'reconnecting') await this.connecting
    this.checkUsable(path, operation, opcode)
    this.xid = (this.xid + 1) & 0x7f_ff_ff_ff
    const {xid} = this
    const header = new JuteWriter().int(xid).int(opcode)
    const packet = (body ? header.append(body) : header).packet()
    return new Promise<T>((resolve, reject) => {
      this.pending.set(xid, {
        decode(reader, reply) {
          if (reply.err !== 0 && !errorsInBody) throw new ZkError(reply.err, path, operation)
          return decode(reader, reply)
        },
        operation,
        path,
        reject,
        resolve,
      })
      this.connection!.send(packet)
    })
  }

  /** Sends one SASL token and resolves with the server's; an error answer is a refusal. */
  private saslToken(connection: Connection, token: Buffer, refused: (why: string) => Error): Promise<Buffer> {
    this.xid = (this.xid + 1) & 0x7f_ff_ff_ff
    const {xid} = this
    const packet = new JuteWriter().int(xid).int(OP.sasl).buffer(token).packet()
    return new Promise<Buffer>((resolve, reject) => {
      this.pending.set(xid, {
        decode(reader, reply) {
          if (reply.err !== 0)
            throw refused(reply.err === zkConstants.ZAUTHFAILED ? 'ZAUTHFAILED' : `error ${reply.err}`)
          return reader.buffer(true) ?? Buffer.alloc(0)
        },
        operation: 'authenticate (SASL) as',
        path: '',
        reject,
        resolve,
      })
      connection.send(packet)
    })
  }

  private shutdown(state: 'closed' | 'expired', reason: Error): void {
    const ended = this.state === 'closed' || this.state === 'expired'
    this.state = state
    clearInterval(this.pinger)
    this.failPending(() => reason)
    const {connection} = this
    this.connection = undefined
    connection?.destroy(reason)
    if (ended) return
    for (const listener of this.closeListeners.splice(0)) listener()
  }

  /**
   * Pings at a third of the timeout; a node silent for two thirds of it is given up for another.
   * A tick that comes late means this process was busy, not that the node was silent: its answers
   * may be waiting unread behind the timer, so a late tick defers the judgement to the next one
   * (only one: a process busy at every tick must still notice a node that stopped answering).
   */
  private startPinging(connection: Connection): void {
    const ping = new JuteWriter().int(XID.ping).int(OP.ping).packet()
    const interval = Math.max(100, Math.floor(this.negotiatedTimeoutMs / 3))
    let lastTick = Date.now()
    let deferred = false
    this.pinger = setInterval(() => {
      const now = Date.now()
      const late = now - lastTick >= interval * 1.5
      lastTick = now
      const defer = late && !deferred
      deferred = defer
      if (!defer && now - connection.lastReceived > (this.negotiatedTimeoutMs * 2) / 3) {
        connection.destroy(new ConnectionClosed(`${connection.host} stopped answering`))
        return
      }

      connection.send(ping)
    }, interval)
    this.pinger.unref()
  }
}

/** The server refused the credentials (it closes the connection after saying so). */
export class AuthFailed extends OperationError {}

function pathAndWatch(path: string): JuteWriter {
  return new JuteWriter().string(path).bool(false)
}

function expiredError(path: string, operation: string): ZkError {
  const error = new ZkError(zkConstants.ZSESSIONEXPIRED, path, operation)
  error.message = `ZooKeeper session expired (no node reached within the session timeout) while trying to ${operation} ${path}`
  return error
}
