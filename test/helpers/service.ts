import type {FastifyInstance} from 'fastify'
/**
 * The backup service in-process on a free loopback port, over real HTTP, with its log lines kept
 * for assertions.
 */
import type {ChildProcess} from 'node:child_process'

import {createInterface} from 'node:readline'
import {Writable} from 'node:stream'

import {resolveLocation} from '../../src/providers/index.js'
import {API_PREFIX, type BackupInfo} from '../../src/service/api.js'
import {createHttpServer, createServiceLogger, listen} from '../../src/service/http.js'
import {BackupService, type ServiceOptions} from '../../src/service/service.js'
import {spawnDcos} from './cli.js'
import {recordOutput} from './secrets.js'
import {eventually} from './wait.js'

export interface RunningService {
  app: FastifyInstance
  /** Every log line so far, as written. */
  logs: string[]
  service: BackupService
  stop(): Promise<void>
  /** http://127.0.0.1:<port>: the cluster URL a client is given. */
  url: string
}

export interface StartOptions extends Partial<Omit<ServiceOptions, 'log' | 'storage'>> {
  hosts: string[]
  storage: string
  token?: string
}

export async function startService(options: StartOptions): Promise<RunningService> {
  const logs: string[] = []
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      logs.push(...chunk.toString('utf8').split('\n').filter(Boolean))
      recordOutput('the backup service log', chunk)
      done()
    },
  })
  const logger = createServiceLogger('debug', sink)
  const {hosts, storage, token, ...rest} = options
  const service = new BackupService({
    components: [{name: 'marathon', path: '/marathon'}],
    version: 'test',
    ...rest,
    log: logger,
    storage: resolveLocation(storage),
    zk: {connectTimeoutMs: 5000, hosts, sessionTimeoutMs: 6000, ...rest.zk},
  })
  await service.start()
  const app = createHttpServer({logger, service, token})
  const url = await listen(app, {host: '127.0.0.1', port: 0})
  return {
    app,
    logs,
    service,
    async stop() {
      await app.close()
      await service.stop()
    },
    url,
  }
}

export interface ApiAnswer {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- whatever JSON the route answered; each test reads what it asserts
  body: any
  status: number
  text: string
}

/** Backup `id` as the service lists it, once `done` holds for it (polled). */
export function listedBackup(
  url: string,
  id: string,
  done: (backup: BackupInfo) => boolean,
  timeoutMs?: number,
): Promise<BackupInfo> {
  return eventually(
    `backup ${id} to settle`,
    async () => {
      const backup = ((await api(url, 'GET', `/list?prefix=${id}`)).body.backup_info as BackupInfo[] | undefined)?.find(
        (entry) => entry.id === id,
      )
      return backup && done(backup) ? backup : undefined
    },
    timeoutMs,
  )
}

/** One request to `<url>/system/v1/backup/v1<route>` (or `prefix` instead), JSON in and out. */
export async function api(
  url: string,
  method: string,
  route: string,
  body?: object,
  {headers = {}, prefix = API_PREFIX} = {},
): Promise<ApiAnswer> {
  const response = await fetch(`${url}${prefix}${route}`, {
    body: body === undefined ? undefined : JSON.stringify(body),
    headers: {
      accept: 'application/json',
      ...(body === undefined ? {} : {'content-type': 'application/json'}),
      ...headers,
    },
    method,
  })
  const text = await response.text()
  let parsed: unknown
  try {
    parsed = text === '' ? undefined : JSON.parse(text)
  } catch {
    parsed = undefined
  }

  return {body: parsed, status: response.status, text}
}

export interface ServeProcess {
  child: ChildProcess
  /** Its log, a JSON object per line. */
  lines: string[]
  url: string
}

const serving = new Set<ChildProcess>()

/** `dcos backup serve` as a child process on a free port; resolves once it listens. */
export async function serveProcess(args: string[]): Promise<ServeProcess> {
  const {child, exited} = spawnDcos(['backup', 'serve', '--listen', '127.0.0.1:0', ...args])
  serving.add(child)
  child.once('exit', () => serving.delete(child))
  const lines: string[] = []
  const url = await new Promise<string>((resolve, reject) => {
    createInterface({input: child.stdout!}).on('line', (line) => {
      lines.push(line)
      const entry = JSON.parse(line) as {address?: string; msg: string}
      if (entry.msg === 'backup service listening') resolve(entry.address!)
    })
    exited.then(({code, stderr}) => reject(new Error(`dcos backup serve exited with ${code}: ${stderr}`)), reject)
  })
  return {child, lines, url}
}

/** SIGKILLs a process and waits for it to be gone. */
export async function killProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return
  const exited = new Promise((resolve) => child.once('exit', resolve))
  child.kill('SIGKILL')
  await exited
}

/** Kills every `dcos backup serve` still running (an after hook). */
export async function stopServeProcesses(): Promise<void> {
  await Promise.all([...serving].map((child) => killProcess(child)))
}
