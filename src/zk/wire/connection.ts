import type {Socket} from 'node:net'

import {JuteReader} from '../../jute/reader.js'
import {openSocket, speaksTls, speaksTlsError, tlsFailure, type ZkTlsOptions} from '../tls.js'
import {FrameReader} from './frames.js'
import {
  type ConnectResponse,
  ProtocolError,
  protocolFailure,
  readConnectResponse,
  readReplyHeader,
  type ReplyHeader,
} from './protocol.js'

/** Why a connection ended: the socket closed or failed, or the node stopped answering. */
export class ConnectionClosed extends Error {}

/**
 * One TCP connection to one node, past the handshake. Sends packets (writes of one event-loop
 * turn go out together) and hands every answer to `onReply`.
 */
export class Connection {
  lastReceived = Date.now()
  private closedWith?: Error
  private corked = false

  private constructor(
    private readonly socket: Socket,
    readonly host: string,
    private readonly onReply: (header: ReplyHeader, reader: JuteReader) => void,
    private readonly onClose: (error: Error) => void,
  ) {}

  /** Connects (over TLS with `tls`) and exchanges ConnectRequest and ConnectResponse within `timeoutMs`. */
  static open(
    host: string,
    handshake: Buffer,
    timeoutMs: number,
    onReply: (header: ReplyHeader, reader: JuteReader) => void,
    onClose: (error: Error) => void,
    tls?: ZkTlsOptions,
  ): Promise<{connection: Connection; response: ConnectResponse}> {
    const [name, port] = splitHost(host)
    const deadline = Date.now() + timeoutMs
    const {ready, socket} = openSocket(name, port, tls)
    return new Promise((resolve, reject) => {
      let connection: Connection | undefined
      let failure: Error | undefined
      let sent = false
      let received = false
      const timer = setTimeout(
        () => socket.destroy(new ConnectionClosed(`no answer from ${host} within ${timeoutMs} ms`)),
        timeoutMs,
      )
      const frames = new FrameReader(host, (frame) => {
        const reader = new JuteReader(frame, `the answer of ${host}`, protocolFailure)
        if (connection) {
          connection.lastReceived = Date.now()
          connection.onReply(readReplyHeader(reader), reader)
          return
        }

        const response = readConnectResponse(reader) // a malformed one fails before the connection is taken as open
        clearTimeout(timer)
        connection = new Connection(socket, host, onReply, onClose)
        resolve({connection, response})
      })
      socket.on('data', (chunk: Buffer) => {
        received = true
        try {
          frames.push(chunk)
        } catch (error) {
          if (connection) connection.destroy(error as Error)
          else socket.destroy(error as Error)
        }
      })
      socket.once(ready, () => {
        sent = true
        socket.write(handshake)
      })
      socket.on('error', (error) => {
        failure ??= error // reported by 'close'
      })
      socket.once('close', () => {
        clearTimeout(timer)
        const closed = new ConnectionClosed(`the connection to ${host} closed`)
        if (connection) {
          connection.onClose(connection.closedWith ?? closed)
          return
        }

        const refused = tls ? tlsFailure(host, failure, sent) : undefined
        const error =
          refused ?? (failure instanceof ConnectionClosed || failure instanceof ProtocolError ? failure : closed)
        // A secureClientPort closes a plain connection cleanly without a word; so does a node not serving yet.
        if (tls || !sent || received || failure) reject(error)
        else
          void speaksTls(name, port, Math.max(250, deadline - Date.now())).then((yes) =>
            reject(yes ? speaksTlsError(host) : error),
          )
      })
    })
  }

  /** Drops the connection; `onClose` gets `reason`. */
  destroy(reason: Error): void {
    this.closedWith ??= reason
    this.socket.destroy()
  }

  send(packet: Buffer): void {
    if (!this.corked) {
      this.corked = true
      this.socket.cork()
      process.nextTick(() => {
        this.corked = false
        this.socket.uncork()
      })
    }

    this.socket.write(packet)
  }
}

function splitHost(host: string): [string, number] {
  const at = host.lastIndexOf(':')
  return at === -1 ? [host, 2181] : [host.slice(0, at).replaceAll(/^\[|]$/g, ''), Number(host.slice(at + 1))]
}
