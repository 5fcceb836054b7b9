/**
 * `dcos cluster status --zk` against a real 3-node ensemble of its own (nodes are stopped here:
 * never the shared ensemble's).
 */
import {expect} from 'chai'

import {Ensemble} from '../../harness/ensemble.js'
import {dcos, expectExit, expectUsageError, zkUri} from '../../helpers/cli.js'
import {eventually} from '../../helpers/wait.js'

const TIMESTAMP = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z /

describe('dcos cluster status', () => {
  describe('usage errors (exit 2, one line)', () => {
    it('needs --zk or --exhibitor when DCOS_URL is not set', async () => {
      expectUsageError(
        await dcos(['cluster', 'status']),
        'Nothing to check: pass --zk <hosts> or --exhibitor <url> (or set DCOS_URL)',
      )
    })

    it('refuses --zk with --exhibitor', async () => {
      expectUsageError(
        await dcos(['cluster', 'status', '--zk', 'h1', '--exhibitor', 'http://h1:8181']),
        '--zk and --exhibitor cannot be used together',
      )
    })

    it('refuses a bad --timeout, --interval or --zk', async () => {
      expectUsageError(
        await dcos(['cluster', 'status', '--zk', 'h1', '--wait', '--timeout', '10 minutes']),
        'Invalid --timeout "10 minutes": use a duration such as 30s, 5m, 1h',
      )
      expectUsageError(await dcos(['cluster', 'status', '--zk', 'h1', '--interval', '0']), 'Invalid --interval "0"')
      expectUsageError(await dcos(['cluster', 'status', '--zk', 'h1:99999']), 'Invalid port "99999"')
    })

    it('shows the DCOS_URL default, examples and exit codes in the help', async () => {
      const {stdout} = expectExit(await dcos(['cluster', 'status', '--help']), 0)
      expect(stdout).to.include('$DCOS_URL/exhibitor')
      expect(stdout).to.include('Exit codes: 0')
      expect(stdout).to.include('$ dcos cluster status --zk')
    })
  })

  describe('against a real ensemble', () => {
    let ensemble: Ensemble
    let hosts: string[]

    before(async function () {
      this.timeout(90_000)
      ensemble = await Ensemble.start({nodes: 3})
      hosts = ensemble.nodes.map((node) => ensemble.nodeConnectString(node.id))
    })

    after(async () => {
      await ensemble?.stop()
    })

    it('is healthy: exit 0, a table of the three nodes and the verdict', async () => {
      const {stdout, stderr} = expectExit(await dcos(['cluster', 'status', '--zk', zkUri(ensemble.connectString)]), 0)
      expect(stderr).to.equal('')
      const lines = stdout.trimEnd().split('\n')
      expect(lines).to.have.length(5)
      expect(lines[0].split(/\s+/)).to.deep.equal(['HOST', 'STATUS', 'MODE', 'LEADER', 'ZXID', 'ZNODES'])
      const rows = lines.slice(1, 4).map((line) => line.split(/\s+/))
      expect(rows.map((row) => row[0])).to.deep.equal(hosts)
      for (const row of rows) {
        expect(row[1]).to.equal('serving')
        expect(row[2]).to.be.oneOf(['leader', 'follower'])
        expect(row[3]).to.equal(row[2] === 'leader' ? 'yes' : 'no')
        expect(row[4]).to.match(/^0x[0-9a-f]+$/)
        expect(Number(row[5])).to.be.at.least(4) // /, /zookeeper, /zookeeper/config, /zookeeper/quota
      }

      const leader = rows.find((row) => row[2] === 'leader')
      expect(rows.filter((row) => row[2] === 'leader')).to.have.length(1)
      expect(lines[4]).to.equal(`healthy: 3 of 3 nodes serving, leader ${leader![0]}`)
    })

    it('--json gives {nodes, healthy, verdict, source} (hosts without zk:// and port work too)', async () => {
      const {stdout} = expectExit(
        await dcos(['cluster', 'status', '--zk', ensemble.connectString, '--json', '--max-lag', '0']),
        0,
      )
      const status = JSON.parse(stdout)
      expect(Object.keys(status).sort()).to.deep.equal(['healthy', 'nodes', 'source', 'verdict'])
      expect(status).to.include({healthy: true, source: 'zk'})
      expect(status.nodes.map((node: {host: string}) => node.host)).to.deep.equal(hosts)
      for (const node of status.nodes) {
        expect(Object.keys(node).sort()).to.deep.equal(['host', 'lag', 'leader', 'mode', 'status', 'znodes', 'zxid'])
        expect(node.status).to.equal('serving')
        expect(node.zxid).to.match(/^0x[0-9a-f]+$/)
        expect(node.lag, 'no writes yet: nobody lags, though followers still report the zxid of epoch 0').to.equal(0)
      }

      expect(status.nodes.filter((node: {leader: boolean}) => node.leader)).to.have.length(1)
    })

    it('one node stopped: exit 1, naming it; --wait then exits 0 once it serves again, printing the changes', async () => {
      await ensemble.stopNode(3)
      // If node 3 led, the other two elect a new leader first.
      await ensemble.waitServing([1, 2])
      const stopped = hosts[2]
      const verdict = `not healthy: ${stopped} is unreachable (connection refused)`
      // On a loaded machine the two survivors may still re-elect for a moment after they first served.
      let once = await dcos(['cluster', 'status', '--zk', ensemble.connectString, '--request-timeout', '2s'])
      await eventually('the two survivors to serve steadily', async () => {
        if (once.stdout.includes(`${verdict}\n`)) return true
        once = await dcos(['cluster', 'status', '--zk', ensemble.connectString, '--request-timeout', '2s'])
        return undefined
      })
      expectExit(once, 1)
      expect(once.stderr).to.equal('')
      const lines = once.stdout.trimEnd().split('\n')
      expect(lines[3].split(/\s+/)).to.deep.equal([stopped, 'unreachable', '-', 'no', '-', '-'])
      expect(lines[4]).to.equal(verdict)

      const waiting = dcos(
        ['cluster', 'status', '--zk', ensemble.connectString, '--wait', '--interval', '200ms', '--timeout', '40s'],
        {timeoutMs: 50_000},
      )
      await new Promise((resolve) => setTimeout(resolve, 1000))
      await ensemble.startNode(3)
      const {stderr, stdout} = expectExit(await waiting, 0)
      const changes = stderr.trimEnd().split('\n')
      for (const line of changes) expect(line).to.match(TIMESTAMP)
      expect(changes[0]).to.match(new RegExp(`Z not healthy: ${stopped} is unreachable \\(connection refused\\)$`))
      expect(changes.at(-1)).to.match(/Z healthy: 3 of 3 nodes serving, leader 127\.0\.0\.1:\d+$/)
      // Only changes are printed, not every poll (about 5 polls a second while the JVM starts).
      expect(changes.length).to.be.within(2, 4)
      expect(new Set(changes.map((line) => line.replace(TIMESTAMP, ''))).size).to.equal(changes.length)
      expect(stdout.trimEnd().split('\n').at(-1)).to.match(/^healthy: 3 of 3 nodes serving/)
    })

    it('two nodes stopped: the survivor is not serving; --wait exits 1 at its timeout', async () => {
      await ensemble.stopNode(1)
      await ensemble.stopNode(2)
      await eventually('node 3 to lose its quorum', async () =>
        /not currently serving requests/.test(await ensemble.srvr(3).catch(() => '')) ? true : undefined,
      )
      const {stdout} = expectExit(
        await dcos(['cluster', 'status', '--zk', ensemble.connectString, '--request-timeout', '2s']),
        1,
      )
      const lines = stdout.trimEnd().split('\n')
      expect(lines[3].split(/\s{2,}/)).to.deep.equal([hosts[2], 'not serving', '-', 'no', '-', '-'])
      expect(lines[4]).to.equal(
        `not healthy: ${hosts[0]} is unreachable (connection refused); ${hosts[1]} is unreachable (connection refused); ` +
          `${hosts[2]} is not serving (no quorum, or still joining); no leader`,
      )

      const started = Date.now()
      const waited = expectExit(
        await dcos([
          'cluster',
          'status',
          '--zk',
          ensemble.connectString,
          '--wait',
          '--interval',
          '200ms',
          '--timeout',
          '1s',
          '--json',
        ]),
        1,
      )
      expect(Date.now() - started).to.be.below(10_000)
      expect(JSON.parse(waited.stdout)).to.deep.include({healthy: false, source: 'zk'})
      const changes = waited.stderr.trimEnd().split('\n')
      expect(changes).to.have.length(2)
      expect(changes[0]).to.match(/Z not healthy: .* is not serving/)
      expect(changes[1]).to.match(/Z timed out after 1s waiting for a healthy ensemble$/)
    })
  })
})
