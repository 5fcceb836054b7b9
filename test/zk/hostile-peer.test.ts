/**
 * The wire client against peers that break the protocol: fake servers on loopback (node:net, real
 * sockets) that declare packets larger than the cap, or answer with a malformed record.
 */
import {expect} from 'chai'
import * as net from 'node:net'

import {JuteWriter} from '../../src/jute/writer.js'
import {ZkSession} from '../../src/zk/session.js'
import {MAX_PACKET_BYTES} from '../../src/zk/wire/frames.js'
import {ProtocolError} from '../../src/zk/wire/protocol.js'
import {WireSession} from '../../src/zk/wire/session.js'
import {rejection} from '../helpers/streams.js'
import {eventually} from '../helpers/wait.js'

/** What a fake server does with each connection once the client's first bytes (its ConnectRequest) arrived. */
type Script = (socket: net.Socket, request: number) => void

interface FakeServer {
  /** Bytes the server had written to each connection (sent, or queued behind a full socket) when it closed: a bound on what the client buffered. */
  accepted: number[]
  close(): Promise<void>
  host: string
}

async function fakeServer(script: Script): Promise<FakeServer> {
  const sockets = new Set<net.Socket>()
  const accepted: number[] = []
  const server = net.createServer((socket) => {
    sockets.add(socket)
    let requests = 0
    socket.on('data', () => script(socket, requests++))
    socket.on('error', () => {})
    socket.on('close', () => accepted.push(socket.bytesWritten))
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {
    accepted,
    close() {
      for (const socket of sockets) socket.destroy()
      return new Promise((resolve) => server.close(() => resolve()))
    },
    host: `127.0.0.1:${(server.address() as net.AddressInfo).port}`,
  }
}

const CHUNK = Buffer.alloc(1 << 20, 0x5a)

/** Declares a packet of `length` bytes, then sends up to `limit` bytes of it while the client keeps reading. */
function declareAndStream(socket: net.Socket, length: number, limit: number): void {
  socket.write(new JuteWriter().int(length).bytes())
  let sent = 0
  const more = () => {
    while (sent < limit && !socket.destroyed) {
      sent += CHUNK.length
      if (!socket.write(CHUNK)) {
        socket.once('drain', more)
        return
      }
    }
  }

  more()
}

function connectResponse(): Buffer {
  return new JuteWriter().int(0).int(10_000).long(0x12_34n).buffer(Buffer.alloc(16)).bool(false).packet()
}

describe('ZooKeeper wire client: a peer that breaks the protocol (fake servers on loopback)', function () {
  this.timeout(60_000)
  // More than the cap: without one, the client would take all of it in and wait for the rest.
  const STREAMED = MAX_PACKET_BYTES + (32 << 20)

  it('drops a handshake answer declaring 2 GiB at its length, on one line naming the length and the cap', async () => {
    const server = await fakeServer((socket, request) => {
      if (request === 0) declareAndStream(socket, 0x7f_ff_ff_ff, STREAMED)
    })
    try {
      const error = await rejection(WireSession.connect({connectTimeoutMs: 10_000, hosts: [server.host]}))
      // One connection, dropped before the server could push even a quarter of the cap through the sockets' buffers.
      await eventually(
        'the connection to close',
        async () => (server.accepted.length > 0 ? true : undefined),
        20_000,
        10,
      )
      expect(server.accepted[0]).to.be.below(MAX_PACKET_BYTES / 4)
      expect(error).to.be.instanceOf(ProtocolError)
      expect(error.message).to.equal(
        `${server.host} declared a packet of 2147483647 bytes, more than the cap of ${MAX_PACKET_BYTES} bytes: check that it is a ZooKeeper client port`,
      )
    } finally {
      await server.close()
    }
  })

  it('fails the requests in flight with the error, not as a lost connection to re-send, when an answer is over the cap', async () => {
    const server = await fakeServer((socket, request) => {
      if (request === 0) socket.write(connectResponse())
      else if (request === 1) declareAndStream(socket, MAX_PACKET_BYTES + 1, STREAMED)
    })
    try {
      const session = await WireSession.connect({connectTimeoutMs: 10_000, hosts: [server.host]})
      try {
        const error = await rejection(session.getData('/big'))
        await eventually(
          'the connection to close',
          async () => (server.accepted.length > 0 ? true : undefined),
          20_000,
          10,
        )
        expect(server.accepted[0]).to.be.below(MAX_PACKET_BYTES / 4)
        expect(error).to.be.instanceOf(ProtocolError)
        expect(error.message).to.equal(
          `${server.host} declared a packet of ${MAX_PACKET_BYTES + 1} bytes, more than the cap of ${MAX_PACKET_BYTES} bytes: check that it is a ZooKeeper client port`,
        )
      } finally {
        session.abandon()
      }
    } finally {
      await server.close()
    }
  })

  it('says so when the port answers in HTTP, through the session the commands open', async () => {
    const server = await fakeServer((socket) => socket.end('HTTP/1.1 400 Bad Request\r\n\r\n'))
    try {
      const error = await rejection(ZkSession.connect({connectTimeoutMs: 10_000, hosts: [server.host]}))
      expect(error.message).to.match(
        /^127\.0\.0\.1:\d+ declared a packet of 1213486160 bytes, .* \(its answer is HTTP: is that the AdminServer port\?\): check that it is a ZooKeeper client port$/,
      )
    } finally {
      await server.close()
    }
  })

  it('fails a malformed handshake answer as a protocol error naming the server and the offset', async () => {
    // A ConnectResponse cut inside its session id.
    const server = await fakeServer((socket) => socket.write(new JuteWriter().int(0).int(10_000).int(7).packet()))
    try {
      const error = await rejection(WireSession.connect({connectTimeoutMs: 10_000, hosts: [server.host]}))
      expect(error).to.be.instanceOf(ProtocolError)
      expect(error.message).to.equal(`the answer of ${server.host} at byte 8: truncated: a long needs 8 bytes, 4 left`)
    } finally {
      await server.close()
    }
  })
})
