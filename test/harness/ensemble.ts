/**
 * Test harness: a real ZooKeeper ensemble made of local JVM processes.
 *
 * Runs Debian's `zookeeper` package (3.8.0, jars in /usr/share/java) by default, or 3.4.13 or
 * 3.9.3 fetched from Debian's archive on first use (`version`; see zookeeper-releases.ts). Every node
 * gets its own directory under the ensemble directory:
 *
 *   <dir>/log4j.properties      shared logging config (log4j 1.2 via slf4j-log4j12)
 *   <dir>/node<N>/zoo.cfg
 *   <dir>/node<N>/data/myid
 *   <dir>/node<N>/datalog/      only with `dataLogDirs: true`
 *   <dir>/node<N>/zookeeper.log everything the JVM prints (log4j logs to the console,
 *                               the process stdout/stderr are appended to this file)
 *
 * All ports are loopback ports from this process's block (ports.ts). Processes are SIGKILLed when the
 * Node process exits (or gets SIGINT/SIGTERM/SIGHUP), so nothing outlives a test run.
 */
import {ChildProcess, spawn} from 'node:child_process'
import * as fs from 'node:fs'
import * as fsp from 'node:fs/promises'
import * as net from 'node:net'
import * as os from 'node:os'
import {join} from 'node:path'
import * as tls from 'node:tls'

import {claimPorts} from './ports.js'
import {zookeeperClasspath, type ZookeeperVersion} from './zookeeper-releases.js'

export interface EnsembleOptions {
  adminRateLimitMs?: number
  /**
   * Run every node's AdminServer (3.5+; its snapshot command is 3.9+) on a loopback port of its own
   * (`node.adminPort`, `adminUrl(node)`), with the snapshot command's rate limit lowered to
   * `adminRateLimitMs` (default 0: a request may follow another at once). Default false.
   */
  adminServer?: boolean
  /** Extra zoo.cfg lines for every node (they override the harness defaults of the same key). */
  config?: Record<string, string>
  /** Give every node a separate dataLogDir (transaction logs) next to its dataDir. Default false. */
  dataLogDirs?: boolean
  /** Directory to put the nodes in; default a fresh mkdtemp under os.tmpdir() (removed by stop()). */
  dir?: string
  /** Extra JVM flags (appended after the harness flags, so they win). */
  jvmFlags?: string[]
  /** Number of nodes; 1 starts a standalone server. Default 3. */
  nodes?: number
  /** SASL DIGEST-MD5 users (user: password) of a JAAS Server section with DigestLoginModule. */
  saslUsers?: Record<string, string>
  /** zoo.cfg tickTime in ms. Default 500 (quick elections). */
  tickTime?: number
  /** Serve clients over TLS on a secureClientPort (3.5+, Netty); see test/harness/tls.ts for the stores. */
  tls?: EnsembleTlsOptions
  /** ZooKeeper line to run. Default '3.8' (the installed package). */
  version?: ZookeeperVersion
}

export interface EnsembleTlsOptions {
  /** What the harness itself presents when it asks a node `srvr` over TLS. */
  client: tls.ConnectionOptions
  /** ssl.clientAuth: need (the default here: x509 authentication), want or none. */
  clientAuth?: 'need' | 'none' | 'want'
  /** PKCS12 key store holding the node's certificate and key. */
  keyStore: string
  password: string
  /** Keep the plain clientPort open beside the secure one. Default false: TLS only. */
  plainPort?: boolean
  /** PKCS12 trust store holding the CA as a trusted-certificate entry. */
  trustStore: string
}

export interface EnsembleNode {
  /** The AdminServer's port, when the ensemble was started with `adminServer: true`. */
  adminPort?: number
  /** The plain client port; with `tls` and no `plainPort`, nothing listens on it. */
  clientPort: number
  configFile: string
  dataDir: string
  /** Equals dataDir unless the ensemble was started with `dataLogDirs: true`. */
  dataLogDir: string
  id: number
  pid?: number
  running: boolean
  /** The secureClientPort, with `tls`. */
  securePort?: number
}

/** http://127.0.0.1:<adminPort> of a node started with `adminServer: true`. */
export function adminUrl(node: EnsembleNode): string {
  if (node.adminPort === undefined)
    throw new Error(`node ${node.id} has no AdminServer: start the ensemble with adminServer: true`)
  return `http://127.0.0.1:${node.adminPort}`
}

export {
  JAVA_DIR,
  NOT_INSTALLED_MESSAGE,
  ZOOKEEPER_JAR,
  ZOOKEEPER_VERSIONS,
  type ZookeeperVersion,
} from './zookeeper-releases.js'

const LOG4J_PROPERTIES = `# written by test/harness/ensemble.ts
log4j.rootLogger=INFO, CONSOLE
log4j.appender.CONSOLE=org.apache.log4j.ConsoleAppender
log4j.appender.CONSOLE.Target=System.out
log4j.appender.CONSOLE.layout=org.apache.log4j.PatternLayout
log4j.appender.CONSOLE.layout.ConversionPattern=%d{ISO8601} - %-5p [%t:%C{1}@%L] - %m%n
`

const START_TIMEOUT_MS = 60_000
const STOP_GRACE_MS = 5000
const POLL_MS = 150
const LOG_TAIL_LINES = 40

// ---------------------------------------------------------------------------
// Process bookkeeping: no JVM may outlive the Node process.

const liveChildren = new Set<ChildProcess>()
let exitHandlersInstalled = false

function killAllChildren(): void {
  for (const child of liveChildren) {
    try {
      child.kill('SIGKILL')
    } catch {
      // already gone
    }
  }

  liveChildren.clear()
}

function installExitHandlers(): void {
  if (exitHandlersInstalled) return
  exitHandlersInstalled = true
  process.on('exit', killAllChildren)
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    const handler = (): void => {
      killAllChildren()
      process.removeListener(signal, handler)
      // Keep the default behaviour (terminate) unless somebody else handles the signal.
      if (process.listenerCount(signal) === 0) process.kill(process.pid, signal)
    }

    process.on(signal, handler)
  }
}

// ---------------------------------------------------------------------------
// Helpers

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

/** Send a four-letter word to 127.0.0.1:port (over TLS with `secure`) and return the whole answer. */
export function fourLetterWord(
  port: number,
  word: string,
  timeoutMs = 2000,
  secure?: tls.ConnectionOptions,
): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    let settled = false
    const socket = secure ? tls.connect({...secure, host: '127.0.0.1', port}) : net.connect({host: '127.0.0.1', port})
    const finish = (err?: Error): void => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      socket.destroy()
      const text = Buffer.concat(chunks).toString('utf8')
      // A reset after a complete answer is still an answer.
      if (err && text.length === 0) reject(err)
      else resolve(text)
    }

    const timer = setTimeout(
      () => finish(new Error(`"${word}" to 127.0.0.1:${port} timed out after ${timeoutMs} ms`)),
      timeoutMs,
    )
    socket.on(secure ? 'secureConnect' : 'connect', () => socket.write(word))
    socket.on('data', (chunk: Buffer) => chunks.push(chunk))
    socket.on('end', () => finish())
    socket.on('close', () => finish(new Error(`connection to 127.0.0.1:${port} closed without an answer`)))
    socket.on('error', (err) => finish(err))
  })
}

async function tail(file: string, lines = LOG_TAIL_LINES): Promise<string> {
  try {
    const text = await fsp.readFile(file, 'utf8')
    return text
      .split('\n')
      .slice(-lines - 1)
      .join('\n')
  } catch (error) {
    return `(no log: ${(error as Error).message})`
  }
}

/** zoo.cfg lines of the AdminServer: off, or on the loopback port given. */
function adminConfig(port: number | undefined): [string, string][] {
  if (port === undefined) return [['admin.enableServer', 'false']]
  return [
    ['admin.enableServer', 'true'],
    ['admin.serverAddress', '127.0.0.1'],
    ['admin.serverPort', String(port)],
  ]
}

// ---------------------------------------------------------------------------

interface NodeState extends EnsembleNode {
  child?: ChildProcess
  dir: string
  electionPort: number
  exited?: Promise<void>
  lastExit?: string
  logFile: string
  peerPort: number
}

export class Ensemble {
  readonly dir: string
  readonly nodes: EnsembleNode[]
  /** The ZooKeeper line the nodes run. */
  readonly version: ZookeeperVersion
  private readonly classpath: string
  private readonly log4jFile: string
  private readonly options: EnsembleOptions
  private readonly ownsDir: boolean
  private readonly states: NodeState[]
  private stopped = false

  private constructor(dir: string, ownsDir: boolean, options: EnsembleOptions, classpath: string, states: NodeState[]) {
    this.dir = dir
    this.ownsDir = ownsDir
    this.options = options
    this.version = options.version ?? '3.8'
    this.classpath = classpath
    this.states = states
    this.nodes = states
    this.log4jFile = join(dir, 'log4j.properties')
  }

  /** Start all nodes; resolves once every node serves (answers `srvr` with a `Mode:` line). */
  static async start(options: EnsembleOptions = {}): Promise<Ensemble> {
    const classpath = await zookeeperClasspath(options.version, {adminServer: options.adminServer})
    const count = options.nodes ?? 3
    if (!Number.isInteger(count) || count < 1) throw new Error(`Ensemble: invalid node count ${count}`)

    const ownsDir = options.dir === undefined
    const dir = options.dir ?? (await fsp.mkdtemp(join(os.tmpdir(), 'zk-ensemble-')))
    await fsp.mkdir(dir, {recursive: true})

    const adminSlot = options.adminServer ? 3 : undefined
    const tlsSlot = options.tls ? 3 + (options.adminServer ? 1 : 0) : undefined
    const perNode = 3 + (options.adminServer ? 1 : 0) + (options.tls ? 1 : 0)
    const ports = await claimPorts(count * perNode)
    const states: NodeState[] = []
    for (let i = 0; i < count; i++) {
      const id = i + 1
      const nodeDir = join(dir, `node${id}`)
      const dataDir = join(nodeDir, 'data')
      const dataLogDir = options.dataLogDirs ? join(nodeDir, 'datalog') : dataDir
      states.push({
        id,
        clientPort: ports[i * perNode],
        peerPort: ports[i * perNode + 1],
        electionPort: ports[i * perNode + 2],
        ...(adminSlot === undefined ? {} : {adminPort: ports[i * perNode + adminSlot]}),
        securePort: tlsSlot === undefined ? undefined : ports[i * perNode + tlsSlot],
        dataDir,
        dataLogDir,
        configFile: join(nodeDir, 'zoo.cfg'),
        dir: nodeDir,
        logFile: join(nodeDir, 'zookeeper.log'),
        running: false,
      })
    }

    const ensemble = new Ensemble(dir, ownsDir, options, classpath, states)
    try {
      await ensemble.writeFiles()
      installExitHandlers()
      for (const node of states) ensemble.spawnNode(node)
      await ensemble.waitServing(undefined, START_TIMEOUT_MS)
    } catch (error) {
      await ensemble.stop().catch(() => undefined)
      throw error
    }

    return ensemble
  }

  /** "127.0.0.1:p1,127.0.0.1:p2,…" of all nodes (running or not). */
  get connectString(): string {
    return this.states.map((n) => `127.0.0.1:${n.clientPort}`).join(',')
  }

  private get jaasFile(): string {
    return join(this.dir, 'jaas.conf')
  }

  /** "127.0.0.1:s1,…" of the nodes' secureClientPorts (with `tls`). */
  get secureConnectString(): string {
    return this.states.map((n) => `127.0.0.1:${n.securePort}`).join(',')
  }

  /** SIGKILL; resolves once the process exited. */
  async killNode(id: number): Promise<void> {
    const node = this.node(id)
    const {child, exited} = node
    if (!child || !exited || !node.running) return
    child.kill('SIGKILL')
    await exited
  }

  /** Path of a node's log file. */
  logFile(id: number): string {
    return this.node(id).logFile
  }

  /** Mode of a node (`leader`, `follower`, `standalone`, …) or undefined if it does not serve. */
  async mode(id: number): Promise<string | undefined> {
    try {
      return /^Mode: (\S+)/m.exec(await this.srvr(id))?.[1]
    } catch {
      return undefined
    }
  }

  /** Connect string of a single node. */
  nodeConnectString(id: number): string {
    return `127.0.0.1:${this.node(id).clientPort}`
  }

  /** Raw answer of a node to the `srvr` four-letter word. Rejects if the node cannot be reached. */
  srvr(id: number, timeoutMs = 2000): Promise<string> {
    const node = this.node(id)
    const secure = this.options.tls
    // A secureClientPort answers four-letter words too, after the handshake.
    if (secure && !secure.plainPort) return fourLetterWord(node.securePort!, 'srvr', timeoutMs, secure.client)
    return fourLetterWord(node.clientPort, 'srvr', timeoutMs)
  }

  /**
   * Restart a stopped node (same ports, same data). If the running nodes then form a quorum
   * (or the ensemble is a single standalone node), resolves once the node serves; otherwise
   * resolves once it answers `srvr` at all (it then reports "not currently serving requests").
   */
  async startNode(id: number): Promise<void> {
    if (this.stopped) throw new Error('Ensemble: already stopped')
    const node = this.node(id)
    if (!node.running) this.spawnNode(node)
    const running = this.states.filter((n) => n.running).length
    await (running * 2 > this.states.length
      ? this.waitServing([id], START_TIMEOUT_MS)
      : this.waitFor([id], START_TIMEOUT_MS, () => true, 'answer srvr'))
  }

  /** Restart every stopped node at once (each JVM start takes seconds); resolves once all nodes serve. */
  async startStopped(): Promise<void> {
    await Promise.all(this.states.filter((n) => !n.running).map((n) => this.startNode(n.id)))
    await this.waitServing()
  }

  /** Kill every node and remove the temp directory (unless `options.dir` was given). */
  async stop(): Promise<void> {
    this.stopped = true
    await Promise.all(this.states.map((n) => this.killNode(n.id)))
    if (this.ownsDir) await fsp.rm(this.dir, {recursive: true, force: true})
  }

  /** SIGTERM, then SIGKILL after 5 s; resolves once the process exited. */
  async stopNode(id: number): Promise<void> {
    const node = this.node(id)
    const {child, exited} = node
    if (!child || !exited || !node.running) return
    child.kill('SIGTERM')
    const timer = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS)
    try {
      await exited
    } finally {
      clearTimeout(timer)
    }
  }

  // -------------------------------------------------------------------------

  /** Wait until the given nodes (default: all) answer `srvr` with a `Mode:` line. */
  waitServing(ids?: number[], timeoutMs = START_TIMEOUT_MS): Promise<void> {
    return this.waitFor(ids ?? this.states.map((n) => n.id), timeoutMs, (a) => /^Mode: /m.test(a), 'serve')
  }

  private node(id: number): NodeState {
    const node = this.states.find((n) => n.id === id)
    if (!node) throw new Error(`Ensemble: no node ${id} (nodes are 1..${this.states.length})`)
    return node
  }

  private setTlsConfig(cfg: Map<string, string>, node: NodeState, options: EnsembleTlsOptions): void {
    if (!options.plainPort) {
      cfg.delete('clientPort')
      cfg.delete('clientPortAddress')
    }

    // zoo.cfg keys ZooKeeper does not know become zookeeper.<key> system properties: ssl.* included.
    const entries: Array<[string, string]> = [
      ['serverCnxnFactory', 'org.apache.zookeeper.server.NettyServerCnxnFactory'],
      ['secureClientPort', String(node.securePort)],
      ['secureClientPortAddress', '127.0.0.1'],
      ['ssl.keyStore.location', options.keyStore],
      ['ssl.keyStore.password', options.password],
      ['ssl.keyStore.type', 'PKCS12'],
      ['ssl.trustStore.location', options.trustStore],
      ['ssl.trustStore.password', options.password],
      ['ssl.trustStore.type', 'PKCS12'],
      ['ssl.clientAuth', options.clientAuth ?? 'need'],
      ['authProvider.x509', 'org.apache.zookeeper.server.auth.X509AuthenticationProvider'],
    ]
    for (const [key, value] of entries) cfg.set(key, value)
  }

  private spawnNode(node: NodeState): void {
    const standalone = this.states.length === 1
    const mainClass = standalone
      ? 'org.apache.zookeeper.server.ZooKeeperServerMain'
      : 'org.apache.zookeeper.server.quorum.QuorumPeerMain'
    const java = process.env.JAVA_HOME ? join(process.env.JAVA_HOME, 'bin', 'java') : 'java'
    const args = [
      '-Xmx256m',
      '-XX:+UseSerialGC',
      '-XX:TieredStopAtLevel=1',
      '-Djava.net.preferIPv4Stack=true',
      '-Dzookeeper.extendedTypesEnabled=true',
      `-Dzookeeper.admin.enableServer=${node.adminPort !== undefined}`,
      ...(node.adminPort === undefined
        ? []
        : [`-Dzookeeper.admin.rateLimiterIntervalInMS=${this.options.adminRateLimitMs ?? 0}`]),
      '-Dzookeeper.jmx.log4j.disable=true',
      // Keep re-elections after failures quick (default backs off up to 60 s).
      '-Dzookeeper.fastleader.maxNotificationInterval=2000',
      '-Dzookeeper.cnxTimeout=2000',
      `-Dzookeeper.log.dir=${node.dir}`,
      '-Dzookeeper.log.file=zookeeper.log',
      '-Dzookeeper.root.logger=INFO,CONSOLE',
      `-Dlog4j.configuration=file:${this.log4jFile}`,
      ...(this.options.saslUsers ? [`-Djava.security.auth.login.config=${this.jaasFile}`] : []),
      ...(this.options.jvmFlags ?? []),
      '-cp',
      this.classpath,
      mainClass,
      node.configFile,
    ]

    const logFd = fs.openSync(node.logFile, 'a')
    let child: ChildProcess
    try {
      fs.writeSync(
        logFd,
        `\n==== ${new Date().toISOString()} harness: starting node ${node.id}: ${java} ${args.join(' ')}\n`,
      )
      child = spawn(java, args, {cwd: node.dir, stdio: ['ignore', logFd, logFd], env: process.env})
    } finally {
      fs.closeSync(logFd)
    }

    node.child = child
    node.running = true
    node.pid = child.pid
    node.lastExit = undefined
    liveChildren.add(child)
    node.exited = new Promise<void>((resolve) => {
      const done = (description: string): void => {
        liveChildren.delete(child)
        if (node.child === child) {
          node.running = false
          node.pid = undefined
          node.lastExit = description
        }

        resolve()
      }

      child.once('error', (err: NodeJS.ErrnoException) =>
        done(
          err.code === 'ENOENT'
            ? `could not run "${java}": Java is not installed (apt-get install -y default-jre-headless)`
            : `could not start: ${err.message}`,
        ),
      )
      child.once('exit', (code, signal) => done(signal ? `killed by ${signal}` : `exited with code ${code}`))
    })
  }

  private async waitFor(
    ids: number[],
    timeoutMs: number,
    ok: (answer: string) => boolean,
    what: string,
  ): Promise<void> {
    const deadline = Date.now() + timeoutMs
    const last = new Map<number, string>()
    const pending = new Set(ids.map((id) => this.node(id).id))
    while (pending.size > 0) {
      await Promise.all(
        [...pending].map(async (id) => {
          const node = this.node(id)
          if (!node.running) {
            const why = node.lastExit ?? 'is not running'
            throw new Error(
              `ZooKeeper node ${id} ${why} (waiting for it to ${what}); ` +
                `tail of ${node.logFile}:\n${await tail(node.logFile)}`,
            )
          }

          try {
            const answer = await this.srvr(id, 1000)
            last.set(id, answer.trim().split('\n')[0] ?? '')
            if (ok(answer)) pending.delete(id)
          } catch (error) {
            last.set(id, (error as Error).message)
          }
        }),
      )
      if (pending.size === 0) return
      if (Date.now() >= deadline) {
        const details = await Promise.all(
          [...pending].map(async (id) => {
            const node = this.node(id)
            return (
              `node ${id} (client port ${node.clientPort}, pid ${node.pid}) last srvr: ${last.get(id) ?? 'n/a'}\n` +
              `tail of ${node.logFile}:\n${await tail(node.logFile)}`
            )
          }),
        )
        throw new Error(
          `ZooKeeper node(s) ${[...pending].join(', ')} did not ${what} within ${Math.round(timeoutMs / 1000)} s\n` +
            details.join('\n\n'),
        )
      }

      await sleep(POLL_MS)
    }
  }

  private async writeFiles(): Promise<void> {
    await fsp.writeFile(this.log4jFile, LOG4J_PROPERTIES)
    if (this.options.saslUsers) {
      const users = Object.entries(this.options.saslUsers).map(([user, password]) => `  user_${user}="${password}"`)
      await fsp.writeFile(
        this.jaasFile,
        `Server {\n  org.apache.zookeeper.server.auth.DigestLoginModule required\n${users.join('\n')};\n};\n`,
      )
    }

    const standalone = this.states.length === 1
    for (const node of this.states) {
      await fsp.mkdir(node.dataDir, {recursive: true})
      await fsp.mkdir(node.dataLogDir, {recursive: true})
      await fsp.writeFile(join(node.dataDir, 'myid'), `${node.id}\n`)

      const cfg = new Map<string, string>([
        ['tickTime', String(this.options.tickTime ?? 500)],
        // Generous limits: on a loaded 2-core machine a follower can stall for seconds, and with
        // tight limits the quorum drops and re-elects in the middle of a test.
        ['initLimit', '40'],
        ['syncLimit', '20'],
        // Test data needs no durability; fsync on every write was most of a suite's time in the kernel.
        ['forceSync', 'no'],
        ['dataDir', node.dataDir],
        ['clientPort', String(node.clientPort)],
        ['clientPortAddress', '127.0.0.1'],
        ...adminConfig(node.adminPort),
        ['4lw.commands.whitelist', '*'],
        ['maxClientCnxns', '0'],
        ['autopurge.purgeInterval', '0'],
      ])
      if (node.dataLogDir !== node.dataDir) cfg.set('dataLogDir', node.dataLogDir)
      if (!standalone) {
        for (const peer of this.states) {
          cfg.set(`server.${peer.id}`, `127.0.0.1:${peer.peerPort}:${peer.electionPort}`)
        }
      }

      if (this.options.tls) this.setTlsConfig(cfg, node, this.options.tls)
      if (this.options.saslUsers)
        cfg.set('authProvider.sasl', 'org.apache.zookeeper.server.auth.SASLAuthenticationProvider')
      for (const [key, value] of Object.entries(this.options.config ?? {})) cfg.set(key, value)
      const text = [...cfg].map(([k, v]) => `${k}=${v}`).join('\n') + '\n'
      await fsp.writeFile(node.configFile, text)
    }
  }
}
