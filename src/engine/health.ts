/**
 * Health of a ZooKeeper ensemble, asked either of every node directly (`srvr`) or of Exhibitor
 * (`GET /exhibitor/v1/cluster/status`). Both give the same ClusterStatus. What cannot be known is
 * never healthy: an unreachable node or Exhibitor, an HTTP error, an answer that cannot be read.
 */

import type {ZkTlsOptions} from '../zk/tls.js'

import {errorMessage, UsageError} from '../errors.js'
import {HttpTimeoutError, sendRequest} from '../net/http.js'
import {srvr, type SrvrReport} from '../zk/srvr.js'
import {hexZxid} from '../zk/zxid.js'

export type NodeState = 'down' | 'latent' | 'not serving' | 'read-only' | 'serving' | 'unknown' | 'unreachable'

export interface NodeStatus {
  host: string
  /** Transactions this node is behind the leader (zk form only, when there is one leader). */
  lag?: number
  /** Leader of the ensemble (also true for a standalone server, as Exhibitor reports it). */
  leader: boolean
  /** leader, follower, observer, standalone (zk form only: Exhibitor does not report it). */
  mode?: string
  /** Why the node is not healthy, when there is more to say than its status. */
  problem?: string
  status: NodeState
  /** Number of znodes on the node (zk form only). */
  znodes?: number
  /** Last zxid the node processed, in hex (zk form only). */
  zxid?: string
}

export interface ClusterStatus {
  healthy: boolean
  nodes: NodeStatus[]
  source: 'exhibitor' | 'zk'
  /** One line: "healthy: ..." or "not healthy: ..." naming the nodes or the problem. */
  verdict: string
}

export interface JudgeOptions {
  /** The number of nodes the ensemble should have; a different number reported is unhealthy. */
  expect?: number
  /** Most transactions a node may be behind the leader (zk form only). */
  maxLag?: number
}

export interface ZkCheckOptions extends JudgeOptions {
  /** Timeout of each node's `srvr`, in ms. */
  timeoutMs: number
  /** Ask over TLS (secureClientPorts answer `srvr` too). */
  tls?: ZkTlsOptions
}

export interface ExhibitorCheckOptions {
  /** PEM CA certificate(s) to trust for https (a private CA); the system CAs otherwise. */
  ca?: Buffer | string
  expect?: number
  /** Timeout of the whole request (connection, headers and body), in ms. */
  timeoutMs: number
}

const STATUS_PATH = '/exhibitor/v1/cluster/status'
const MAX_BODY_BYTES = 1024 * 1024

// ---------------------------------------------------------------------------
// ZooKeeper directly

/** Asks every node `srvr` in parallel, each with its own timeout. */
export async function checkZkNodes(hosts: string[], options: ZkCheckOptions): Promise<ClusterStatus> {
  const nodes = await Promise.all(
    hosts.map(async (host): Promise<NodeStatus> => {
      try {
        return fromSrvr(
          await withDeadline(
            srvr(host, options.timeoutMs, options.tls),
            options.timeoutMs + 250,
            `no answer within ${options.timeoutMs} ms`,
          ),
        )
      } catch (error) {
        return {host, leader: false, problem: networkProblem(error, options.timeoutMs), status: 'unreachable'}
      }
    }),
  )
  return judgeCluster('zk', addLag(nodes), options)
}

function fromSrvr(report: SrvrReport): NodeStatus {
  const {host, mode, raw} = report
  const base = {
    host,
    leader: false,
    znodes: report.znodeCount,
    zxid: report.zxid === undefined ? undefined : hexZxid(report.zxid),
  }
  if (mode === 'read-only') return {...base, mode, problem: 'no quorum', status: 'read-only'}
  if (mode !== undefined) return {...base, leader: mode === 'leader' || mode === 'standalone', mode, status: 'serving'}
  if (/not currently serving requests/i.test(raw))
    return {host, leader: false, problem: 'no quorum, or still joining', status: 'not serving'}
  if (/not in the whitelist/i.test(raw))
    return {host, leader: false, problem: 'srvr is refused: add it to 4lw.commands.whitelist', status: 'unknown'}
  const first = raw.trim().split('\n')[0]?.slice(0, 100)
  return {
    host,
    leader: false,
    problem: first ? `unexpected answer to srvr: "${first}"` : 'empty answer to srvr',
    status: 'unknown',
  }
}

/** Sets each serving node's lag behind the leader's zxid, when there is exactly one leader. */
function addLag(nodes: NodeStatus[]): NodeStatus[] {
  const leaders = nodes.filter((node) => node.leader)
  const leaderZxid = leaders.length === 1 && leaders[0].zxid !== undefined ? BigInt(leaders[0].zxid) : undefined
  if (leaderZxid === undefined) return nodes
  return nodes.map((node) =>
    node.status === 'serving' && node.zxid !== undefined
      ? {...node, lag: zxidLag(leaderZxid, BigInt(node.zxid))}
      : node,
  )
}

/**
 * Transactions `node` is behind `leader`. A zxid is epoch << 32 | counter, and a new epoch starts at
 * counter 0 with no transaction: a node still at a zxid of an older epoch has missed the leader's
 * transactions of this epoch (its counter), not 2^32 of them. What it may have missed of the
 * older epoch cannot be told from the zxids and is not counted.
 */
export function zxidLag(leader: bigint, node: bigint): number {
  const epoch = (zxid: bigint) => zxid >> 32n
  const counter = (zxid: bigint) => zxid & 0xff_ff_ff_ffn
  if (epoch(node) === epoch(leader))
    return Number(counter(leader) > counter(node) ? counter(leader) - counter(node) : 0n)
  return epoch(node) < epoch(leader) ? Number(counter(leader)) : 0
}

// ---------------------------------------------------------------------------
// Exhibitor

/**
 * The status URL of an Exhibitor: its root (http://host:8181) or DC/OS's proxy
 * (https://master/exhibitor) followed by /exhibitor/v1/cluster/status. A URL that already ends
 * with that path is used as it is.
 */
export function exhibitorStatusUrl(url: string): URL {
  let parsed: URL
  try {
    parsed = new URL(url.trim())
  } catch {
    throw new UsageError(`Invalid Exhibitor URL "${url}": use http(s)://host[:port][/path]`)
  }

  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw new UsageError(`Invalid Exhibitor URL "${url}": only http and https are supported`)
  }

  if (parsed.username || parsed.password) throw new UsageError('Credentials do not belong in the Exhibitor URL')
  const path = parsed.pathname.replace(/\/+$/, '')
  parsed.pathname = path.endsWith(STATUS_PATH) ? path : `${path}${STATUS_PATH}`
  parsed.hash = ''
  return parsed
}

/** Fetches Exhibitor's view of the ensemble. Failures to get or read it give an unhealthy status, not an error. */
export async function checkExhibitor(url: string, options: ExhibitorCheckOptions): Promise<ClusterStatus> {
  const statusUrl = exhibitorStatusUrl(url)
  const where = `Exhibitor at ${statusUrl.href}`
  let body: string
  try {
    const response = await sendRequest(statusUrl, {
      ca: options.ca,
      headers: {accept: 'application/json'},
      maxBodyBytes: MAX_BODY_BYTES,
      method: 'GET',
      timeoutMs: options.timeoutMs,
    })
    if (response.status < 200 || response.status > 299) {
      const location = response.location ? ` (redirected to ${response.location}: use that URL)` : ''
      return unknown(
        'exhibitor',
        `${where} answered HTTP ${response.status}${response.statusText ? ` ${response.statusText}` : ''}${location}`,
      )
    }

    body = response.body
  } catch (error) {
    return unknown('exhibitor', `cannot get the status from ${where}: ${networkProblem(error, options.timeoutMs)}`)
  }

  let json: unknown
  try {
    json = JSON.parse(body)
  } catch (error) {
    return unknown('exhibitor', `${where} sent malformed JSON (${errorMessage(error)})`)
  }

  const problem = exhibitorFormatProblem(json)
  if (problem) return unknown('exhibitor', `${where} sent an unexpected answer: ${problem}`)
  const entries = json as ExhibitorEntry[]
  if (entries.length === 0) return unknown('exhibitor', `${where} reported no nodes`)
  return judgeCluster(
    'exhibitor',
    entries.map((entry) => fromExhibitor(entry)),
    options,
  )
}

interface ExhibitorEntry {
  code: number
  description?: string
  hostname: string
  isLeader?: boolean
}

const EXHIBITOR_CODES: Record<number, NodeState> = {0: 'latent', 1: 'down', 2: 'not serving', 3: 'serving'}

function exhibitorFormatProblem(json: unknown): string | undefined {
  if (!Array.isArray(json))
    return `expected an array of {hostname, code, description, isLeader}, got ${json === null ? 'null' : typeof json}`
  for (const [index, entry] of json.entries()) {
    if (typeof entry !== 'object' || entry === null) return `entry ${index} is not an object`
    const {code, hostname, isLeader} = entry as Record<string, unknown>
    if (typeof hostname !== 'string' || hostname === '') return `entry ${index} has no hostname`
    if (typeof code !== 'number') return `entry ${index} (${hostname}) has no numeric code`
    if (isLeader !== undefined && typeof isLeader !== 'boolean')
      return `entry ${index} (${hostname}) has a non-boolean isLeader`
  }

  return undefined
}

function fromExhibitor(entry: ExhibitorEntry): NodeStatus {
  // Only code 3 means the same in every Exhibitor version; the others are reported as Exhibitor describes them.
  const status = EXHIBITOR_CODES[entry.code] ?? 'unknown'
  const node: NodeStatus = {host: entry.hostname, leader: entry.isLeader === true, status}
  if (status === 'unknown') node.problem = `code ${entry.code}${entry.description ? ` "${entry.description}"` : ''}`
  else if (status === 'latent') node.problem = "Exhibitor's configuration is incomplete"
  return node
}

/** A short reason for a failed connection: "connection refused", "no answer within 5000 ms", ... */
function networkProblem(error: unknown, timeoutMs: number): string {
  const code = (error as NodeJS.ErrnoException | undefined)?.code
  if (error instanceof HttpTimeoutError || code === 'ETIMEDOUT') return `no answer within ${timeoutMs} ms`
  if (code === 'ECONNREFUSED') return 'connection refused'
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return 'host not found'
  if (code === 'ECONNRESET') return 'connection reset'
  if (code === 'EHOSTUNREACH' || code === 'ENETUNREACH') return 'host unreachable'
  const message = errorMessage(error)
  if (/^no answer .*within \d+ ms$/.test(message)) return `no answer within ${timeoutMs} ms`
  return code && !message.includes(code) ? `${message} (${code})` : message
}

function withDeadline<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(message)), ms)
  })
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer))
}

// ---------------------------------------------------------------------------
// The verdict

function unknown(source: ClusterStatus['source'], problem: string): ClusterStatus {
  return {healthy: false, nodes: [], source, verdict: `not healthy: ${problem}`}
}

/**
 * Healthy: at least one node, every node serving, exactly one leader (a standalone server counts
 * as one when it is the only node), no node lagging more than maxLag, and the expected number of
 * nodes. Otherwise the verdict lists every problem found.
 */
export function judgeCluster(
  source: ClusterStatus['source'],
  nodes: NodeStatus[],
  options: JudgeOptions = {},
): ClusterStatus {
  const problems: string[] = []
  if (nodes.length === 0) problems.push('no nodes reported')
  for (const node of nodes) {
    if (node.status !== 'serving')
      problems.push(
        `${node.host} is ${node.status}${node.problem && node.problem !== node.status ? ` (${node.problem})` : ''}`,
      )
  }

  const leaders = nodes.filter((node) => node.leader)
  if (nodes.length > 0 && leaders.length === 0) problems.push('no leader')
  if (leaders.length > 1) problems.push(`${leaders.length} leaders (${leaders.map((node) => node.host).join(', ')})`)
  if (nodes.length > 1) {
    for (const node of nodes)
      if (node.mode === 'standalone') problems.push(`${node.host} runs standalone, not in the ensemble`)
  }

  if (options.maxLag !== undefined) {
    for (const node of nodes) {
      if (node.lag !== undefined && node.lag > options.maxLag) {
        node.problem = `${node.lag} transactions behind the leader`
        problems.push(`${node.host} lags the leader by ${node.lag} transactions (more than ${options.maxLag})`)
      }
    }
  }

  if (options.expect !== undefined && nodes.length > 0 && nodes.length !== options.expect) {
    const missing = options.expect - nodes.length
    const what = missing > 0 ? `${missing} node${missing === 1 ? '' : 's'} missing` : `${-missing} more than expected`
    problems.push(`${nodes.length} node${nodes.length === 1 ? '' : 's'} reported, ${options.expect} expected (${what})`)
  }

  if (problems.length > 0) return {healthy: false, nodes, source, verdict: `not healthy: ${problems.join('; ')}`}
  const leader = leaders[0]
  const verdict =
    nodes.length === 1 && leader.mode === 'standalone'
      ? `healthy: standalone server ${leader.host} serving`
      : `healthy: ${nodes.length} of ${nodes.length} nodes serving, leader ${leader.host}`
  return {healthy: true, nodes, source, verdict}
}
