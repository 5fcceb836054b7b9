/**
 * Test harness: a CA and the certificates a TLS ZooKeeper test needs, made once per test run with
 * openssl, plus the PKCS12 key and trust stores ZooKeeper reads (made with openssl and keytool).
 *
 *   ca.pem                       the CA (trusted by the server's trust store and by our client)
 *   server.pem/.key, server.p12  SAN 127.0.0.1 and localhost: the node's certificate
 *   wrong-name.p12               SAN wrong.example only, signed by the same CA (hostname verification)
 *   client.pem/.key              CN=dcos-backup-client,O=dcos-backup: the x509 identity
 *   trust.p12                    the CA as a trusted-certificate entry (keytool -importcert)
 */
import {execFile} from 'node:child_process'
import {mkdtemp, readFile, rm, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {promisify} from 'node:util'

const run = promisify(execFile)

export const STORE_PASSWORD = 'harness-store-pass'
/** The client certificate's subject as ZooKeeper's X509AuthenticationProvider names it (RFC 2253). */
export const CLIENT_X509_ID = 'CN=dcos-backup-client,O=dcos-backup'

export interface TlsFiles {
  /** PEM contents, for WireSession's tls option. */
  ca: Buffer
  caFile: string
  clientCert: Buffer
  clientCertFile: string
  clientKey: Buffer
  clientKeyFile: string
  dir: string
  remove(): Promise<void>
  serverCertFile: string
  serverKeyStore: string
  trustStore: string
  wrongNameKeyStore: string
}

let made: Promise<TlsFiles> | undefined

/** The run's certificates, made on first use; remove() deletes them (the next call makes new ones). */
export function tlsFiles(): Promise<TlsFiles> {
  made ??= makeTlsFiles()
  return made
}

async function makeTlsFiles(): Promise<TlsFiles> {
  const dir = await mkdtemp(join(tmpdir(), 'zk-tls-'))
  const file = (name: string) => join(dir, name)
  await makeCa(dir, 'ca', 'dcos-backup test CA')
  await makeCert(dir, 'server', 'ca', '/O=dcos-backup/CN=localhost', 'subjectAltName=IP:127.0.0.1,DNS:localhost')
  await makeCert(dir, 'wrong-name', 'ca', '/O=dcos-backup/CN=wrong.example', 'subjectAltName=DNS:wrong.example')
  await makeCert(dir, 'client', 'ca', '/O=dcos-backup/CN=dcos-backup-client', 'extendedKeyUsage=clientAuth')
  for (const name of ['server', 'wrong-name']) {
    await run('openssl', [
      'pkcs12',
      '-export',
      '-in',
      file(`${name}.pem`),
      '-inkey',
      file(`${name}.key`),
      '-name',
      name,
      '-out',
      file(`${name}.p12`),
      '-passout',
      `pass:${STORE_PASSWORD}`,
    ])
  }

  await run('keytool', [
    '-importcert',
    '-noprompt',
    '-alias',
    'ca',
    '-file',
    file('ca.pem'),
    '-keystore',
    file('trust.p12'),
    '-storetype',
    'PKCS12',
    '-storepass',
    STORE_PASSWORD,
  ])
  return {
    ca: await readFile(file('ca.pem')),
    caFile: file('ca.pem'),
    clientCert: await readFile(file('client.pem')),
    clientCertFile: file('client.pem'),
    clientKey: await readFile(file('client.key')),
    clientKeyFile: file('client.key'),
    dir,
    async remove() {
      made = undefined
      await rm(dir, {force: true, recursive: true})
    },
    serverCertFile: file('server.pem'),
    serverKeyStore: file('server.p12'),
    trustStore: file('trust.p12'),
    wrongNameKeyStore: file('wrong-name.p12'),
  }
}

async function makeCa(dir: string, name: string, cn: string): Promise<void> {
  await run('openssl', [
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-days',
    '2',
    '-subj',
    `/CN=${cn}`,
    '-keyout',
    join(dir, `${name}.key`),
    '-out',
    join(dir, `${name}.pem`),
  ])
}

async function makeCert(dir: string, name: string, ca: string, subject: string, extension: string): Promise<void> {
  const file = (suffix: string) => join(dir, `${name}${suffix}`)
  await run('openssl', [
    'req',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-subj',
    subject,
    '-keyout',
    file('.key'),
    '-out',
    file('.csr'),
  ])
  await writeFile(file('.ext'), `${extension}\n`)
  await run('openssl', [
    'x509',
    '-req',
    '-days',
    '2',
    '-in',
    file('.csr'),
    '-CA',
    join(dir, `${ca}.pem`),
    '-CAkey',
    join(dir, `${ca}.key`),
    '-CAcreateserial',
    '-extfile',
    file('.ext'),
    '-out',
    file('.pem'),
  ])
}
