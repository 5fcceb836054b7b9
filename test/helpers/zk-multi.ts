/**
 * A minimal ZooKeeper wire-protocol client over node:net, for what the `zookeeper` npm client lacks:
 * multi transactions. It opens a session, sends multis, and closes the session (or abandons it, so
 * that it is still open when the server stops). Every packet is an int length, then the bytes.
 */
import {connect as netConnect, type Socket} from 'node:net'

import type {Acl} from '../../src/zk/session.js'

const OP = {check: 13, closeSession: -11, create: 1, createContainer: 19, createTTL: 21, delete: 2, error: -1, multi: 14, setData: 5} as const
const CONTAINER_FLAGS = 4
const TTL_FLAGS = 5
const OPEN: Acl[] = [{id: 'anyone', perms: 31, scheme: 'world'}]

export type MultiOp =
  | {type: 'check'; path: string; version: number}
  | {type: 'create'; path: string; data?: Buffer | string; acl?: Acl[]; flags?: number}
  | {type: 'createContainer'; path: string; data?: Buffer | string; acl?: Acl[]}
  | {type: 'createTTL'; path: string; data?: Buffer | string; acl?: Acl[]; ttl: number; flags?: number}
  | {type: 'delete'; path: string; version?: number}
  | {type: 'setData'; path: string; data: Buffer | string; version?: number}

export interface OpResult {
  type: number
  /** Set for error results (type -1): the op's error, 0 for ops rolled back because another failed. */
  err?: number
  /** Set for creates: the created path (with its sequence number). */
  path?: string
}

export interface MultiResult {
  /** The reply header's error: ZooKeeper 3.8 answers 0 even when an op failed (see the results). */
  err: number
  zxid: bigint
  results: OpResult[]
}

/** Writes Jute's encoding into a growing list of chunks. */
export class JuteWriter {
  private readonly chunks: Buffer[] = []

  int(value: number): this {
    return this.push(4, (buffer) => buffer.writeInt32BE(value))
  }

  long(value: bigint): this {
    return this.push(8, (buffer) => buffer.writeBigInt64BE(value))
  }

  bool(value: boolean): this {
    return this.push(1, (buffer) => buffer.writeUInt8(value ? 1 : 0))
  }

  buffer(value: Buffer): this {
    this.int(value.length)
    this.chunks.push(value)
    return this
  }

  string(value: string): this {
    return this.buffer(Buffer.from(value, 'utf8'))
  }

  acl(acl: Acl[]): this {
    this.int(acl.length)
    for (const entry of acl) this.int(entry.perms).string(entry.scheme).string(entry.id)
    return this
  }

  /** The bytes, prefixed with their length as the wire protocol frames them. */
  packet(): Buffer {
    const body = Buffer.concat(this.chunks)
    return Buffer.concat([new JuteWriter().int(body.length).bytes(), body])
  }

  bytes(): Buffer {
    return Buffer.concat(this.chunks)
  }

  private push(size: number, write: (buffer: Buffer) => void): this {
    const buffer = Buffer.alloc(size)
    write(buffer)
    this.chunks.push(buffer)
    return this
  }
}

/** Reads Jute's encoding from one received packet. */
class PacketReader {
  private offset = 0

  constructor(private readonly bytes: Buffer) {}

  int(): number {
    this.offset += 4
    return this.bytes.readInt32BE(this.offset - 4)
  }

  long(): bigint {
    this.offset += 8
    return this.bytes.readBigInt64BE(this.offset - 8)
  }

  bool(): boolean {
    return this.bytes[this.offset++] !== 0
  }

  string(): string {
    const length = this.int()
    this.offset += Math.max(0, length)
    return this.bytes.toString('utf8', this.offset - Math.max(0, length), this.offset)
  }

  skip(count: number): void {
    this.offset += count
  }
}

const STAT_BYTES = 68

export class ZkWireSession {
  private received = Buffer.alloc(0)
  private readonly waiting: Array<{resolve: (packet: Buffer) => void; reject: (error: Error) => void}> = []
  private failure?: Error
  private xid = 0
  sessionId = 0n

  private constructor(private readonly socket: Socket) {
    socket.on('data', (chunk: Buffer) => this.onData(chunk))
    socket.on('error', (error) => this.fail(error))
    socket.on('close', () => this.fail(new Error('the ZooKeeper connection closed')))
  }

  /** Opens a session on `hostPort` ("127.0.0.1:2181"). */
  static async connect(hostPort: string, timeoutMs = 10_000): Promise<ZkWireSession> {
    const [host, port] = hostPort.split(':')
    const socket = netConnect({host, port: Number(port)})
    await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject))
    const session = new ZkWireSession(socket)
    const request = new JuteWriter().int(0).long(0n).int(timeoutMs).long(0n).buffer(Buffer.alloc(16)).bool(false)
    socket.write(request.packet())
    const reply = new PacketReader(await session.nextPacket())
    reply.int() // protocol version
    const negotiatedTimeout = reply.int()
    session.sessionId = BigInt.asUintN(64, reply.long())
    if (negotiatedTimeout <= 0) throw new Error(`ZooKeeper at ${hostPort} refused the session`)
    return session
  }

  async multi(ops: MultiOp[]): Promise<MultiResult> {
    const request = new JuteWriter().int(++this.xid).int(OP.multi)
    for (const op of ops) writeOp(request.int(OP[op.type]).bool(false).int(-1), op)
    request.int(-1).bool(true).int(-1)
    this.socket.write(request.packet())
    return readMultiReply(new PacketReader(await this.nextPacket()))
  }

  /** Closes the session: the server deletes its ephemerals in a closeSession transaction. */
  async close(): Promise<void> {
    this.socket.write(new JuteWriter().int(++this.xid).int(OP.closeSession).packet())
    await this.nextPacket()
    this.socket.destroy()
  }

  /** Drops the connection and leaves the session open (until it expires or the server stops). */
  abandon(): void {
    this.socket.destroy()
  }

  private nextPacket(): Promise<Buffer> {
    if (this.failure) return Promise.reject(this.failure)
    return new Promise((resolve, reject) => {
      this.waiting.push({reject, resolve})
      this.deliver()
    })
  }

  private onData(chunk: Buffer): void {
    this.received = Buffer.concat([this.received, chunk])
    this.deliver()
  }

  private deliver(): void {
    while (this.waiting.length > 0 && this.received.length >= 4) {
      const length = this.received.readInt32BE(0)
      if (this.received.length < 4 + length) return
      const packet = this.received.subarray(4, 4 + length)
      this.received = this.received.subarray(4 + length)
      this.waiting.shift()!.resolve(packet)
    }
  }

  private fail(error: Error): void {
    this.failure ??= error
    for (const waiter of this.waiting.splice(0)) waiter.reject(error)
  }
}

/** Opens a session, sends one multi, then closes the session (or, with close: false, abandons it). */
export async function sendMulti(hostPort: string, ops: MultiOp[], {close = true} = {}): Promise<MultiResult> {
  const session = await ZkWireSession.connect(hostPort)
  try {
    return await session.multi(ops)
  } finally {
    await (close ? session.close() : session.abandon())
  }
}

function writeOp(request: JuteWriter, op: MultiOp): void {
  const data = (value: Buffer | string | undefined) => (typeof value === 'string' ? Buffer.from(value) : (value ?? Buffer.alloc(0)))
  switch (op.type) {
    case 'create': {
      request.string(op.path).buffer(data(op.data)).acl(op.acl ?? OPEN).int(op.flags ?? 0)
      break
    }

    case 'createContainer': {
      request.string(op.path).buffer(data(op.data)).acl(op.acl ?? OPEN).int(CONTAINER_FLAGS)
      break
    }

    case 'createTTL': {
      request.string(op.path).buffer(data(op.data)).acl(op.acl ?? OPEN).int(op.flags ?? TTL_FLAGS).long(BigInt(op.ttl))
      break
    }

    case 'delete': {
      request.string(op.path).int(op.version ?? -1)
      break
    }

    case 'setData': {
      request.string(op.path).buffer(data(op.data)).int(op.version ?? -1)
      break
    }

    case 'check': {
      request.string(op.path).int(op.version)
      break
    }
  }
}

function readMultiReply(reply: PacketReader): MultiResult {
  reply.int() // xid
  const zxid = reply.long()
  const err = reply.int()
  const results: OpResult[] = []
  for (;;) {
    const type = reply.int()
    const done = reply.bool()
    reply.int() // the header's err
    if (done) return {err, results, zxid}
    results.push(readOpResult(reply, type))
  }
}

function readOpResult(reply: PacketReader, type: number): OpResult {
  switch (type) {
    case OP.create: {
      return {path: reply.string(), type}
    }

    case OP.createContainer:
    case OP.createTTL:
    case 15: {
      const path = reply.string()
      reply.skip(STAT_BYTES)
      return {path, type}
    }

    case OP.setData: {
      reply.skip(STAT_BYTES)
      return {type}
    }

    case OP.error: {
      return {err: reply.int(), type}
    }

    default: {
      return {type}
    }
  }
}
