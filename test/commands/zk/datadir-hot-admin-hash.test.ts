/**
 * A hot data-directory backup compared with the node's own AdminServer `hash` command (3.8 keeps
 * the tree digest of every 128th zxid): the real answer matches; an answer with one digest changed
 * (nock, in-process) refuses the backup; a list with no zxid in the copy's range is a note.
 */
import {expect} from 'chai'
import nock from 'nock'
import {existsSync} from 'node:fs'
import {stat} from 'node:fs/promises'
import {join} from 'node:path'

import {backupDataDir} from '../../../src/engine/datadir/index.js'
import {resolveLocation} from '../../../src/providers/index.js'
import {zkConstants, ZkSession} from '../../../src/zk/session.js'
import {adminUrl, Ensemble} from '../../harness/ensemble.js'
import {dcos, expectExit, expectUsageError} from '../../helpers/cli.js'
import {removeDir, tempDir} from '../../helpers/fixtures.js'

describe('dcos zk backup --data-dir --admin-url: the hot copy against the hash command', function () {
  this.timeout(180_000)
  let ensemble: Ensemble
  let dir: string
  let admin: string

  before(async () => {
    ensemble = await Ensemble.start({adminServer: true, dataLogDirs: true, nodes: 1, version: '3.8'})
    admin = adminUrl(ensemble.nodes[0])
    dir = await tempDir('datadir-admin-hash')
    const session = await ZkSession.connect({hosts: [ensemble.nodeConnectString(1)]})
    // Past zxid 0x100: the server's list then holds 0x80 and 0x100, both in the copy's range.
    for (let index = 0; index < 300; index++)
      await session.create(`/h${index}`, Buffer.from(`v${index}`), zkConstants.ZOO_PERSISTENT)
    session.close()
  })

  after(async () => {
    nock.cleanAll()
    nock.restore()
    await ensemble?.stop()
    await removeDir(dir)
  })

  const paths = () => {
    const [node] = ensemble.nodes
    return {dataDir: node.dataDir, logDir: node.dataLogDir, zkConfig: node.configFile}
  }

  it('matches the digests the running node lists, and records how many (--json, the manifest, -v)', async () => {
    const {dataDir, logDir, zkConfig} = paths()
    const archive = join(dir, 'matched.tar.gz')
    const args = ['zk', 'backup', archive, '--data-dir', dataDir, '--log-dir', logDir, '--zk-config', zkConfig]
    const json = JSON.parse(expectExit(await dcos([...args, '--admin-url', admin, '--json']), 0).stdout)
    expect(json.hot).to.equal(true)
    expect(json.consistentAt.adminHashesMatched).to.be.at.least(2)
    const verbose = expectExit(await dcos([...args, '--admin-url', admin, '--force', '-v']), 0).stdout
    expect(verbose).to.match(/^Matched [2-9]\d* tree digests of the AdminServer's hash command$/m)
    const inspect = JSON.parse(expectExit(await dcos(['zk', 'inspect', archive, '--json']), 0).stdout)
    expect(JSON.stringify(inspect)).to.include('"adminHashesMatched"')
  })

  it('a malformed --admin-url is bad usage: exit 2, nothing written', async () => {
    const {dataDir, logDir, zkConfig} = paths()
    const archive = join(dir, 'bad-url.tar.gz')
    const args = ['zk', 'backup', archive, '--data-dir', dataDir, '--log-dir', logDir, '--zk-config', zkConfig]
    expectUsageError(
      await dcos([...args, '--admin-url', 'ftp://localhost:8080']),
      '--admin-url must be http:// or https://',
    )
    expect(existsSync(archive)).to.equal(false)
  })

  describe('with the answer replaced (nock)', () => {
    let real: string

    before(async () => {
      real = await (await fetch(`${admin}/commands/hash`)).text()
      if (!nock.isActive()) nock.activate()
    })

    afterEach(() => nock.cleanAll())

    it('one digest changed: refused, no archive', async () => {
      // The text changed, not parsed: digests are longs past 2^53.
      const tampered = real.replace(/"digest" : (\d+)/, (_, digest: string) => `"digest" : ${BigInt(digest) + 1n}`)
      expect(tampered).to.not.equal(real)
      const scope = nock(admin).get('/commands/hash').reply(200, tampered)
      const archive = join(dir, 'tampered.tar.gz')
      const error = await backupDataDir({...paths(), adminUrl: admin, destination: resolveLocation(archive)}).catch(
        (error_: unknown) => error_,
      )
      expect(scope.isDone()).to.equal(true)
      expect((error as Error).message).to.match(
        /^the copy does not hold the node's state: its tree digest after zxid 0x80 differs from the one http:\/\/127\.0\.0\.1:\d+'s hash command lists$/,
      )
      expect(await stat(archive).catch(() => undefined)).to.equal(undefined)
    })

    it('no zxid in common: the backup is made, and says so', async () => {
      const later = JSON.stringify({digests: [{digest: 1, digest_version: 2, zxid: 2 ** 40}]})
      nock(admin).get('/commands/hash').reply(200, later)
      const result = await backupDataDir({
        ...paths(),
        adminUrl: admin,
        destination: resolveLocation(join(dir, 'none.tar.gz')),
      })
      expect(result.consistentAt.adminHashesMatched).to.equal(0)
      expect(result.adminHashNote).to.match(
        /^no zxid in common with http:\/\/127\.0\.0\.1:\d+'s hash command: the copy replays 0x0 to 0x[0-9a-f]+, the server lists zxids 0x10000000000 to 0x10000000000$/,
      )
    })
  })
})
