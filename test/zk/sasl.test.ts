import {expect} from 'chai'

import {zkConstants} from '../../src/zk/session.js'
import {DigestMd5Client, parseDirectives} from '../../src/zk/wire/sasl.js'
import {AuthFailed, WireSession} from '../../src/zk/wire/session.js'
import {Ensemble} from '../harness/ensemble.js'
import {withOracleClient} from '../helpers/oracle.js'
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
    expect(response).to.include({cnonce: 'OA6MHXh6VqTrRk', nc: '00000001', qop: 'auth', response: 'd388dad90d4bbd760a152321f2143af7', username: 'chris'})
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

    it('is sasl:<user> to ACLs: reads what only that user may, which a client without SASL may not', async () => {
      const path = uniquePath('sasl')
      const session = await WireSession.connect({connectTimeoutMs: 10_000, hosts: [host], sasl: {password: PASSWORD, user: 'backup'}})
      try {
        await session.multi([
          {acl: OPEN, kind: 'create', path},
          {acl: [{id: 'backup', perms: ZOO_PERM_ALL, scheme: 'sasl'}], data: Buffer.from('only backup'), kind: 'create', path: `${path}/private`},
        ])
        expect((await session.getData(`${path}/private`)).data.toString()).to.equal('only backup')
      } finally {
        await session.close()
      }

      const denied = await withOracleClient(host, undefined, (client) => new Promise<unknown>((resolve) => client.getData(`${path}/private`, (error) => resolve(error))))
      expect(denied).to.have.nested.property('code', zkConstants.ZNOAUTH)
    })

    it('a wrong password: refused at once, one line naming the user and not the password', async () => {
      const error = await WireSession.connect({connectTimeoutMs: 30_000, hosts: [host], sasl: {password: `${PASSWORD}-wrong`, user: 'backup'}}).then(
        () => expect.fail('expected a refusal'),
        (failure: Error) => failure,
      )
      expect(error).to.be.instanceOf(AuthFailed)
      expect(error.message).to.match(new RegExp(`^ZooKeeper at ${host} refused the SASL DIGEST-MD5 credentials of user backup \\(ZAUTHFAILED\\)$`))
      expect(error.message).not.to.include(PASSWORD)
    })
  })
})
