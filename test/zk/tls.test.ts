import {expect} from 'chai'
import {randomBytes} from 'node:crypto'
import {copyFile, writeFile} from 'node:fs/promises'
import {join} from 'node:path'

import {commandLineSecrets, redactOutput} from '../../src/cli/redact.js'
import {zkConstants} from '../../src/zk/session.js'
import {TlsFailed, type ZkTlsOptions} from '../../src/zk/tls.js'
import {WireSession} from '../../src/zk/wire/session.js'
import {Ensemble} from '../harness/ensemble.js'
import {sharedEnsemble} from '../harness/hooks.js'
import {CLIENT_X509_ID, STORE_PASSWORD, type TlsFiles, tlsFiles} from '../harness/tls.js'
import {dcos, expectExit, expectUsageError, zkUri} from '../helpers/cli.js'
import {removeDir, tempDir} from '../helpers/fixtures.js'
import {readTreeIndependently} from '../helpers/oracle.js'
import {secret, secretInput} from '../helpers/secrets.js'
import {type TlsProxy, tlsProxy} from '../helpers/tls-proxy.js'
import {uniquePath, ZOO_PERM_ALL} from '../helpers/tree.js'

const OPEN = [{id: 'anyone', perms: ZOO_PERM_ALL, scheme: 'world'}]
/** The key's path is a secret: no output may hold it (nor its content, registered once it is made). */
const KEY_NAME = secret(`client-key-${randomBytes(8).toString('hex')}.pem`)

async function rejection(promise: Promise<unknown>): Promise<Error> {
  return promise.then(
    () => expect.fail('expected a rejection'),
    (error: Error) => error,
  )
}

function expectOneLine(message: string, ...parts: Array<RegExp | string>): void {
  expect(message).not.to.include('\n')
  for (const part of parts) {
    if (typeof part === 'string') expect(message).to.include(part)
    else expect(message).to.match(part)
  }
}

describe('TLS to ZooKeeper (a 3.8 node serving only its secureClientPort, client certificates required)', function () {
  this.timeout(60_000)
  let files: TlsFiles
  let ensemble: Ensemble
  let host: string
  /** The oracle's way in: node-zookeeper-client has no TLS. */
  let oracle: TlsProxy
  let dir: string
  let keyFile: string
  let tls: ZkTlsOptions

  before(async () => {
    files = await tlsFiles()
    tls = {ca: files.ca, cert: files.clientCert, key: files.clientKey}
    for (const line of files.clientKey.toString('latin1').split('\n')) if (line.length > 40) secret(line)
    dir = await tempDir('zk-tls')
    keyFile = secretInput(join(dir, KEY_NAME))
    await copyFile(files.clientKeyFile, keyFile)
    ensemble = await Ensemble.start({
      nodes: 1,
      tls: {client: tls, keyStore: files.serverKeyStore, password: STORE_PASSWORD, trustStore: files.trustStore},
    })
    host = ensemble.secureConnectString
    oracle = await tlsProxy(ensemble.nodes[0].securePort!, tls)
  })

  /** A session over TLS with the client certificate, for `use`, closed after. */
  async function withSession(use: (session: WireSession) => Promise<void>): Promise<void> {
    const session = await WireSession.connect({connectTimeoutMs: 10_000, hosts: [host], tls})
    try {
      await use(session)
    } finally {
      await session.close()
    }
  }

  after(async () => {
    await oracle?.close()
    await ensemble?.stop()
    await removeDir(dir)
    await files?.remove()
  })

  describe('WireSession', () => {
    it('connects, writes with multi and reads with getData, getChildren and multi-read what another client reads', async () => {
      const root = uniquePath('tls-rw')
      await withSession(async (session) => {
        await session.multi([
          {acl: OPEN, kind: 'create', path: root},
          {acl: OPEN, data: Buffer.from('alpha'), kind: 'create', path: `${root}/a`},
          {acl: OPEN, data: Buffer.from('beta'), kind: 'create', path: `${root}/b`},
        ])
        expect((await session.getData(`${root}/a`)).data.toString()).to.equal('alpha')
        expect((await session.getChildren(root)).sort()).to.deep.equal(['a', 'b'])
        const [read] = await session.multiRead([{kind: 'getData', path: `${root}/b`}])
        expect(read)
          .to.have.property('data')
          .that.satisfies((data: Buffer) => data.toString() === 'beta')
      })

      const tree = await readTreeIndependently(oracle.host, root)
      expect(Object.keys(tree)).to.deep.equal(['/', '/a', '/b'])
      expect(Buffer.from(tree['/a'].data, 'base64').toString()).to.equal('alpha')
    })

    it('is the x509 identity of its client certificate to ACLs', async () => {
      const root = uniquePath('tls-x509')
      await withSession(async (session) => {
        await session.multi([
          {acl: OPEN, kind: 'create', path: root},
          {
            acl: [{id: CLIENT_X509_ID, perms: ZOO_PERM_ALL, scheme: 'x509'}],
            data: Buffer.from('ours'),
            kind: 'create',
            path: `${root}/ours`,
          },
          {
            acl: [{id: 'CN=someone-else,O=dcos-backup', perms: ZOO_PERM_ALL, scheme: 'x509'}],
            data: Buffer.from('theirs'),
            kind: 'create',
            path: `${root}/theirs`,
          },
        ])
        expect((await session.getData(`${root}/ours`)).data.toString()).to.equal('ours')
        expect(await rejection(session.getData(`${root}/theirs`))).to.have.property('code', zkConstants.ZNOAUTH)
        expect((await session.getAcl(`${root}/ours`)).acl).to.deep.equal([
          {id: CLIENT_X509_ID, perms: ZOO_PERM_ALL, scheme: 'x509'},
        ])
      })
    })

    it('without a client certificate: refused, naming the host and --zk-tls-cert', async () => {
      const error = await rejection(WireSession.connect({connectTimeoutMs: 10_000, hosts: [host], tls: {ca: files.ca}}))
      expect(error).to.be.instanceOf(TlsFailed)
      expectOneLine(error.message, `ZooKeeper at ${host} refused the TLS connection`, '--zk-tls-cert')
    })

    it('a plain connection to the TLS port fails at once, naming the host and suggesting --zk-tls-ca', async () => {
      // Told at once, not retried until the connect timeout: a retry cannot mend it.
      const error = await rejection(WireSession.connect({connectTimeoutMs: 30_000, hosts: [host]}))
      expect(error).to.be.instanceOf(TlsFailed)
      expectOneLine(error.message, `ZooKeeper at ${host} speaks TLS`, '--zk-tls-ca')
    })

    it('TLS to a plain port fails within the connect timeout, saying it closed during the TLS handshake', async () => {
      const plain = (await sharedEnsemble()).nodeConnectString(1)
      const error = await rejection(WireSession.connect({connectTimeoutMs: 1500, hosts: [plain], tls}))
      expectOneLine(
        error.message,
        `Cannot connect to ZooKeeper at ${plain}`,
        'during the TLS handshake',
        'plain clientPort',
      )
    })
  })

  describe('a node whose certificate names another host', () => {
    let wrong: Ensemble

    before(async () => {
      wrong = await Ensemble.start({
        nodes: 1,
        tls: {
          clientAuth: 'none',
          client: {ca: files.ca, servername: 'wrong.example'},
          keyStore: files.wrongNameKeyStore,
          password: STORE_PASSWORD,
          trustStore: files.trustStore,
        },
      })
    })

    after(async () => {
      await wrong?.stop()
    })

    it('WireSession refuses it: hostname verification is on', async () => {
      const error = await rejection(
        WireSession.connect({connectTimeoutMs: 10_000, hosts: [wrong.secureConnectString], tls: {ca: files.ca}}),
      )
      expect(error).to.be.instanceOf(TlsFailed)
      expectOneLine(
        error.message,
        `The TLS certificate of ZooKeeper at ${wrong.secureConnectString} is not valid for that name`,
        '127.0.0.1',
      )
    })

    it('dcos cluster status: not healthy, saying the certificate does not name the host', async () => {
      const result = expectExit(
        await dcos(['cluster', 'status', '--zk', wrong.secureConnectString, '--zk-tls-ca', files.caFile]),
        1,
      )
      expect(result.stdout).to.include('is not valid for that name')
    })

    it('--zk-tls-skip-hostname-check (DCOS_ZK_TLS_SKIP_HOSTNAME_CHECK) accepts it; the CA is still checked', async () => {
      const session = await WireSession.connect({
        connectTimeoutMs: 10_000,
        hosts: [wrong.secureConnectString],
        tls: {ca: files.ca, skipHostnameCheck: true},
      })
      await session.close()
      const untrusted = await rejection(
        WireSession.connect({
          connectTimeoutMs: 10_000,
          hosts: [wrong.secureConnectString],
          tls: {skipHostnameCheck: true},
        }),
      )
      expect(untrusted.message).to.include('is not trusted')
      const args = ['cluster', 'status', '--zk', wrong.secureConnectString, '--zk-tls-ca', files.caFile]
      expectExit(await dcos([...args, '--zk-tls-skip-hostname-check']), 0)
      expectExit(await dcos(args, {env: {DCOS_ZK_TLS_SKIP_HOSTNAME_CHECK: 'true'}}), 0)
    })
  })

  describe('dcos cluster status', () => {
    it('asks srvr over TLS with --zk-tls-ca, --zk-tls-cert and --zk-tls-key: healthy', async () => {
      const result = expectExit(
        await dcos([
          'cluster',
          'status',
          '--zk',
          host,
          '--zk-tls-ca',
          files.caFile,
          '--zk-tls-cert',
          files.clientCertFile,
          '--zk-tls-key',
          keyFile,
        ]),
        0,
      )
      expect(result.stdout).to.include(`healthy: standalone server ${host} serving`)
    })

    it('takes them from DCOS_ZK_TLS_CA, DCOS_ZK_TLS_CERT and DCOS_ZK_TLS_KEY', async () => {
      const env = {DCOS_ZK_TLS_CA: files.caFile, DCOS_ZK_TLS_CERT: files.clientCertFile, DCOS_ZK_TLS_KEY: keyFile}
      const result = expectExit(await dcos(['cluster', 'status', '--zk', host, '--json'], {env}), 0)
      expect(JSON.parse(result.stdout)).to.include({healthy: true})
    })

    it('without them: not healthy, the node named as speaking TLS and --zk-tls-ca suggested', async () => {
      const result = expectExit(await dcos(['cluster', 'status', '--zk', host]), 1)
      expect(result.stdout).to.match(
        new RegExp(`not healthy: ${host} is unreachable \\(ZooKeeper at ${host} speaks TLS .*--zk-tls-ca`),
      )
    })
  })

  describe('dcos zk backup and restore', () => {
    it('back up and restore over TLS, the restored tree read back by the oracle', async () => {
      const root = uniquePath('tls-cli')
      await withSession(async (session) => {
        await session.multi([
          {acl: OPEN, kind: 'create', path: root},
          {acl: OPEN, data: Buffer.from('one'), kind: 'create', path: `${root}/one`},
          {
            acl: [{id: CLIENT_X509_ID, perms: ZOO_PERM_ALL, scheme: 'x509'}],
            data: Buffer.from('two'),
            kind: 'create',
            path: `${root}/two`,
          },
        ])
      })

      const tlsArgs = ['--zk-tls-ca', files.caFile, '--zk-tls-cert', files.clientCertFile, '--zk-tls-key', keyFile]
      const archive = join(dir, 'tls-cli.tar.gz')
      expectExit(await dcos(['zk', 'backup', archive, '--zk', zkUri(host, root), ...tlsArgs]), 0)
      expectExit(
        await dcos([
          'zk',
          'restore',
          archive,
          '--zk',
          zkUri(host, `${root}-restored`),
          '--no-safety-backup',
          '--yes',
          ...tlsArgs,
        ]),
        0,
      )
      expect(await readTreeIndependently(oracle.host, `${root}-restored`)).to.deep.equal(
        await readTreeIndependently(oracle.host, root),
      )
    })
  })

  describe('the flags', () => {
    it('--zk-tls-skip-hostname-check without TLS: exit 2', async () => {
      expectUsageError(
        await dcos(['cluster', 'status', '--zk', host, '--zk-tls-skip-hostname-check']),
        '--zk-tls-skip-hostname-check is for TLS',
      )
    })

    it('--zk-tls-cert without --zk-tls-key: exit 2, nothing connected', async () => {
      expectUsageError(
        await dcos(['cluster', 'status', '--zk', host, '--zk-tls-cert', files.clientCertFile]),
        '--zk-tls-cert and --zk-tls-key go together',
      )
    })

    it('an unreadable --zk-tls-key: exit 2, without its path', async () => {
      const line = expectUsageError(
        await dcos([
          'cluster',
          'status',
          '--zk',
          host,
          '--zk-tls-cert',
          files.clientCertFile,
          '--zk-tls-key',
          join(dir, 'missing', KEY_NAME),
        ]),
        'Cannot read the file of --zk-tls-key: ENOENT',
      )
      expect(line).not.to.include(KEY_NAME)
    })

    it('a --zk-tls-key (from DCOS_ZK_TLS_KEY) that is no key: exit 2, without its path or content', async () => {
      const notAKey = secretInput(join(dir, `not-${KEY_NAME}`))
      await writeFile(notAKey, files.clientCert)
      const env = {DCOS_ZK_TLS_CERT: files.clientCertFile, DCOS_ZK_TLS_KEY: notAKey}
      expectUsageError(
        await dcos(['cluster', 'status', '--zk', host], {env}),
        'The file of --zk-tls-key holds no PEM private key',
      )
    })

    it('a key that does not match the certificate: exit 2, saying so', async () => {
      const result = await dcos([
        'cluster',
        'status',
        '--zk',
        host,
        '--zk-tls-cert',
        files.serverCertFile,
        '--zk-tls-key',
        keyFile,
      ])
      expectUsageError(result, /^Error: Cannot use --zk-tls-cert with --zk-tls-key: key values mismatch/)
    })

    it('a --zk-tls-ca that holds no certificate: exit 2, naming the flag and the file', async () => {
      const notACa = join(dir, 'not-a-ca.pem')
      await writeFile(notACa, 'hello\n')
      expectUsageError(
        await dcos(['cluster', 'status', '--zk', host, '--zk-tls-ca', notACa]),
        `--zk-tls-ca ${notACa} holds no PEM certificate`,
      )
    })

    it('dcos backup serve takes them too: a certificate without its key is refused before it serves', async () => {
      expectUsageError(
        await dcos([
          'backup',
          'serve',
          '--storage',
          join(dir, 'storage'),
          '--zk',
          host,
          '--zk-tls-cert',
          files.clientCertFile,
        ]),
        '--zk-tls-cert and --zk-tls-key go together',
      )
    })

    it('the key path is a secret of the command line (flag and environment); a private key block never shows', () => {
      const secrets = commandLineSecrets(['--zk-tls-key', '/run/a-key.pem', '--zk-tls-key=/run/b-key.pem'], {
        DCOS_ZK_TLS_KEY: '/run/c-key.pem',
      })
      expect(secrets).to.include.members(['/run/a-key.pem', '/run/b-key.pem', '/run/c-key.pem'])
      const pem = files.clientKey.toString('latin1').trim()
      expect(redactOutput(`before ${pem} after`)).to.equal('before *** after')
      expect(redactOutput(`cut ${pem.slice(0, 200)}`)).to.equal('cut ***')
    })

    it('DEBUG output of a failed command holds neither the key path nor its content', async () => {
      const result = await dcos(
        [
          'zk',
          'backup',
          join(dir, 'never.tar.gz'),
          '--zk',
          zkUri('127.0.0.1:1', '/x'),
          '--session-timeout',
          '1',
          '--zk-tls-ca',
          files.caFile,
          '--zk-tls-cert',
          files.clientCertFile,
          '--zk-tls-key',
          keyFile,
        ],
        {env: {DEBUG: '*'}},
      )
      expectExit(result, 1)
      expect(result.stderr).to.include('--zk-tls-key')
      for (const output of [result.stdout, result.stderr]) {
        expect(output).not.to.include(KEY_NAME)
        expect(output).not.to.include('PRIVATE KEY')
      }
    })
  })
})
