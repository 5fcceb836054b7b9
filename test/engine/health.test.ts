/**
 * The health engine against Exhibitor (mocked with nock, in-process), fake `srvr` servers and
 * closed ports; and `dcos cluster status --exhibitor` run in-process so nock sees its requests.
 */
import {runCommand} from '@oclif/test'
import {expect} from 'chai'
import nock from 'nock'
import {execFileSync} from 'node:child_process'
import {writeFileSync} from 'node:fs'
import {createServer as createHttpsServer} from 'node:https'
import * as net from 'node:net'
import {join} from 'node:path'

import {checkExhibitor, checkZkNodes, exhibitorStatusUrl, judgeCluster, zxidLag} from '../../src/engine/health.js'
import {ROOT} from '../helpers/cli.js'
import {removeDir, tempDir} from '../helpers/fixtures.js'
import {closedPort} from '../helpers/net.js'

const EXHIBITOR = 'http://exhibitor.test:8181'
const STATUS_PATH = '/exhibitor/v1/cluster/status'
const OPTIONS = {timeoutMs: 2000}

/** An entry as Exhibitor writes it (ClusterStatusTask: hostname, code, description, isLeader). */
function entry(hostname: string, code: number, isLeader = false) {
  const description = ['latent', 'down', 'not serving', 'serving'][code] ?? 'unknown'
  return {code, description, hostname, isLeader}
}

const HEALTHY = [entry('10.0.4.150', 3), entry('10.0.5.111', 3, true), entry('10.0.6.72', 3)]

/** A TCP server answering every connection with `answer` (undefined: never answers). */
async function fakeZk(answer: string | undefined): Promise<{close: () => Promise<void>; host: string}> {
  const sockets = new Set<net.Socket>()
  const server = net.createServer({allowHalfOpen: true}, (socket) => {
    sockets.add(socket)
    socket.on('error', () => {})
    socket.on('data', () => {
      if (answer !== undefined) socket.end(answer)
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const {port} = server.address() as net.AddressInfo
  return {
    async close() {
      for (const socket of sockets) socket.destroy()
      await new Promise((resolve) => server.close(resolve))
    },
    host: `127.0.0.1:${port}`,
  }
}

function srvrAnswer(mode: string, zxid: string, count: number): string {
  return `Zookeeper version: 3.8.4-unknown, built on 2024-01-01 00:00 UTC\nLatency min/avg/max: 0/0.0/0\nReceived: 5\nSent: 4\nConnections: 1\nOutstanding: 0\nZxid: ${zxid}\nMode: ${mode}\nNode count: ${count}\n`
}

describe('health engine', () => {
  before(() => {
    if (!nock.isActive()) nock.activate()
  })

  afterEach(() => {
    nock.cleanAll()
  })

  after(() => {
    // Other test files in this process talk to real HTTP servers (s3rver).
    nock.restore()
  })

  describe('checkExhibitor', () => {
    it('is healthy when every node serves and there is one leader', async () => {
      const scope = nock(EXHIBITOR).get(STATUS_PATH).reply(200, HEALTHY)
      const status = await checkExhibitor(EXHIBITOR, OPTIONS)
      expect(scope.isDone()).to.equal(true)
      expect(status).to.deep.equal({
        healthy: true,
        nodes: [
          {host: '10.0.4.150', leader: false, status: 'serving'},
          {host: '10.0.5.111', leader: true, status: 'serving'},
          {host: '10.0.6.72', leader: false, status: 'serving'},
        ],
        source: 'exhibitor',
        verdict: 'healthy: 3 of 3 nodes serving, leader 10.0.5.111',
      })
    })

    it('maps every code 0-3 and names each node that does not serve', async () => {
      nock(EXHIBITOR)
        .get(STATUS_PATH)
        .reply(200, [entry('h0', 0), entry('h1', 1), entry('h2', 2), entry('h3', 3, true)])
      const status = await checkExhibitor(EXHIBITOR, OPTIONS)
      expect(status.healthy).to.equal(false)
      expect(status.nodes.map((node) => [node.host, node.status, node.leader])).to.deep.equal([
        ['h0', 'latent', false],
        ['h1', 'down', false],
        ['h2', 'not serving', false],
        ['h3', 'serving', true],
      ])
      expect(status.verdict).to.equal(
        "not healthy: h0 is latent (Exhibitor's configuration is incomplete); h1 is down; h2 is not serving",
      )
    })

    it('reports an unknown code as unknown, never healthy', async () => {
      nock(EXHIBITOR)
        .get(STATUS_PATH)
        .reply(200, [{code: 7, description: 'weird', hostname: 'h1', isLeader: true}])
      const status = await checkExhibitor(EXHIBITOR, OPTIONS)
      expect(status.healthy).to.equal(false)
      expect(status.verdict).to.equal('not healthy: h1 is unknown (code 7 "weird")')
    })

    it('is not healthy without a leader', async () => {
      nock(EXHIBITOR)
        .get(STATUS_PATH)
        .reply(200, [entry('a', 3), entry('b', 3), entry('c', 3)])
      const status = await checkExhibitor(EXHIBITOR, OPTIONS)
      expect(status.healthy).to.equal(false)
      expect(status.verdict).to.equal('not healthy: no leader')
    })

    it('is not healthy with two leaders', async () => {
      nock(EXHIBITOR)
        .get(STATUS_PATH)
        .reply(200, [entry('a', 3, true), entry('b', 3), entry('c', 3, true)])
      const status = await checkExhibitor(EXHIBITOR, OPTIONS)
      expect(status.healthy).to.equal(false)
      expect(status.verdict).to.equal('not healthy: 2 leaders (a, c)')
    })

    it('is not healthy when a node is missing from the expected count', async () => {
      nock(EXHIBITOR).get(STATUS_PATH).twice().reply(200, HEALTHY.slice(0, 2))
      const missing = await checkExhibitor(EXHIBITOR, {...OPTIONS, expect: 3})
      expect(missing.healthy).to.equal(false)
      expect(missing.verdict).to.equal('not healthy: 2 nodes reported, 3 expected (1 node missing)')
      // Without --expect the same two nodes are a healthy ensemble of two.
      const unexpected = await checkExhibitor(EXHIBITOR, OPTIONS)
      expect(unexpected.healthy).to.equal(true)
    })

    it('is not healthy on an HTTP error', async () => {
      nock(EXHIBITOR).get(STATUS_PATH).reply(500, 'boom')
      const status = await checkExhibitor(EXHIBITOR, OPTIONS)
      expect(status).to.deep.equal({
        healthy: false,
        nodes: [],
        source: 'exhibitor',
        verdict: `not healthy: Exhibitor at ${EXHIBITOR}${STATUS_PATH} answered HTTP 500 Internal Server Error`,
      })
    })

    it('is not healthy on malformed JSON', async () => {
      nock(EXHIBITOR).get(STATUS_PATH).reply(200, '[{"hostname": "a", "code": 3,', {'content-type': 'application/json'})
      const status = await checkExhibitor(EXHIBITOR, OPTIONS)
      expect(status.healthy).to.equal(false)
      expect(status.verdict).to.match(
        /^not healthy: Exhibitor at http:\/\/exhibitor\.test:8181\/exhibitor\/v1\/cluster\/status sent malformed JSON \(.+\)$/,
      )
    })

    it('is not healthy on JSON of another shape', async () => {
      nock(EXHIBITOR).get(STATUS_PATH).reply(200, {servers: []})
      nock(EXHIBITOR)
        .get(STATUS_PATH)
        .reply(200, [{code: 3, isLeader: true}])
      expect((await checkExhibitor(EXHIBITOR, OPTIONS)).verdict).to.include(
        'sent an unexpected answer: expected an array of {hostname, code, description, isLeader}, got object',
      )
      expect((await checkExhibitor(EXHIBITOR, OPTIONS)).verdict).to.include(
        'sent an unexpected answer: entry 0 has no hostname',
      )
    })

    it('is not healthy on an empty array', async () => {
      nock(EXHIBITOR).get(STATUS_PATH).reply(200, [])
      const status = await checkExhibitor(EXHIBITOR, OPTIONS)
      expect(status.healthy).to.equal(false)
      expect(status.verdict).to.equal(`not healthy: Exhibitor at ${EXHIBITOR}${STATUS_PATH} reported no nodes`)
    })

    it('is not healthy when the connection is refused', async () => {
      const port = await closedPort()
      const status = await checkExhibitor(`http://127.0.0.1:${port}`, OPTIONS)
      expect(status.healthy).to.equal(false)
      expect(status.nodes).to.deep.equal([])
      expect(status.verdict).to.equal(
        `not healthy: cannot get the status from Exhibitor at http://127.0.0.1:${port}${STATUS_PATH}: connection refused`,
      )
    })

    it('gives up on a slow answer at the request timeout', async () => {
      nock(EXHIBITOR).get(STATUS_PATH).delay(3000).reply(200, HEALTHY)
      const started = Date.now()
      const status = await checkExhibitor(EXHIBITOR, {timeoutMs: 200})
      const elapsed = Date.now() - started
      expect(status.healthy).to.equal(false)
      expect(status.verdict).to.equal(
        `not healthy: cannot get the status from Exhibitor at ${EXHIBITOR}${STATUS_PATH}: no answer within 200 ms`,
      )
      expect(elapsed).to.be.within(150, 1500)
    })

    it("asks DC/OS's proxied form at <url>/exhibitor/v1/cluster/status", async () => {
      const scope = nock('https://master.test').get('/exhibitor/exhibitor/v1/cluster/status').reply(200, HEALTHY)
      const status = await checkExhibitor('https://master.test/exhibitor/', OPTIONS)
      expect(scope.isDone()).to.equal(true)
      expect(status.healthy).to.equal(true)
    })

    it('builds the status URL from a root, a proxy path or the full URL, and refuses other schemes', () => {
      expect(exhibitorStatusUrl('http://h:8181').href).to.equal('http://h:8181/exhibitor/v1/cluster/status')
      expect(exhibitorStatusUrl('http://h:8181/').href).to.equal('http://h:8181/exhibitor/v1/cluster/status')
      expect(exhibitorStatusUrl('https://m/exhibitor').href).to.equal('https://m/exhibitor/exhibitor/v1/cluster/status')
      expect(exhibitorStatusUrl('https://m/exhibitor/exhibitor/v1/cluster/status').href).to.equal(
        'https://m/exhibitor/exhibitor/v1/cluster/status',
      )
      expect(() => exhibitorStatusUrl('ftp://h')).to.throw('only http and https are supported')
      expect(() => exhibitorStatusUrl('not a url')).to.throw('Invalid Exhibitor URL')
    })

    describe('over https with a private CA', () => {
      let dir: string | undefined
      let server: ReturnType<typeof createHttpsServer> | undefined
      let url: string
      let ca: Buffer

      before(async function () {
        dir = await tempDir('health-ca')
        const openssl = (...args: string[]) => execFileSync('openssl', args, {cwd: dir, stdio: 'pipe'})
        try {
          openssl(
            'req',
            '-x509',
            '-newkey',
            'ec',
            '-pkeyopt',
            'ec_paramgen_curve:prime256v1',
            '-nodes',
            '-keyout',
            'ca.key',
            '-out',
            'ca.crt',
            '-days',
            '1',
            '-subj',
            '/CN=test private CA',
          )
          openssl(
            'req',
            '-newkey',
            'ec',
            '-pkeyopt',
            'ec_paramgen_curve:prime256v1',
            '-nodes',
            '-keyout',
            'server.key',
            '-out',
            'server.csr',
            '-subj',
            '/CN=localhost',
          )
          writeFileSync(join(dir, 'san.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n')
          openssl(
            'x509',
            '-req',
            '-in',
            'server.csr',
            '-CA',
            'ca.crt',
            '-CAkey',
            'ca.key',
            '-CAcreateserial',
            '-out',
            'server.crt',
            '-days',
            '1',
            '-extfile',
            'san.ext',
          )
        } catch {
          this.skip()
        }

        const {readFileSync} = await import('node:fs')
        ca = readFileSync(join(dir, 'ca.crt'))
        server = createHttpsServer(
          {cert: readFileSync(join(dir, 'server.crt')), key: readFileSync(join(dir, 'server.key'))},
          (request, response) => {
            response.writeHead(request.url === `/exhibitor${STATUS_PATH}` ? 200 : 404, {
              'content-type': 'application/json',
            })
            response.end(JSON.stringify(HEALTHY))
          },
        )
        await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve))
        url = `https://127.0.0.1:${(server.address() as net.AddressInfo).port}/exhibitor`
      })

      after(async () => {
        if (server) await new Promise((resolve) => server!.close(resolve))
        await removeDir(dir)
      })

      it('trusts the CA given, and only then', async () => {
        const trusted = await checkExhibitor(url, {ca, timeoutMs: 2000})
        expect(trusted.healthy, trusted.verdict).to.equal(true)
        const untrusted = await checkExhibitor(url, {timeoutMs: 2000})
        expect(untrusted.healthy).to.equal(false)
        expect(untrusted.verdict).to.match(
          /cannot get the status from Exhibitor at https:\/\/127\.0\.0\.1:\d+\/exhibitor\/exhibitor\/v1\/cluster\/status: .*(self.signed|local issuer|unable to verify)/i,
        )
      })
    })
  })

  describe('checkZkNodes', () => {
    const servers: {close: () => Promise<void>}[] = []

    afterEach(async () => {
      await Promise.all(servers.splice(0).map((server) => server.close()))
    })

    async function serve(answer: string | undefined): Promise<string> {
      const server = await fakeZk(answer)
      servers.push(server)
      return server.host
    }

    it('reads mode, zxid, znode count and lag from srvr, and checks --max-lag', async () => {
      const leader = await serve(srvrAnswer('leader', '0x100000010', 42))
      const follower = await serve(srvrAnswer('follower', '0x100000004', 41))
      const observer = await serve(srvrAnswer('observer', '0x100000010', 42))
      const status = await checkZkNodes([leader, follower, observer], {timeoutMs: 1000})
      expect(status.healthy).to.equal(true)
      expect(status.source).to.equal('zk')
      expect(status.verdict).to.equal(`healthy: 3 of 3 nodes serving, leader ${leader}`)
      expect(status.nodes).to.deep.equal([
        {host: leader, lag: 0, leader: true, mode: 'leader', status: 'serving', znodes: 42, zxid: '0x100000010'},
        {host: follower, lag: 12, leader: false, mode: 'follower', status: 'serving', znodes: 41, zxid: '0x100000004'},
        {host: observer, lag: 0, leader: false, mode: 'observer', status: 'serving', znodes: 42, zxid: '0x100000010'},
      ])

      expect((await checkZkNodes([leader, follower, observer], {maxLag: 12, timeoutMs: 1000})).healthy).to.equal(true)
      const lagging = await checkZkNodes([leader, follower, observer], {maxLag: 11, timeoutMs: 1000})
      expect(lagging.healthy).to.equal(false)
      expect(lagging.verdict).to.equal(`not healthy: ${follower} lags the leader by 12 transactions (more than 11)`)
      expect(lagging.nodes[1].problem).to.equal('12 transactions behind the leader')
    })

    it('accepts a single standalone server', async () => {
      const standalone = await serve(srvrAnswer('standalone', '0x2a', 7))
      const status = await checkZkNodes([standalone], {timeoutMs: 1000})
      expect(status.healthy).to.equal(true)
      expect(status.verdict).to.equal(`healthy: standalone server ${standalone} serving`)
      expect(status.nodes[0]).to.include({leader: true, mode: 'standalone', zxid: '0x2a', znodes: 7})
    })

    it('names nodes that are unreachable, silent, not serving, read-only or refuse srvr', async () => {
      const leader = await serve(srvrAnswer('leader', '0x100000001', 5))
      const notServing = await serve('This ZooKeeper instance is not currently serving requests\n')
      const readOnly = await serve(srvrAnswer('read-only', '0x100000001', 5))
      const refused = await serve('srvr is not executed because it is not in the whitelist.\n')
      const silent = await serve(undefined)
      const closed = `127.0.0.1:${await closedPort()}`
      const started = Date.now()
      const status = await checkZkNodes([leader, notServing, readOnly, refused, silent, closed], {timeoutMs: 300})
      expect(Date.now() - started, 'each node has its own timeout, in parallel').to.be.below(1500)
      expect(status.healthy).to.equal(false)
      expect(status.nodes.map((node) => [node.host, node.status])).to.deep.equal([
        [leader, 'serving'],
        [notServing, 'not serving'],
        [readOnly, 'read-only'],
        [refused, 'unknown'],
        [silent, 'unreachable'],
        [closed, 'unreachable'],
      ])
      expect(status.verdict).to.equal(
        `not healthy: ${notServing} is not serving (no quorum, or still joining); ` +
          `${readOnly} is read-only (no quorum); ` +
          `${refused} is unknown (srvr is refused: add it to 4lw.commands.whitelist); ` +
          `${silent} is unreachable (no answer within 300 ms); ` +
          `${closed} is unreachable (connection refused)`,
      )
    })
  })

  describe('zxidLag', () => {
    it("counts transactions within an epoch, and only the new epoch's for a node still in an older one", () => {
      expect(zxidLag(0x1_00_00_00_10n, 0x1_00_00_00_04n)).to.equal(12)
      expect(zxidLag(0x1_00_00_00_04n, 0x1_00_00_00_10n), 'a node ahead of the leader').to.equal(0)
      // A fresh ensemble: the leader opened epoch 1 (counter 0), followers still report 0x0.
      expect(zxidLag(0x1_00_00_00_00n, 0n)).to.equal(0)
      expect(zxidLag(0x3_00_00_00_07n, 0x2_00_00_01_23n)).to.equal(7)
    })
  })

  describe('judgeCluster', () => {
    it('is never healthy with no nodes, and refuses a standalone server among several', () => {
      expect(judgeCluster('zk', [])).to.deep.equal({
        healthy: false,
        nodes: [],
        source: 'zk',
        verdict: 'not healthy: no nodes reported',
      })
      const mixed = judgeCluster('zk', [
        {host: 'a:2181', leader: true, mode: 'standalone', status: 'serving'},
        {host: 'b:2181', leader: false, mode: 'follower', status: 'serving'},
      ])
      expect(mixed.verdict).to.equal('not healthy: a:2181 runs standalone, not in the ensemble')
    })

    it('reports more nodes than expected', () => {
      const nodes = ['a', 'b', 'c', 'd'].map((host, index) => ({host, leader: index === 0, status: 'serving' as const}))
      expect(judgeCluster('exhibitor', nodes, {expect: 3}).verdict).to.equal(
        'not healthy: 4 nodes reported, 3 expected (1 more than expected)',
      )
    })
  })

  describe('dcos cluster status --exhibitor, in-process', () => {
    const run = (args: string[]) => runCommand(['cluster', 'status', ...args], {root: ROOT})

    it('prints the table and the verdict, exit 0', async () => {
      nock(EXHIBITOR).get(STATUS_PATH).reply(200, HEALTHY)
      const {error, result, stdout} = await run(['--exhibitor', EXHIBITOR])
      expect(error).to.equal(undefined)
      expect((result as {healthy: boolean}).healthy).to.equal(true)
      expect(stdout.split('\n')).to.deep.equal([
        'HOST        STATUS   MODE  LEADER  ZXID  ZNODES',
        '10.0.4.150  serving  -     no      -     -',
        '10.0.5.111  serving  -     yes     -     -',
        '10.0.6.72   serving  -     no      -     -',
        'healthy: 3 of 3 nodes serving, leader 10.0.5.111',
        '',
      ])
    })

    it('exits 1 on an unhealthy answer, with --json giving {nodes, healthy, verdict, source}', async () => {
      nock(EXHIBITOR)
        .get(STATUS_PATH)
        .reply(200, [entry('a', 3, true), entry('b', 1), entry('c', 3)])
      const {error, stdout} = await run(['--exhibitor', EXHIBITOR, '--json'])
      expect((error as undefined | {oclif?: {exit?: number}})?.oclif?.exit).to.equal(1)
      expect(JSON.parse(stdout)).to.deep.equal({
        healthy: false,
        nodes: [
          {host: 'a', leader: true, status: 'serving'},
          {host: 'b', leader: false, status: 'down'},
          {host: 'c', leader: false, status: 'serving'},
        ],
        source: 'exhibitor',
        verdict: 'not healthy: b is down',
      })
    })

    it('asks $DCOS_URL/exhibitor by default', async () => {
      const scope = nock('https://dcos.test')
        .get('/exhibitor/exhibitor/v1/cluster/status')
        .reply(200, HEALTHY.slice(0, 2))
      const saved = process.env.DCOS_URL
      process.env.DCOS_URL = 'https://dcos.test/'
      try {
        const {error, stdout} = await run(['--expect', '3'])
        expect(scope.isDone()).to.equal(true)
        expect(error?.oclif?.exit).to.equal(1)
        expect(stdout).to.include('not healthy: 2 nodes reported, 3 expected (1 node missing)')
      } finally {
        if (saved === undefined) delete process.env.DCOS_URL
        else process.env.DCOS_URL = saved
      }
    })

    it('--wait prints each change of state on stderr and exits 0 once healthy', async () => {
      nock(EXHIBITOR)
        .get(STATUS_PATH)
        .times(3)
        .reply(200, [entry('a', 3, true), entry('b', 1), entry('c', 3)])
      nock(EXHIBITOR)
        .get(STATUS_PATH)
        .times(2)
        .reply(200, [entry('a', 3, true), entry('b', 2), entry('c', 3)])
      nock(EXHIBITOR)
        .get(STATUS_PATH)
        .reply(200, [entry('a', 3, true), entry('b', 3), entry('c', 3)])
      const {error, stderr, stdout} = await run([
        '--exhibitor',
        EXHIBITOR,
        '--wait',
        '--interval',
        '50ms',
        '--timeout',
        '20s',
      ])
      expect(error).to.equal(undefined)
      const lines = stderr.trimEnd().split('\n')
      expect(lines.map((line) => line.replace(/^\d{4}-\d\d-\d\dT[\d:.]+Z /, ''))).to.deep.equal([
        'not healthy: b is down',
        'not healthy: b is not serving',
        'healthy: 3 of 3 nodes serving, leader a',
      ])
      expect(stdout).to.include('healthy: 3 of 3 nodes serving, leader a')
    })

    it('--wait exits 1 at the timeout', async () => {
      nock(EXHIBITOR).persist().get(STATUS_PATH).reply(500)
      const started = Date.now()
      const {error, stderr, stdout} = await run([
        '--exhibitor',
        EXHIBITOR,
        '--wait',
        '--interval',
        '100ms',
        '--timeout',
        '0.5',
      ])
      nock.cleanAll()
      expect(Date.now() - started).to.be.within(400, 3000)
      expect(error?.oclif?.exit).to.equal(1)
      expect(stderr).to.match(/Z not healthy: Exhibitor at .* answered HTTP 500/)
      expect(stderr).to.match(/Z timed out after 0\.5s waiting for a healthy ensemble\n$/)
      expect(stderr.match(/HTTP 500/g)).to.have.length(1)
      expect(stdout).to.include('answered HTTP 500')
    })

    it('refuses --max-lag with --exhibitor and an unreadable --ca-cert (exit 2)', async () => {
      const lag = await run(['--exhibitor', EXHIBITOR, '--max-lag', '5'])
      expect(lag.error?.oclif?.exit).to.equal(2)
      expect(lag.stderr).to.include('--max-lag needs --zk')
      const ca = await run(['--exhibitor', EXHIBITOR, '--ca-cert', '/nonexistent/ca.pem'])
      expect(ca.error?.oclif?.exit).to.equal(2)
      expect(ca.stderr).to.include('Cannot read --ca-cert /nonexistent/ca.pem')
    })
  })
})
