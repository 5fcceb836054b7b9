/**
 * A local plain port in front of a TLS one: each connection to it is carried over its own TLS
 * connection (Node's tls, none of our code) to the target. It lets the oracle client, which has no
 * TLS, read a secureClientPort, presenting `options`' client certificate as its identity.
 */
import {type AddressInfo, createServer, type Socket} from 'node:net'
import {connect, type ConnectionOptions} from 'node:tls'

export interface TlsProxy {
  close(): Promise<void>
  /** "127.0.0.1:port" to give the oracle. */
  host: string
}

export async function tlsProxy(targetPort: number, options: ConnectionOptions): Promise<TlsProxy> {
  const sockets = new Set<Socket>()
  const server = createServer((plain) => {
    const secure = connect({...options, host: '127.0.0.1', port: targetPort})
    for (const socket of [plain, secure]) {
      sockets.add(socket)
      socket.on('error', () => {})
      socket.on('close', () => {
        sockets.delete(socket)
        plain.destroy()
        secure.destroy()
      })
    }

    plain.pipe(secure)
    secure.pipe(plain)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {
    close() {
      for (const socket of sockets) socket.destroy()
      return new Promise((resolve) => server.close(() => resolve()))
    },
    host: `127.0.0.1:${(server.address() as AddressInfo).port}`,
  }
}
