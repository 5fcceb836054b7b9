import {expect} from 'chai'
import {join} from 'node:path'

import {commandLineSecrets} from '../../src/cli/redact.js'
import {zkConstants} from '../../src/zk/session.js'
import {DigestMd5Client, parseDirectives} from '../../src/zk/wire/sasl.js'
import {AuthFailed, WireSession} from '../../src/zk/wire/session.js'
import {Ensemble} from '../harness/ensemble.js'
import {dcos, expectExit, expectUsageError, zkUri} from '../helpers/cli.js'
import {removeDir, tempDir} from '../helpers/fixtures.js'
import {archiveAsOracleTree, withOracleClient} from '../helpers/oracle.js'
import {secret} from '../helpers/secrets.js'
import {uniquePath, ZOO_PERM_ALL} from '../helpers/tree.js'

const PASSWORD = secret('sasl-pass-7c1e9b02')
const OPEN = [{id: 'anyone', perms: ZOO_PERM_ALL, scheme: 'world'}]

describe('SASL DIGEST-MD5 (wire client)', function () {
  this.timeout(60_000)

  it("answers RFC 2831's example challenge as the RFC does, and checks its rspauth", () => {
    const challenge = 'realm="elwood.innosoft.com",nonce="OA6MG9tEQGm2hh",qop="auth",algorithm=md5-sess,charset=utf-8'
    const client = new DigestMd5Client('chris', 'secret', 'OA6MHXh6VqTrRk', 'imap/elwood.innosoft.com')
    const response = parseDirectives(client.respond(Buffer.from(challenge)).toString())
    expect(response).to.include({
      cnonce: 'OA6MHXh6VqTrRk',
      nc: '00000001',
      qop: 'auth',
      response: 'd388dad90d4bbd760a152321f2143af7',
      username: 'chris',
    })
    expect(client.verify(Buffer.from('rspauth=ea40f60335c427b5527b84dbabcdfffd'))).to.equal(true)
    expect(client.verify(Buffer.from('rspauth=00000000000000000000000000000000'))).to.equal(false)
  })

  describe('against a 3.8 node with a DigestLoginModule user', () => {
    let ensemble: Ensemble
    let host: string

    before(async () => {
      ensemble = await Ensemble.start({nodes: 1, saslUsers: {backup: PASSWORD}})
      host = ensemble.connectString
    })

    after(async () => {
      await ensemble?.stop()
    })

    /** Creates `path` and `path`/private, readable by sasl:backup only, through a session as that user (returned open). */
    async function seedPrivate(path: string): Promise<WireSession> {
      const session = await WireSession.connect({
        connectTimeoutMs: 10_000,
        hosts: [host],
        sasl: {password: PASSWORD, user: 'backup'},
      })
      await session.multi([
        {acl: OPEN, kind: 'create', path},
        {
          acl: [{id: 'backup', perms: ZOO_PERM_ALL, scheme: 'sasl'}],
          data: Buffer.from('only backup'),
          kind: 'create',
          path: `${path}/private`,
        },
      ])
      return session
    }

    it('is sasl:<user> to ACLs: reads what only that user may, which a client without SASL may not', async () => {
      const path = uniquePath('sasl')
      const session = await seedPrivate(path)
      try {
        expect((await session.getData(`${path}/private`)).data.toString()).to.equal('only backup')
      } finally {
        await session.close()
      }

      const denied = await withOracleClient(
        host,
        undefined,
        (client) => new Promise<unknown>((resolve) => client.getData(`${path}/private`, (error) => resolve(error))),
      )
      expect(denied).to.have.nested.property('code', zkConstants.ZNOAUTH)
    })

    it('a wrong password: refused at once, one line naming the user and not the password', async () => {
      const error = await WireSession.connect({
        connectTimeoutMs: 30_000,
        hosts: [host],
        sasl: {password: `${PASSWORD}-wrong`, user: 'backup'},
      }).then(
        () => expect.fail('expected a refusal'),
        (error_: Error) => error_,
      )
      expect(error).to.be.instanceOf(AuthFailed)
      expect(error.message).to.match(
        new RegExp(`^ZooKeeper at ${host} refused the SASL DIGEST-MD5 credentials of user backup \\(ZAUTHFAILED\\)$`),
      )
      expect(error.message).not.to.include(PASSWORD)
    })

    it('dcos zk backup --zk-sasl reads a znode only that user may read', async () => {
      const path = uniquePath('sasl-cli')
      await (await seedPrivate(path)).close()

      const dir = await tempDir('zk-sasl')
      try {
        const archive = join(dir, 'sasl.tar.gz')
        expectExit(
          await dcos(['zk', 'backup', archive, '--zk', zkUri(host, path)], {env: {DCOS_ZK_SASL: `backup:${PASSWORD}`}}),
          0,
        )
        expect(Buffer.from((await archiveAsOracleTree(archive))['/private'].data, 'base64').toString()).to.equal(
          'only backup',
        )
      } finally {
        await removeDir(dir)
      }
    })
  })

  describe('--zk-sasl (DCOS_ZK_SASL)', () => {
    it('is user:password, refused otherwise (exit 2)', async () => {
      expectUsageError(
        await dcos([
          'zk',
          'backup',
          '/tmp/never-written.tar.gz',
          '--zk',
          '127.0.0.1:1/x',
          '--zk-sasl',
          'no-colon-here',
        ]),
        'Invalid --zk-sasl: use user:password',
      )
    })

    it('is a secret of the command line and the environment: DEBUG output of a failed command does not hold it', async () => {
      expect(
        commandLineSecrets(['--zk-sasl', `backup:${PASSWORD}`], {DCOS_ZK_SASL: `env:${PASSWORD}-env`}),
      ).to.include.members([PASSWORD, `${PASSWORD}-env`])
      const result = expectExit(
        await dcos(
          [
            'zk',
            'backup',
            '/tmp/never-written.tar.gz',
            '--zk',
            '127.0.0.1:1/x',
            '--session-timeout',
            '1',
            '--zk-sasl',
            `backup:${PASSWORD}`,
          ],
          {env: {DEBUG: '*'}},
        ),
        1,
      )
      expect(result.stderr).to.include('--zk-sasl')
      expect(`${result.stdout}${result.stderr}`).not.to.include(PASSWORD)
    })
  })
})
