/**
 * `npm run sandbox`: the main job end to end on this machine. Installs Debian's zookeeper if it is
 * missing (as root), starts a three-node ensemble on loopback ports, seeds a Marathon-like tree,
 * backs it up to ./backups with the real CLI, inspects the archive, changes the live tree and
 * dry-runs a restore. Then it starts the backup service (`dcos backup serve`, storing in
 * ./backups/service) and runs the life cycle through it: create --wait, list, show, restore --wait.
 * On a terminal the ensemble and the service stay up until Ctrl-C so you can try more.
 */
import {type ChildProcess, execFileSync, spawn, spawnSync} from 'node:child_process'
import {createWriteStream, existsSync, mkdirSync} from 'node:fs'
import {createInterface} from 'node:readline'

import {zkConstants, ZkSession} from '../src/zk/session.js'
import {Ensemble, NOT_INSTALLED_MESSAGE, ZOOKEEPER_JAR} from '../test/harness/ensemble.js'

const APPS = 40
const VERSIONS_PER_APP = 10

function installZookeeper(): void {
  if (existsSync(ZOOKEEPER_JAR)) return
  if (process.getuid?.() !== 0) throw new Error(NOT_INSTALLED_MESSAGE)
  step("Installing Debian's zookeeper package")
  execFileSync('apt-get', ['update', '-qq'], {stdio: 'inherit'})
  execFileSync('apt-get', ['install', '-y', '-qq', '--no-install-recommends', 'zookeeper'], {
    env: {...process.env, DEBIAN_FRONTEND: 'noninteractive'},
    stdio: 'inherit',
  })
}

/** The shape of Marathon's state: apps with versions, groups, deployments, leader election. */
async function seedMarathon(session: ZkSession): Promise<number> {
  const json = (value: unknown) => Buffer.from(JSON.stringify(value))
  const paths: Array<[string, Buffer, number?]> = [
    ['/marathon', Buffer.alloc(0)],
    ['/marathon/state', Buffer.alloc(0)],
    ['/marathon/state/framework-id', Buffer.from('a7c5e7c8-4e45-4d6a-9c1a-b5d3f6e1f0aa-0001')],
    ['/marathon/state/apps', Buffer.alloc(0)],
    ['/marathon/state/groups', json({id: '/', version: '2026-11-21T00:00:00.000Z'})],
    ['/marathon/state/deployments', Buffer.alloc(0)],
    ['/marathon/leader', Buffer.alloc(0), zkConstants.ZOO_CONTAINER],
    ['/marathon/leader-curator', Buffer.alloc(0)],
  ]
  for (let app = 0; app < APPS; app++) {
    const id = `/marathon/state/apps/web-${String(app).padStart(3, '0')}`
    paths.push([id, json({cmd: 'python3 -m http.server $PORT0', cpus: 0.1, id: `/web-${app}`, instances: 2, mem: 64})])
    for (let version = 0; version < VERSIONS_PER_APP; version++) {
      paths.push([
        `${id}/2026-11-${String(version + 1).padStart(2, '0')}T00:00:00.000Z`,
        json({id: `/web-${app}`, version}),
      ])
    }
  }

  for (const [path, data, flags] of paths) {
    await session.create(path, data, flags ?? 0)
  }

  await session.create(
    '/marathon/leader/member-0000000000',
    Buffer.from('127.0.0.1:8080'),
    zkConstants.ZOO_EPHEMERAL_SEQUENTIAL ^ zkConstants.ZOO_SEQUENCE,
  )
  return paths.length
}

/** Runs the real CLI, showing the command and its output; returns its stdout. */
function dcos(...args: string[]): string {
  console.log(`\n$ dcos ${args.map((arg) => (/[\s*?]/.test(arg) ? `'${arg}'` : arg)).join(' ')}`)
  const result = spawnSync(process.execPath, ['bin/run.js', ...args], {
    encoding: 'utf8',
    stdio: ['inherit', 'pipe', 'inherit'],
  })
  process.stdout.write(result.stdout)
  if (result.status !== 0) throw new Error(`dcos ${args[0]} ${args[1]} exited with ${result.status}`)
  return result.stdout
}

/** `dcos backup serve` in the background, its log lines in ./backups/service.log; resolves with its URL. */
async function startService(hosts: string): Promise<{child: ChildProcess; url: string}> {
  mkdirSync('backups/service', {recursive: true})
  const args = ['backup', 'serve', '--storage', 'backups/service', '--zk', hosts, '--listen', '127.0.0.1:0']
  console.log(`\n$ dcos ${args.join(' ')} > backups/service.log &`)
  const child = spawn(process.execPath, ['bin/run.js', ...args], {stdio: ['ignore', 'pipe', 'inherit']})
  const log = createWriteStream('backups/service.log', {flags: 'a'})
  const url = await new Promise<string>((resolve, reject) => {
    createInterface({input: child.stdout!}).on('line', (line) => {
      log.write(`${line}\n`)
      const entry = JSON.parse(line) as {address?: string; msg?: string}
      if (entry.msg === 'backup service listening' && entry.address) resolve(entry.address)
    })
    child.once('exit', (code) => reject(new Error(`dcos backup serve exited with ${code}`)))
  })
  console.log(`listening at ${url}`)
  return {child, url}
}

function step(text: string): void {
  console.log(`\n== ${text}`)
}

async function main(): Promise<void> {
  installZookeeper()
  step('Starting a three-node ZooKeeper ensemble on loopback')
  const ensemble = await Ensemble.start({nodes: 3})
  const hosts = ensemble.connectString
  console.log(`ensemble: ${hosts}`)
  let service: undefined | {child: ChildProcess; url: string}
  try {
    const session = await ZkSession.connect({hosts: hosts.split(',')})
    step('Seeding a Marathon-like tree under /marathon')
    console.log(`${await seedMarathon(session)} znodes, plus an ephemeral leader znode`)

    mkdirSync('backups', {recursive: true})
    const archive = `backups/marathon-${new Date().toISOString().replaceAll(/[:.]/g, '-')}.tar.gz`
    step('Backing up /marathon while the ensemble serves (leader election left out)')
    dcos('zk', 'backup', archive, '--zk', `zk://${hosts}/marathon`, '--exclude', '/marathon/leader*')
    step('Inspecting the archive: manifest and integrity')
    dcos('zk', 'inspect', archive)

    step('Changing the live tree: one app deleted, one app changed')
    await session.delete('/marathon/state/apps/web-000/2026-11-01T00:00:00.000Z')
    await session.setData('/marathon/state/apps/web-001', Buffer.from('{"changed": true}'))
    await session.close()
    step('Dry-running a restore: the plan, nothing changed')
    dcos('zk', 'restore', archive, '--zk', `zk://${hosts}/marathon`, '--exclude', '/marathon/leader*', '--dry-run')

    step("Starting the backup service (DC/OS's backup API), Marathon as its component")
    service = await startService(hosts)
    const url = ['--url', service.url]
    step('The backup life cycle through the service')
    const id = dcos('backup', 'create', '--label', 'sandbox', '--wait', ...url).trim()
    dcos('backup', 'list', ...url)
    dcos('backup', 'show', id, ...url)
    dcos('backup', 'restore', id, '--yes', '--wait', ...url)
    dcos('backup', 'list', ...url)

    console.log(`
== Try next (while the sandbox runs):
  node bin/run.js zk restore ${archive} --zk zk://${hosts}/marathon --exclude '/marathon/leader*'
  node bin/run.js zk restore ${archive} --zk zk://${hosts}/copy-of-marathon --yes
  node bin/run.js zk inspect ${archive} --tree
  node bin/run.js zk backup - --zk zk://${hosts}/marathon | tar tzv | head
  DCOS_URL=${service.url} node bin/run.js backup delete ${id} --yes
  DCOS_URL=${service.url} node bin/run.js backup create --label another --wait`)
    if (process.stdin.isTTY) {
      console.log('\nThe ensemble and the service keep running; press Ctrl-C to stop them.')
      await new Promise((resolve) => {
        process.once('SIGINT', resolve)
      })
    }
  } finally {
    step('Stopping the service and the ensemble')
    service?.child.kill('SIGTERM')
    await ensemble.stop()
  }
}

try {
  await main()
} catch (error: unknown) {
  console.error(`sandbox failed: ${error instanceof Error ? error.message : String(error)}`)
  process.exitCode = 1
}
