import {Flags} from '@oclif/core'
import {readFileSync} from 'node:fs'
import {createSecureContext} from 'node:tls'

import type {ZkTlsOptions} from '../zk/tls.js'

import {errorMessage, UsageError} from '../errors.js'

/** TLS to ZooKeeper's secureClientPort; each also from the environment, as --zk-auth is. */
export const zkTlsFlags = {
  'zk-tls-ca': Flags.string({
    description:
      "PEM file of the CA(s) that signed the ZooKeeper servers' certificates: connect over TLS (to their secureClientPort). Each server's certificate must name the host connected to.",
    env: 'DCOS_ZK_TLS_CA',
  }),
  'zk-tls-cert': Flags.string({
    description:
      'PEM file of a client certificate, for x509 authentication to ZooKeeper over TLS (with --zk-tls-key). Without --zk-tls-ca the system CAs are trusted.',
    env: 'DCOS_ZK_TLS_CERT',
  }),
  'zk-tls-key': Flags.string({
    description:
      'PEM file of the private key of --zk-tls-cert (unencrypted). Its path and content never appear in any output.',
    env: 'DCOS_ZK_TLS_KEY',
  }),
  'zk-tls-skip-hostname-check': Flags.boolean({
    description:
      'Over TLS, accept a server certificate signed by a trusted CA that does not name the host connected to (the chain is still verified).',
    env: 'DCOS_ZK_TLS_SKIP_HOSTNAME_CHECK',
  }),
}

export const ZK_TLS_FLAG_NAMES = Object.keys(zkTlsFlags)

export interface ZkTlsFlagValues {
  'zk-tls-ca'?: string
  'zk-tls-cert'?: string
  'zk-tls-key'?: string
  'zk-tls-skip-hostname-check'?: boolean
}

/** The TLS options of the flags, read and checked before anything connects; undefined without them. */
export function zkTlsOptions(flags: ZkTlsFlagValues): undefined | ZkTlsOptions {
  const {'zk-tls-ca': caFile, 'zk-tls-cert': certFile, 'zk-tls-key': keyFile} = flags
  const skipHostnameCheck = flags['zk-tls-skip-hostname-check'] === true
  if (caFile === undefined && certFile === undefined && keyFile === undefined) {
    if (skipHostnameCheck)
      throw new UsageError(
        '--zk-tls-skip-hostname-check is for TLS: pass --zk-tls-ca (or --zk-tls-cert and --zk-tls-key) too',
      )
    return undefined
  }

  if ((certFile === undefined) !== (keyFile === undefined)) {
    throw new UsageError(
      '--zk-tls-cert and --zk-tls-key go together (DCOS_ZK_TLS_CERT and DCOS_ZK_TLS_KEY): pass both, or neither',
    )
  }

  const ca = caFile === undefined ? undefined : readPem(caFile, '--zk-tls-ca', 'CERTIFICATE')
  const cert = certFile === undefined ? undefined : readPem(certFile, '--zk-tls-cert', 'CERTIFICATE')
  const key = keyFile === undefined ? undefined : readKey(keyFile)
  try {
    createSecureContext({ca, cert, key})
  } catch (error) {
    // OpenSSL's reason ("key values mismatch") names no file and shows no content.
    throw new UsageError(
      `Cannot use ${cert ? '--zk-tls-cert with --zk-tls-key' : '--zk-tls-ca'}: ${openSslReason(error)}`,
    )
  }

  return {ca, cert, key, skipHostnameCheck}
}

function readPem(file: string, flag: string, label: string): Buffer {
  let pem: Buffer
  try {
    pem = readFileSync(file)
  } catch (error) {
    throw new UsageError(`Cannot read ${flag} ${file}: ${errorMessage(error)}`)
  }

  if (!pem.includes(`-----BEGIN ${label}-----`))
    throw new UsageError(`${flag} ${file} holds no PEM ${label.toLowerCase()} (-----BEGIN ${label}-----)`)
  return pem
}

/** As readPem, but no message names the file or quotes it: the key's path is a secret too. */
function readKey(file: string): Buffer {
  let pem: Buffer
  try {
    pem = readFileSync(file)
  } catch (error) {
    throw new UsageError(
      `Cannot read the file of --zk-tls-key: ${(error as NodeJS.ErrnoException).code ?? 'unreadable'}`,
    )
  }

  if (!/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(pem.toString('latin1'))) {
    throw new UsageError(
      'The file of --zk-tls-key holds no PEM private key (-----BEGIN PRIVATE KEY-----); an encrypted key is not supported',
    )
  }

  return pem
}

function openSslReason(error: unknown): string {
  const message = errorMessage(error)
  return /::([^:]+)$/.exec(message.trim())?.[1] ?? message
}
