import {Flags} from '@oclif/core'
import {readFileSync} from 'node:fs'

import {BaseCommand, EXIT_CODES_HELP} from '../../cli/base.js'
import {coloursFor, paintState, paintVerdict} from '../../cli/colour.js'
import {formatDuration, parseDuration} from '../../cli/duration.js'
import {forStream} from '../../cli/printable.js'
import {zkTlsFlags, type ZkTlsFlagValues, zkTlsOptions} from '../../cli/zk-tls.js'
import {checkExhibitor, checkZkNodes, type ClusterStatus, type NodeStatus} from '../../engine/health.js'
import {errorMessage, EXIT_FAILED, UsageError} from '../../errors.js'

/** Thrown at the end of a check that found the ensemble unhealthy: exit 1, the output is already written. */
class Unhealthy extends Error {
  constructor(readonly status: ClusterStatus) {
    super(status.verdict)
  }
}

export default class ClusterStatusCommand extends BaseCommand {
  static description = `Asks every ZooKeeper node for its state with the four-letter word srvr (--zk), or asks Exhibitor for its view of the ensemble (--exhibitor), and prints one line per node and a verdict.

The ensemble is healthy when every node serves, there is exactly one leader (or a single standalone server), no node lags the leader by more than --max-lag transactions and, with --expect, the expected number of nodes is reported. Whatever cannot be known is not healthy: an unreachable node or Exhibitor, an HTTP error, an answer that cannot be read, an empty list.

Without --zk and --exhibitor, $DCOS_URL/exhibitor is asked when DCOS_URL is set (DC/OS proxies Exhibitor there).

With --wait, the check is repeated every --interval until the ensemble is healthy or --timeout passes; every change of state is printed on stderr with a timestamp.

${EXIT_CODES_HELP} Here 0 means healthy and 1 not healthy (at once, or at the --timeout with --wait).`
  static enableJsonFlag = true
  static examples = [
    {
      command: '<%= config.bin %> <%= command.id %> --zk zk://10.0.0.1:2181,10.0.0.2:2181,10.0.0.3:2181',
      description: 'Ask every ZooKeeper node directly',
    },
    {
      command: '<%= config.bin %> <%= command.id %> --exhibitor http://10.0.0.1:8181 --expect 3',
      description: 'Ask Exhibitor, and require 3 nodes',
    },
    {
      command:
        '<%= config.bin %> <%= command.id %> --exhibitor https://master.example.com/exhibitor --ca-cert ./dcos-ca.crt',
      description: "Through the DC/OS proxy, trusting the cluster's private CA",
    },
    {
      command: 'DCOS_URL=https://master.example.com <%= config.bin %> <%= command.id %> --ca-cert ./dcos-ca.crt',
      description: 'The same, from DCOS_URL',
    },
    {
      command:
        '<%= config.bin %> <%= command.id %> --zk master.mesos --wait --timeout 15m && <%= config.bin %> zk restore ...',
      description: 'Wait until the ensemble is healthy before a restore',
    },
    {
      command: '<%= config.bin %> <%= command.id %> --zk h1,h2,h3 --max-lag 1000 --json',
      description: 'Also fail when a node is more than 1000 transactions behind the leader; JSON output',
    },
  ]
  static flags = {
    exhibitor: Flags.string({
      description:
        "Exhibitor to ask: its root (http://host:8181) or DC/OS's proxy (https://master/exhibitor); /exhibitor/v1/cluster/status is appended. Default: $DCOS_URL/exhibitor when DCOS_URL is set.",
    }),
    zk: Flags.string({
      description:
        'ZooKeeper nodes to ask directly with srvr: zk://host1:2181,host2:2181 or host1,host2 (the port defaults to 2181). Not with --exhibitor.',
    }),
    'ca-cert': Flags.string({
      description: "PEM file of the CA that signed Exhibitor's (or DC/OS's) certificate, for https with a private CA.",
    }),
    expect: Flags.integer({
      description: 'Number of nodes the ensemble should have: a different number reported is not healthy.',
      min: 1,
    }),
    interval: Flags.string({
      default: '5s',
      description: 'With --wait: time between checks (30s, 5m, 1h, 500ms, or seconds).',
    }),
    'max-lag': Flags.integer({
      description: "With --zk: most transactions a node may be behind the leader's zxid.",
      min: 0,
    }),
    'request-timeout': Flags.string({
      default: '5s',
      description: "Timeout of each request (each node's srvr, or Exhibitor's answer).",
    }),
    timeout: Flags.string({
      default: '10m',
      description: 'With --wait: how long to wait for a healthy ensemble (30s, 5m, 1h, or seconds).',
    }),
    wait: Flags.boolean({
      description: 'Check again every --interval until the ensemble is healthy or --timeout passes.',
    }),
    ...zkTlsFlags,
  }
  static summary = 'Check the health of the ZooKeeper ensemble, directly or through Exhibitor.'

  protected async catch(error: Error & {exitCode?: number; oclif?: {exit?: number}}): Promise<unknown> {
    if (!(error instanceof Unhealthy)) return super.catch(error)
    // Not a failure of the command: the answer is "not healthy", written like a healthy one, with exit code 1.
    if (this.jsonEnabled()) this.logJson(error.status)
    throw Object.assign(new Error(error.message), {
      exitCode: EXIT_FAILED,
      oclif: {exit: EXIT_FAILED},
      skipOclifErrorHandling: true,
    })
  }

  async run(): Promise<ClusterStatus> {
    const {flags} = await this.parse(ClusterStatusCommand)
    const requestTimeoutMs = parseDuration(flags['request-timeout'], 'request-timeout')
    const intervalMs = parseDuration(flags.interval, 'interval')
    const timeoutMs = parseDuration(flags.timeout, 'timeout')
    const check = this.checker(flags, requestTimeoutMs)

    let status = await check()
    if (flags.wait) status = await this.waitHealthy(status, check, intervalMs, timeoutMs)
    if (!this.jsonEnabled()) {
      // Modes and problems come from the servers' answers: escaped before they are laid out.
      const colours = coloursFor(process.stdout)
      const shown = (text: string) => forStream(text, process.stdout)
      if (status.nodes.length > 0)
        this.logPainted(
          formatTable(status.nodes, flags['max-lag'] !== undefined, shown, (state, cell) =>
            paintState(colours, state, cell),
          ),
        )
      this.logPainted(paintVerdict(colours, status.healthy, shown(status.verdict)))
    }

    if (!status.healthy) throw new Unhealthy(status)
    return status
  }

  private checker(
    flags: ZkTlsFlagValues & {'ca-cert'?: string; exhibitor?: string; expect?: number; 'max-lag'?: number; zk?: string},
    timeoutMs: number,
  ): () => Promise<ClusterStatus> {
    if (flags.exhibitor !== undefined && flags.zk !== undefined)
      throw new UsageError('--zk and --exhibitor cannot be used together: pass one of them')
    if (flags.zk !== undefined) {
      if (flags['ca-cert'] !== undefined)
        throw new UsageError(
          '--ca-cert is for --exhibitor over https, not --zk: for ZooKeeper over TLS pass --zk-tls-ca',
        )
      const {hosts} = this.parseZk(flags.zk)
      const tls = zkTlsOptions(flags)
      return () => checkZkNodes(hosts, {expect: flags.expect, maxLag: flags['max-lag'], timeoutMs, tls})
    }

    const dcosUrl = process.env.DCOS_URL?.trim()
    const exhibitor = flags.exhibitor ?? (dcosUrl ? `${dcosUrl.replace(/\/+$/, '')}/exhibitor` : undefined)
    if (exhibitor === undefined)
      throw new UsageError('Nothing to check: pass --zk <hosts> or --exhibitor <url> (or set DCOS_URL)')
    if (flags['max-lag'] !== undefined) throw new UsageError('--max-lag needs --zk: Exhibitor does not report zxids')
    const ca = flags['ca-cert'] === undefined ? undefined : readCa(flags['ca-cert'])
    return () => checkExhibitor(exhibitor, {ca, expect: flags.expect, timeoutMs})
  }

  private async waitHealthy(
    first: ClusterStatus,
    check: () => Promise<ClusterStatus>,
    intervalMs: number,
    timeoutMs: number,
  ): Promise<ClusterStatus> {
    const deadline = Date.now() + timeoutMs
    let status = first
    let previous = stateKey(status)
    progress(status.verdict)
    while (!status.healthy) {
      const remaining = deadline - Date.now()
      if (remaining <= 0) {
        progress(`timed out after ${formatDuration(timeoutMs)} waiting for a healthy ensemble`)
        break
      }

      await new Promise((resolve) => setTimeout(resolve, Math.min(intervalMs, remaining)))
      status = await check()
      const key = stateKey(status)
      if (key !== previous) progress(status.verdict)
      previous = key
    }

    return status
  }
}

/** A change of state while waiting: on stderr with a timestamp, with --json too (stdout carries only the JSON). */
function progress(line: string): void {
  process.stderr.write(`${new Date().toISOString()} ${forStream(line, process.stderr)}\n`)
}

function readCa(file: string): Buffer {
  try {
    return readFileSync(file)
  } catch (error) {
    throw new UsageError(`Cannot read --ca-cert ${file}: ${errorMessage(error)}`)
  }
}

/** What counts as a change of state: each node's status, mode, leadership and problem, not its zxid. */
function stateKey(status: ClusterStatus): string {
  const nodes = status.nodes.map((node) => [
    node.host,
    node.status,
    node.mode,
    node.leader,
    node.problem?.replace(/\d+/g, 'N'),
  ])
  return JSON.stringify([status.healthy, nodes, status.nodes.length === 0 ? status.verdict : ''])
}

/** Plain padded columns: stable for scripts (no colours, no box drawing, no terminal width). */
export function formatTable(
  nodes: NodeStatus[],
  withLag: boolean,
  shown: (text: string) => string = (text) => text,
  paintStatus: (state: string, cell: string) => string = (_state, cell) => cell,
): string {
  const header = ['HOST', 'STATUS', 'MODE', 'LEADER', 'ZXID', 'ZNODES', ...(withLag ? ['LAG'] : [])]
  const rows = nodes.map((node) =>
    [
      node.host,
      node.status,
      node.mode ?? '-',
      node.leader ? 'yes' : 'no',
      node.zxid ?? '-',
      node.znodes === undefined ? '-' : String(node.znodes),
      ...(withLag ? [node.lag === undefined ? '-' : String(node.lag)] : []),
    ].map((value) => shown(value)),
  )
  const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => row[column].length)))
  const STATUS = 1
  const lines = [header, ...rows].map((row, line) =>
    row
      .map((cell, column) => {
        const padded = column === row.length - 1 ? cell : cell.padEnd(widths[column])
        return line > 0 && column === STATUS ? paintStatus(nodes[line - 1].status, padded) : padded
      })
      .join('  '),
  )
  return lines.join('\n')
}
