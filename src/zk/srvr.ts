import {openSocket, speaksTls, speaksTlsError, tlsFailure, type ZkTlsOptions} from './tls.js'

export interface SrvrReport {
  host: string
  /** leader, follower, observer, standalone, read-only; undefined when the node does not serve. */
  mode?: string
  raw: string
  serving: boolean
  znodeCount?: number
  zxid?: number
}

/**
 * Asks one node `srvr` (the four-letter word allowed by default since 3.5.3) and parses the answer.
 * A secureClientPort answers it too, over TLS (`tls`), after the handshake.
 */
export async function srvr(host: string, timeoutMs = 3000, tls?: ZkTlsOptions): Promise<SrvrReport> {
  const [name, port] = splitHostPort(host)
  const started = Date.now()
  const report = await ask(host, name, port, timeoutMs, tls)
  // A secureClientPort closes a plain connection without a word (a node not serving yet may too).
  if (!tls && report.raw === '' && (await speaksTls(name, port, Math.max(250, timeoutMs - (Date.now() - started)))))
    throw speaksTlsError(host)
  return report
}

function ask(host: string, name: string, port: number, timeoutMs: number, tls?: ZkTlsOptions): Promise<SrvrReport> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    let secured = false
    const {ready, socket} = openSocket(name, port, tls)
    socket.setTimeout(timeoutMs, () => socket.destroy(new Error(`no answer from ${host} within ${timeoutMs} ms`)))
    socket.on(ready, () => {
      secured = true
      // Over TLS the word is not followed by a close: ZooKeeper closes once it has answered.
      if (tls) socket.write('srvr')
      else socket.end('srvr')
    })
    socket.on('data', (chunk: Buffer) => chunks.push(chunk))
    socket.on('error', (error) => reject(tls ? (tlsFailure(host, error, secured) ?? error) : error))
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
export async function highestZxid(hosts: string[], tls?: ZkTlsOptions, timeoutMs = 3000): Promise<number | undefined> {
  const reports = await Promise.allSettled(hosts.map((host) => srvr(host, timeoutMs, tls)))
  const zxids = reports.flatMap((report) =>
    report.status === 'fulfilled' && report.value.zxid !== undefined ? [report.value.zxid] : [],
  )
  return zxids.length === 0 ? undefined : Math.max(...zxids)
}

function splitHostPort(host: string): [string, number] {
  const colon = host.lastIndexOf(':')
  return [host.slice(0, colon).replaceAll(/^\[|\]$/g, ''), Number(host.slice(colon + 1))]
}
