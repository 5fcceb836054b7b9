import ZooKeeper from 'zookeeper'

import {OperationError} from '../errors.js'
import {type Identity, identitiesOf} from './acl.js'
import {checkResolvable} from './resolve.js'
import type {ZkTlsOptions} from './tls.js'

const {constants} = ZooKeeper

export interface Stat {
  czxid: number
  mzxid: number
  pzxid: number
  ctime: Date
  mtime: Date
  version: number
  cversion: number
  aversion: number
  /** Hex, as the C client formats it. Also encodes container and TTL node types. */
  ephemeralOwner: string
  dataLength: number
  numChildren: number
}

export interface Acl {
  perms: number
  scheme: string
  id: string
}

export const OPEN_ACL: Acl[] = [{id: 'anyone', perms: constants.ZOO_PERM_ALL, scheme: 'world'}]

export interface SessionOptions {
  hosts: string[]
  auth?: {user: string; password: string}
  sessionTimeoutMs?: number
  /** Default: the session timeout. */
  connectTimeoutMs?: number
  /** Connect over TLS (a secureClientPort); needs the session on the wire client (src/zk/wire). */
  tls?: ZkTlsOptions
  /** SASL DIGEST-MD5 credentials; needs the session on the wire client too. */
  sasl?: {user: string; password: string}
}

/** A ZooKeeper error code with the path it happened on. */
export class ZkError extends OperationError {
  constructor(
    readonly code: number,
    readonly path: string,
    operation: string,
  ) {
    super(describeZkError(code, path, operation))
    this.name = 'ZkError'
  }
}

const ERROR_NAMES: Record<number, string> = Object.fromEntries(
  Object.entries(constants)
    .filter(([name, value]) => name.startsWith('Z') && !name.startsWith('ZOO') && typeof value === 'number')
    .map(([name, value]) => [value as number, name]),
)

function describeZkError(code: number, path: string, operation: string): string {
  if (code === constants.ZNOAUTH) {
    return `Not authorized to ${operation} ${path}: pass credentials with --zk-auth user:password (or DCOS_ZK_AUTH)`
  }

  const name = ERROR_NAMES[code] ?? `error ${code}`
  return `ZooKeeper ${operation} ${path} failed: ${name}`
}

const RETRYABLE = new Set([constants.ZCONNECTIONLOSS, constants.ZOPERATIONTIMEOUT])

type NativeCallback = (rc: number, error: unknown, ...results: any[]) => void

/**
 * A connected ZooKeeper session. Each method sends one request through the native client's callback
 * API and resolves with its result, so callers pipeline simply by keeping many requests in flight.
 * Reads and idempotent writes that fail with a lost connection are re-sent once the client has
 * reconnected to another node (within the session timeout).
 */
export class ZkSession {
  // Kept for opening the bulk jobs' own connection (src/zk/wire) with the same credentials; never shown.
  readonly #options: SessionOptions
  private closed = false
  private readonly closeListeners: Array<() => void> = []

  /** Who this session is to ACLs: world:anyone, plus the digest id of its credentials. */
  readonly identities: Identity[]

  private constructor(
    private readonly client: ZooKeeper,
    readonly hosts: string[],
    private readonly sessionTimeoutMs: number,
    auth?: {user: string; password: string},
  ) {
    this.#options = {auth, hosts, sessionTimeoutMs}
    this.identities = identitiesOf(auth)
    // The native client closes itself when the session expires; its ephemerals are gone by then.
    client.once('close', () => {
      this.closed = true
      for (const listener of this.closeListeners) listener()
    })
  }

  /** False once the session was closed or expired: it cannot be used again. */
  get alive(): boolean {
    return !this.closed
  }

  /** The session timeout asked for, in milliseconds. */
  get timeoutMs(): number {
    return this.sessionTimeoutMs
  }

  /** How to open another session like this one (hosts, credentials, timeout). */
  get connectOptions(): SessionOptions {
    return this.#options
  }

  /** Called once when the session ends, by close() or by expiry. */
  onClose(listener: () => void): void {
    this.closeListeners.push(listener)
  }

  static async connect(options: SessionOptions): Promise<ZkSession> {
    // The native client is built without TLS; the wire client (src/zk/wire) speaks it.
    if (options.tls) throw new OperationError('This build cannot open its ZooKeeper session over TLS yet (--zk-tls-ca, --zk-tls-cert, --zk-tls-key): only `dcos cluster status` can; connect to a plain clientPort')
    if (options.sasl) throw new OperationError('This build cannot authenticate its ZooKeeper session with SASL yet (--zk-sasl): use --zk-auth (digest)')
    await checkResolvable(options.hosts)
    const sessionTimeoutMs = options.sessionTimeoutMs ?? 15_000
    const connectTimeoutMs = options.connectTimeoutMs ?? sessionTimeoutMs
    const client = new ZooKeeper({
      connect: options.hosts.join(','),
      data_as_buffer: true,
      debug_level: 0, // 0 silences the C client's own logging on stderr
      host_order_deterministic: false,
      // The addon closes the session after this many reads in a row that end mid-response (default 10):
      // a response near 1 MiB arrives in more pieces than that.
      response_counter_limit: 1 << 20,
      timeout: sessionTimeoutMs,
    })
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        client.removeAllListeners('connect')
        client.close()
        reject(
          new OperationError(
            `Cannot connect to ZooKeeper at ${options.hosts.join(',')} within ${connectTimeoutMs / 1000}s: check the hosts and that a quorum is up`,
          ),
        )
      }, connectTimeoutMs)
      client.once('connect', () => {
        clearTimeout(timer)
        resolve()
      })
      client.init({})
    })
    const session = new ZkSession(client, options.hosts, sessionTimeoutMs, options.auth)
    if (options.auth) await session.addDigestAuth(options.auth.user, options.auth.password)
    return session
  }

  private addDigestAuth(user: string, password: string): Promise<void> {
    return this.request('authenticate as', `user ${user}`, (cb) => this.client.add_auth('digest', `${user}:${password}`, cb), () => undefined)
  }

  getData(path: string): Promise<{data: Buffer; stat: Stat}> {
    return this.retrying('read', path, (cb) => this.client.a_get(path, false, cb), (stat: Stat, data: Buffer | null) => ({
      data: data ?? Buffer.alloc(0),
      stat,
    }))
  }

  getChildren(path: string): Promise<string[]> {
    return this.retrying('list children of', path, (cb) => this.client.a_get_children(path, false, cb), (children: string[]) => children ?? [])
  }

  getAcl(path: string): Promise<{acl: Acl[]; stat: Stat}> {
    return this.retrying('read the ACL of', path, (cb) => this.client.a_get_acl(path, cb), (acl: NativeAcl[], stat: Stat) => ({
      acl: (acl ?? []).map((entry) => ({id: entry.auth, perms: entry.perms, scheme: entry.scheme})),
      stat,
    }))
  }

  exists(path: string): Promise<Stat | undefined> {
    return this.retrying('check', path, (cb) => this.client.a_exists(path, false, cb), (stat: Stat) => stat).catch(
      (error: unknown) => {
        if (error instanceof ZkError && error.code === constants.ZNONODE) return undefined
        throw error
      },
    )
  }

  /**
   * Creates with the native client's only ACL (world:anyone); set the real ACL afterwards. After a
   * lost connection the create is sent again, and NodeExists then means the first one landed; a
   * sequential create is not repeatable, so it is never re-sent.
   */
  create(path: string, data: Buffer, flags: number, ttlMs?: number): Promise<void> {
    const send = (cb: NativeCallback) =>
      ttlMs === undefined ? this.client.a_create(path, data, flags, cb) : this.client.a_createTtl(path, data, flags, ttlMs, cb)
    if (flags & constants.ZOO_SEQUENCE) return this.request('create', path, send, () => undefined)
    return this.retrying('create', path, send, () => undefined, constants.ZNODEEXISTS)
  }

  setData(path: string, data: Buffer, version = -1): Promise<void> {
    return this.retrying('write', path, (cb) => this.client.a_set(path, data, version, cb), () => undefined)
  }

  setAcl(path: string, acl: Acl[], version = -1): Promise<void> {
    const native = acl.map((entry) => ({auth: entry.id, perms: entry.perms, scheme: entry.scheme}))
    return this.retrying('set the ACL of', path, (cb) => this.client.a_set_acl(path, version, native, cb), () => undefined)
  }

  /** Re-sent after a lost connection; NoNode on a re-sent delete means the first one landed. */
  delete(path: string, version = -1): Promise<void> {
    return this.retrying('delete', path, (cb) => this.client.a_delete_(path, version, cb), () => undefined, constants.ZNONODE)
  }

  /** Creates every missing ancestor of `path` (not `path` itself) as a persistent znode. */
  async createParents(path: string): Promise<void> {
    const names = path.split('/').filter(Boolean).slice(0, -1)
    let current = ''
    for (const name of names) {
      current += `/${name}`
      // eslint-disable-next-line no-await-in-loop
      await this.create(current, Buffer.alloc(0), 0).catch((error: unknown) => {
        if (!(error instanceof ZkError && error.code === constants.ZNODEEXISTS)) throw error
      })
    }
  }

  close(): void {
    if (this.closed) return
    this.closed = true
    this.client.close()
  }

  private request<T>(operation: string, path: string, send: (cb: NativeCallback) => unknown, result: (...values: any[]) => T): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      if (this.closed) {
        reject(new OperationError(`ZooKeeper session is closed (${operation} ${path})`))
        return
      }

      const sent = send((rc, _error, ...values) => {
        if (rc === constants.ZOK) resolve(result(...values))
        else reject(new ZkError(rc, path, operation))
      })
      // A request the client refuses at once (its session expired or was closed) never gets a callback.
      if (typeof sent === 'number' && sent !== constants.ZOK) reject(new ZkError(sent, path, operation))
    })
  }

  /**
   * Re-sends a request after a lost connection until the session timeout has passed. For a write whose
   * first attempt may have landed unseen, `doneOnRetry` is the error a re-sent one gets in that case.
   */
  private async retrying<T>(
    operation: string,
    path: string,
    send: (cb: NativeCallback) => unknown,
    result: (...values: any[]) => T,
    doneOnRetry?: number,
  ): Promise<T> {
    const deadline = Date.now() + this.sessionTimeoutMs
    for (let attempt = 0; ; attempt++) {
      try {
        // eslint-disable-next-line no-await-in-loop
        return await this.request(operation, path, send, result)
      } catch (error) {
        if (attempt > 0 && error instanceof ZkError && error.code === doneOnRetry) return result()
        if (!(error instanceof ZkError && RETRYABLE.has(error.code)) || Date.now() > deadline) throw error
        // eslint-disable-next-line no-await-in-loop
        await new Promise((resolve) => setTimeout(resolve, Math.min(1000, 50 * 2 ** attempt)))
      }
    }
  }
}

interface NativeAcl {
  perms: number
  scheme: string
  auth: string
}

export {constants as zkConstants}
