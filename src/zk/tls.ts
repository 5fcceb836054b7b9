import {connect as netConnect, type Socket} from 'node:net'
import {connect as tlsConnect} from 'node:tls'

import {OperationError} from '../errors.js'

/**
 * TLS to a ZooKeeper secureClientPort: PEM contents, never paths. `ca` replaces the system CAs;
 * `cert` and `key` authenticate this client (the server's x509 scheme). The server's certificate
 * must name the host connected to.
 */
export interface ZkTlsOptions {
  ca?: Buffer
  cert?: Buffer
  key?: Buffer
  /** Accept a trusted certificate that does not name the host (ZooKeeper's ssl.hostnameVerification=false). */
  skipHostnameCheck?: boolean
}

/** A TLS failure that another try cannot mend: a certificate refused on either side, or TLS where there is none. */
export class TlsFailed extends OperationError {}

/** A socket to name:port, over TLS when `tls` is given; write once `ready` has fired. */
export function openSocket(
  name: string,
  port: number,
  tls?: ZkTlsOptions,
): {ready: 'connect' | 'secureConnect'; socket: Socket} {
  if (!tls) return {ready: 'connect', socket: netConnect({host: name, noDelay: true, port})}
  // Node's checkServerIdentity unless told otherwise: the certificate must hold the host name or IP address.
  const identity = tls.skipHostnameCheck ? {checkServerIdentity: () => undefined} : {}
  const socket = tlsConnect({ca: tls.ca, cert: tls.cert, host: name, key: tls.key, port, ...identity})
  socket.setNoDelay(true)
  return {ready: 'secureConnect', socket}
}

const UNTRUSTED = new Set([
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
])

/**
 * The failure of a TLS connection to `host` as one line, when `error` is one of TLS; a refused
 * certificate is a TlsFailed. Undefined for errors TLS has nothing to do with.
 */
export function tlsFailure(
  host: string,
  error: (Error & {code?: string; reason?: string}) | undefined,
  secured: boolean,
): Error | undefined {
  const code = error?.code ?? ''
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID') {
    return new TlsFailed(
      `The TLS certificate of ZooKeeper at ${host} is not valid for that name (${error?.reason ?? 'hostname mismatch'}): connect by a name or address the certificate holds, or pass --zk-tls-skip-hostname-check`,
    )
  }

  if (UNTRUSTED.has(code))
    return new TlsFailed(
      `The TLS certificate of ZooKeeper at ${host} is not trusted (${error?.message}): check --zk-tls-ca`,
    )
  if (/^ERR_SSL_.*ALERT/.test(code)) {
    // OpenSSL's message spans lines and names its source files; the alert's name is what matters.
    const alert = /alert ([a-z ]+?)(?::|$)/m.exec(error?.message ?? '')?.[1] ?? code
    return new TlsFailed(
      `ZooKeeper at ${host} refused the TLS connection (alert: ${alert}): it may require a client certificate signed by a CA it trusts (--zk-tls-cert and --zk-tls-key)`,
    )
  }

  if (!secured && (code === 'ECONNRESET' || /before secure TLS connection/.test(error?.message ?? ''))) {
    return new Error(
      `the connection to ${host} closed during the TLS handshake: if that is a plain clientPort, use the node's secureClientPort or drop --zk-tls-*`,
    )
  }

  return undefined
}

/** The error for a plain connection to a TLS port, as a TlsFailed. */
export function speaksTlsError(host: string): TlsFailed {
  return new TlsFailed(
    `ZooKeeper at ${host} speaks TLS (a secureClientPort): pass --zk-tls-ca <pem> (and --zk-tls-cert/--zk-tls-key if it requires client certificates)`,
  )
}

/**
 * Whether name:port answers a TLS ClientHello like a TLS server (a handshake, or an alert such as
 * a refused client certificate), within `timeoutMs`. Asked after a plain connection got no answer:
 * ZooKeeper's secure port closes it without a word.
 */
export function speaksTls(name: string, port: number, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    // Only a probe: nothing is sent past the handshake, so its certificate need not be trusted.
    const socket = tlsConnect({host: name, port, rejectUnauthorized: false})
    const done = (answer: boolean) => {
      clearTimeout(timer)
      socket.destroy()
      resolve(answer)
    }

    const timer = setTimeout(() => done(false), timeoutMs)
    socket.once('secureConnect', () => done(true))
    socket.once('error', (error: Error & {code?: string}) => done(/^ERR_SSL_.*ALERT/.test(error.code ?? '')))
    socket.once('close', () => done(false))
  })
}
