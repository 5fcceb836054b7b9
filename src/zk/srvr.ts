import {connect} from 'node:net'

export interface SrvrReport {
  host: string
  /** leader, follower, observer, standalone, read-only; undefined when the node does not serve. */
  mode?: string
  zxid?: number
  znodeCount?: number
  serving: boolean
  raw: string
}

/** Asks one node `srvr` (the four-letter word allowed by default since 3.5.3) and parses the answer. */
export function srvr(host: string, timeoutMs = 3000): Promise<SrvrReport> {
  const [name, port] = splitHostPort(host)
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    const socket = connect({host: name, port})
    socket.setTimeout(timeoutMs, () => socket.destroy(new Error(`no answer from ${host} within ${timeoutMs} ms`)))
    socket.on('connect', () => socket.end('srvr'))
    socket.on('data', (chunk: Buffer) => chunks.push(chunk))
    socket.on('error', reject)
    socket.on('close', (hadError) => {
      if (!hadError) resolve(parseSrvr(host, Buffer.concat(chunks).toString('utf8')))
    })
  })
}

export function parseSrvr(host: string, raw: string): SrvrReport {
  const field = (name: string) => new RegExp(`^${name}:\\s*(.+)$`, 'm').exec(raw)?.[1]?.trim()
  const mode = field('Mode')
  const zxid = field('Zxid')
  const count = field('Node count')
  return {
    host,
    mode,
    raw,
    serving: mode !== undefined,
    znodeCount: count === undefined ? undefined : Number(count),
    zxid: zxid === undefined ? undefined : Number(BigInt(zxid)),
  }
}

/**
 * The highest zxid any reachable node reports: the newest transaction the ensemble has committed.
 * Undefined when no node answers `srvr` (it can be disabled by 4lw.commands.whitelist).
 */
export async function highestZxid(hosts: string[], timeoutMs = 3000): Promise<number | undefined> {
  const reports = await Promise.allSettled(hosts.map((host) => srvr(host, timeoutMs)))
  const zxids = reports.flatMap((report) => (report.status === 'fulfilled' && report.value.zxid !== undefined ? [report.value.zxid] : []))
  return zxids.length === 0 ? undefined : Math.max(...zxids)
}

function splitHostPort(host: string): [string, number] {
  const colon = host.lastIndexOf(':')
  return [host.slice(0, colon).replace(/^\[|\]$/g, ''), Number(host.slice(colon + 1))]
}
