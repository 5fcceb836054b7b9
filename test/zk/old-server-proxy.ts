/**
 * A TCP proxy in front of one real ZooKeeper node that answers like ZooKeeper 3.4 (DC/OS shipped
 * 3.4.14) to what 3.4 lacks: a multi-read (opcode 22) gets ReplyHeader(xid, 0, ZUNIMPLEMENTED) and
 * the connection is closed, as 3.4's UnimplementedRequestProcessor does (ZOOKEEPER-1495); the
 * session survives. Everything else is forwarded byte for byte. `cut()` drops every connection and
 * refuses new ones until `restore()`, for sessions that must lose their only node.
 *
 * With `dropMultiReadsAbove: K` it plays a server that takes multi-reads but fails on big ones
 * instead: a multi-read of at most K ops is forwarded, one of more drops the connection (both
 * sockets destroyed, nothing answered), as a server does with a request it cannot take. It then
 * records which multi-reads were answered, and can hold one multi-read back (`holdMultiReadOf`).
 * `loseCreateOf` loses the connection under one create, after the server applied it or before.
 */
import {createServer, connect as netConnect, type Server, type Socket} from 'node:net'

import {JuteWriter} from '../../src/jute/writer.js'
import {FrameReader} from '../../src/zk/wire/frames.js'

const MULTI_READ = 22
/** create, create2, createContainer, createTTL */
const CREATES = new Set([1, 15, 19, 21])
const ZUNIMPLEMENTED = -6

export interface OldServerProxyOptions {
  /** Forward multi-reads of at most this many ops; drop the connection on bigger ones (instead of refusing every multi-read). */
  dropMultiReadsAbove?: number
}

export interface MultiReadOp {
  path: string
  type: number
}

/**
 * The ops of a MultiReadRequest frame (without its length): RequestHeader(xid, type), then per op
 * MultiHeader(type, done, err) and its request (path, watch), up to a header with done set.
 */
export function multiReadOps(frame: Buffer): MultiReadOp[] {
  const ops: MultiReadOp[] = []
  let at = 8
  for (;;) {
    const type = frame.readInt32BE(at)
    const done = frame.readUInt8(at + 4) !== 0
    at += 9
    if (done) break
    const length = frame.readInt32BE(at)
    ops.push({path: frame.toString('utf8', at + 4, at + 4 + length), type})
    at += 4 + length + 1 // the path, then the watch flag
  }

  if (at !== frame.length)
    throw new Error(`a multi-read request of ${ops.length} ops has ${frame.length - at} bytes left over`)
  return ops
}

/** How the next create of `path` loses its connection. */
export type LostCreate =
  | {before: () => Promise<void>; landed: false; path: string}
  /** `before` runs while the create is held, unsent; then the connection drops. */
  | {landed: true; path: string}

interface Hold {
  path: string
  reached: () => void
  released: Promise<void>
}

export class OldServerProxy {
  /** Client connections accepted. */
  connections = 0
  /** Multi-reads the server answered, by op count (with dropMultiReadsAbove). */
  readonly multiReadsAnswered: number[] = []
  /** Multi-reads that dropped their connection, by op count (with dropMultiReadsAbove). */
  readonly multiReadsDropped: number[] = []
  multiReadsRefused = 0
  private cutOff = false
  private hold?: Hold
  private lost?: LostCreate & {dropped: () => void}
  private readonly sockets = new Set<Socket>()

  private constructor(
    private readonly server: Server,
    readonly port: number,
    private readonly options: OldServerProxyOptions,
  ) {}

  static async start(upstreamPort: number, options: OldServerProxyOptions = {}): Promise<OldServerProxy> {
    let proxy: OldServerProxy | undefined
    const server = createServer((client) => proxy!.accept(client, upstreamPort))
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    const address = server.address()
    proxy = new OldServerProxy(server, typeof address === 'object' && address ? address.port : 0, options)
    return proxy
  }

  get host(): string {
    return `127.0.0.1:${this.port}`
  }

  async close(): Promise<void> {
    this.cut()
    await new Promise<void>((resolve) => this.server.close(() => resolve()))
  }

  cut(): void {
    this.cutOff = true
    for (const socket of this.sockets) socket.destroy()
  }

  /**
   * Holds back the next multi-read with an op on `path`, and whatever its connection sends after it,
   * until `release()`. `reached` resolves once it has arrived (nothing of it has reached the server).
   */
  holdMultiReadOf(path: string): {reached: Promise<void>; release: () => void} {
    let reached!: () => void
    let release!: () => void
    const reachedPromise = new Promise<void>((resolve) => (reached = resolve))
    const released = new Promise<void>((resolve) => (release = resolve))
    this.hold = {path, reached, released}
    return {reached: reachedPromise, release}
  }

  /** The next create of `path` (any create opcode): see LostCreate. Resolves once its connection dropped. */
  loseCreateOf(lost: LostCreate): Promise<void> {
    return new Promise((dropped) => (this.lost = {...lost, dropped}))
  }

  restore(): void {
    this.cutOff = false
  }

  private accept(client: Socket, upstreamPort: number): void {
    if (this.cutOff) {
      client.destroy()
      return
    }

    this.connections++
    const upstream = netConnect({host: '127.0.0.1', port: upstreamPort})
    const drop = () => {
      client.destroy()
      upstream.destroy()
    }

    for (const socket of [client, upstream]) {
      this.sockets.add(socket)
      socket.on('error', () => {})
      socket.on('close', () => {
        this.sockets.delete(socket)
        drop()
      })
    }

    const limit = this.options.dropMultiReadsAbove
    /** Forwarded multi-reads waiting for their answer: xid -> op count. */
    const forwarded = new Map<number, number>()
    let handshakeSeen = false
    /** A create whose answer is lost with the connection. */
    let swallow: undefined | {dropped: () => void; xid: number}
    const forward = (frame: Buffer) => {
      const type = frame.length >= 8 ? frame.readInt32BE(4) : 0
      const {lost} = this
      if (
        lost &&
        handshakeSeen &&
        CREATES.has(type) &&
        frame.toString('utf8', 12, 12 + frame.readInt32BE(8)) === lost.path
      ) {
        this.lost = undefined
        if (!lost.landed) {
          void lost.before().then(() => {
            drop()
            lost.dropped()
          })
          return
        }

        swallow = {dropped: lost.dropped, xid: frame.readInt32BE(0)}
      }

      if (handshakeSeen && type === MULTI_READ) {
        if (limit === undefined) {
          this.multiReadsRefused++
          client.end(new JuteWriter().int(frame.readInt32BE(0)).long(0n).int(ZUNIMPLEMENTED).packet())
          upstream.destroy()
          return
        }

        const count = multiReadOps(frame).length
        if (count > limit) {
          this.multiReadsDropped.push(count)
          drop()
          return
        }

        forwarded.set(frame.readInt32BE(0), count)
      }

      handshakeSeen = true
      upstream.write(framed(frame))
    }

    // Frames held back behind a multi-read (holdMultiReadOf), in order.
    let held: Buffer[] | undefined
    const requests = new FrameReader('the proxied client', (frame) => {
      if (client.destroyed) return
      if (held) {
        held.push(frame)
        return
      }

      const {hold} = this
      if (
        hold &&
        handshakeSeen &&
        frame.readInt32BE(4) === MULTI_READ &&
        multiReadOps(frame).some((op) => op.path === hold.path)
      ) {
        this.hold = undefined
        held = [frame]
        hold.reached()
        void hold.released.then(() => {
          const frames = held!
          held = undefined
          for (const next of frames) if (!client.destroyed) forward(next)
        })
        return
      }

      forward(frame)
    })
    let connected = false
    const answers = new FrameReader('the proxied server', (frame) => {
      if (client.destroyed) return
      if (!connected) {
        connected = true // the ConnectResponse
        client.write(framed(frame))
        return
      }

      const xid = frame.readInt32BE(0)
      if (swallow?.xid === xid) {
        drop()
        swallow.dropped()
        return
      }

      client.write(framed(frame))

      const count = forwarded.get(xid)
      if (count === undefined) return
      forwarded.delete(xid)
      this.multiReadsAnswered.push(count)
    })
    // What is not the protocol (a four-letter word such as srvr reads as a length over the cap) ends the connection, as a server ends it.
    const cut = (frames: FrameReader, chunk: Buffer) => {
      try {
        frames.push(chunk)
      } catch {
        drop()
      }
    }

    client.on('data', (chunk: Buffer) => cut(requests, chunk))
    upstream.on('data', (chunk: Buffer) => cut(answers, chunk))
  }
}

function framed(frame: Buffer): Buffer {
  return Buffer.concat([new JuteWriter().int(frame.length).bytes(), frame])
}
