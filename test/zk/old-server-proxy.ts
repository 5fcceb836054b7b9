/**
 * A TCP proxy in front of one real ZooKeeper node that answers like ZooKeeper 3.4 (DC/OS shipped
 * 3.4.14) to what 3.4 lacks: a multi-read (opcode 22) gets ReplyHeader(xid, 0, ZUNIMPLEMENTED) and
 * the connection is closed, as 3.4's UnimplementedRequestProcessor does (ZOOKEEPER-1495); the
 * session survives. Everything else is forwarded byte for byte. `cut()` drops every connection and
 * refuses new ones until `restore()`, for sessions that must lose their only node.
 */
import {createServer, connect as netConnect, type Server, type Socket} from 'node:net'

import {FrameReader} from '../../src/zk/wire/frames.js'
import {JuteWriter} from '../../src/zk/wire/jute.js'

const MULTI_READ = 22
const ZUNIMPLEMENTED = -6

export class OldServerProxy {
  multiReadsRefused = 0
  private cutOff = false
  private readonly sockets = new Set<Socket>()

  private constructor(
    private readonly server: Server,
    readonly port: number,
  ) {}

  static async start(upstreamPort: number): Promise<OldServerProxy> {
    let proxy: OldServerProxy | undefined
    const server = createServer((client) => proxy!.accept(client, upstreamPort))
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    const address = server.address()
    proxy = new OldServerProxy(server, typeof address === 'object' && address ? address.port : 0)
    return proxy
  }

  get host(): string {
    return `127.0.0.1:${this.port}`
  }

  cut(): void {
    this.cutOff = true
    for (const socket of this.sockets) socket.destroy()
  }

  restore(): void {
    this.cutOff = false
  }

  async close(): Promise<void> {
    this.cut()
    await new Promise<void>((resolve) => this.server.close(() => resolve()))
  }

  private accept(client: Socket, upstreamPort: number): void {
    if (this.cutOff) {
      client.destroy()
      return
    }

    const upstream = netConnect({host: '127.0.0.1', port: upstreamPort})
    for (const socket of [client, upstream]) {
      this.sockets.add(socket)
      socket.on('error', () => {})
      socket.on('close', () => {
        this.sockets.delete(socket)
        client.destroy()
        upstream.destroy()
      })
    }

    let handshakeSeen = false
    const requests = new FrameReader((frame) => {
      const type = frame.length >= 8 ? frame.readInt32BE(4) : 0
      if (handshakeSeen && type === MULTI_READ) {
        this.multiReadsRefused++
        client.end(new JuteWriter().int(frame.readInt32BE(0)).long(0n).int(ZUNIMPLEMENTED).packet())
        upstream.destroy()
        return
      }

      handshakeSeen = true
      upstream.write(Buffer.concat([new JuteWriter().int(frame.length).bytes(), frame]))
    })
    client.on('data', (chunk: Buffer) => requests.push(chunk))
    upstream.on('data', (chunk: Buffer) => client.write(chunk))
  }
}
