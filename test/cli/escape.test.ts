/**
 * Text from archives and servers reaches the terminal escaped: an ACL id, a lock holder, a srvr
 * answer or a service's backup id holding ESC sequences, newlines, C1 or DEL cannot recolour the
 * terminal or forge lines ("Integrity OK"). One-line errors stay one line wherever they go; a pipe
 * gets the text as it is, and --json stays JSON that parses to the same values.
 */
import {expect} from 'chai'
import {execFile} from 'node:child_process'
import {createServer} from 'node:http'
import {type AddressInfo, createServer as createTcpServer} from 'node:net'
import {join} from 'node:path'

import {DEFAULT_LOCK_PATH} from '../../src/zk/lock.js'
import {zkConstants, type ZkSession} from '../../src/zk/session.js'
import {sharedEnsemble} from '../harness/hooks.js'
import {dcos, expectExit, ROOT, zkUri} from '../helpers/cli.js'
import {removeDir, tempDir} from '../helpers/fixtures.js'
import {recordOutput} from '../helpers/secrets.js'
import {connect, seedTree, uniquePath, ZOO_PERM_ALL, ZOO_PERM_READ} from '../helpers/tree.js'

const BIN = join(ROOT, 'bin', 'run.js')
// ESC sequences, a newline that forges an "Integrity" row, C1 (CSI) and DEL; one ":", as a digest id has.
const HOSTILE = 'evil\u001B[2J\u009B31m\u007F\u001B[1;32m\nIntegrity   OK - every checksum matches:x'
const ESCAPED = String.raw`evil\x1b[2J\x9b31m\x7f\x1b[1;32m\nIntegrity   OK - every checksum matches:x`

const RAW_CONTROL = /[\u0000-\u0008\u000B-\u001F\u007F-\u009F]/

/** Runs the CLI on a pseudo-terminal (script(1)): what the terminal received, CR LF made LF. */
function onTerminal(
  args: string[],
  extraEnv: Record<string, string> = {},
): Promise<{code: null | number; output: string}> {
  const quoted = [process.execPath, BIN, ...args].map((word) => `'${word.replaceAll("'", String.raw`'\''`)}'`).join(' ')
  const env = Object.fromEntries(
    Object.entries(process.env).filter(([name]) => !/^(DCOS_|AWS_|DEBUG$|OCLIF_)/.test(name)),
  )
  return new Promise((resolve) => {
    execFile(
      'script',
      ['-qec', quoted, '/dev/null'],
      {cwd: ROOT, encoding: 'utf8', env: {...env, SHELL: '/bin/sh', ...extraEnv}, timeout: 45_000},
      (error, stdout) => {
        recordOutput(`dcos ${args.slice(0, 2).join(' ')} (terminal)`, stdout)
        // Less the cursor's hiding and showing, which oclif's spinner sends itself.
        const output = stdout.replaceAll('\r\n', '\n').replaceAll(/\u001B\[\?25[hl]/g, '')
        resolve({code: error ? (typeof error.code === 'number' ? error.code : null) : 0, output})
      },
    )
  })
}

describe('text from archives and servers on a terminal', function () {
  this.timeout(120_000)
  let dir: string
  let hosts: string
  let session: ZkSession
  let root: string
  let archive: string

  before(async () => {
    ;[dir, hosts] = await Promise.all([tempDir('escape'), sharedEnsemble().then((ensemble) => ensemble.connectString)])
    session = await connect(hosts)
    root = uniquePath('escape')
    // ZooKeeper takes any digest id of the form "a:b": the control characters reach the archive
    // (ADMIN for anyone, or the server would hide the id's hash part from the backup).
    const acl = [
      {id: HOSTILE, perms: ZOO_PERM_ALL, scheme: 'digest'},
      {id: 'anyone', perms: ZOO_PERM_READ | zkConstants.ZOO_PERM_ADMIN, scheme: 'world'},
    ]
    await seedTree(session, root, [{path: '/'}, {acl, data: 'x', path: '/hostile-acl'}])
    archive = join(dir, 'hostile.tar.gz')
    expectExit(await dcos(['zk', 'backup', archive, '--zk', zkUri(hosts, root)]), 0)
  })

  after(async () => {
    await session?.close()
    await removeDir(dir)
  })

  it("inspect --tree shows an ACL id's control characters as escapes, and no forged line", async () => {
    const {code, output} = await onTerminal(['zk', 'inspect', archive, '--tree'])
    expect(code, output).to.equal(0)
    expect(output).not.to.match(RAW_CONTROL)
    expect(output, output).to.include(ESCAPED)
    expect(output.split('\n').filter((line) => line.startsWith('Integrity'))).to.have.length(1)
  })

  it('inspect --tree to a pipe writes the text as it is; --json on a terminal is JSON of the same text, with C1 and DEL escaped', async () => {
    const piped = expectExit(await dcos(['zk', 'inspect', archive, '--tree']), 0)
    expect(piped.stdout, piped.stdout).to.include(HOSTILE)

    const {code, output} = await onTerminal(['zk', 'inspect', archive, '--tree', '--json'])
    expect(code, output).to.equal(0)
    expect(output).not.to.match(RAW_CONTROL)
    const json = JSON.parse(output) as {tree: Array<{acl: string[]; path: string}>}
    expect(json.tree.find((entry) => entry.path.endsWith('/hostile-acl'))?.acl[0]).to.equal(`digest:${HOSTILE}:rwcda`)
  })

  it('a lock holder written by another process: the refusal is one line, escaped, on a terminal and through a pipe', async () => {
    const holder = {instance: HOSTILE, job: 'job\u009B\n', kind: 'restore', since: '2026-01-01T00:00:00Z'}
    await session.createParents(DEFAULT_LOCK_PATH)
    await session.create(DEFAULT_LOCK_PATH, Buffer.from(JSON.stringify(holder)), zkConstants.ZOO_EPHEMERAL)
    try {
      const args = ['zk', 'restore', archive, '--zk', zkUri(hosts, root), '--yes', '--no-safety-backup']
      const piped = expectExit(await dcos(args), 1)
      expect(piped.stderr.trimEnd().split('\n')).to.have.length(1)
      expect(piped.stderr).to.include(ESCAPED)
      expect(piped.stderr).not.to.match(RAW_CONTROL)

      // The terminal also shows the progress of the verification, on lines of its own.
      const {code, output} = await onTerminal(args)
      expect(code).to.equal(1)
      const error = output.trimEnd().split('\n').at(-1)
      expect(error, output).to.match(
        /^Error: Refusing to restore: a restore \(job\\x9b\\n\) on evil\\x1b\[2J.* holds the cluster lock .*Try again when it has ended: .*--wait-lock <duration> waits\)$/,
      )
      expect(output).to.include(ESCAPED)
    } finally {
      await session.delete(DEFAULT_LOCK_PATH)
    }
  })

  it('cluster status: a srvr answer holding control characters is shown escaped, in the table and the verdict', async () => {
    const answer = `Zookeeper version: 3.8.0\nLatency min/avg/max: 0/0/0\nZxid: 0x10\nMode: ${HOSTILE.replace('\n', ' ')}\nNode count: 5\n`
    const server = createTcpServer((socket) => socket.once('data', () => socket.end(answer)))
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    try {
      const zk = `127.0.0.1:${(server.address() as AddressInfo).port}`
      const plain = await onTerminal(['cluster', 'status', '--zk', zk], {NO_COLOR: '1'})
      expect(plain.code, plain.output).not.to.equal(null)
      expect(plain.output, plain.output).not.to.match(RAW_CONTROL)
      expect(plain.output).to.include(String.raw`evil\x1b[2J\x9b31m\x7f`)
      // With colours, the only raw escapes are the tool's own colours (SGR), around escaped text.
      const coloured = await onTerminal(['cluster', 'status', '--zk', zk], {FORCE_COLOR: '1'})
      expect(coloured.output).to.match(/\u001B\[3[123]m/)
      expect(coloured.output.replaceAll(/\u001B\[(?:3[123]|39)m/g, ''), coloured.output).not.to.match(RAW_CONTROL)
      expect(coloured.output).to.include(String.raw`evil\x1b[2J\x9b31m\x7f`)
    } finally {
      await new Promise((resolve) => server.close(resolve))
    }
  })

  it('backup list and show: ids and versions from the service are shown escaped; a forged id cannot add a row', async () => {
    const backup = {
      component_status: {},
      dcos_version: `1.13\u009B31m`,
      id: HOSTILE,
      restores: [],
      status: 'STATUS_READY',
      timestamp: '2026-01-01T00:00:00Z',
    }
    const server = createServer((request, response) => {
      response.setHeader('content-type', 'application/json')
      response.end(JSON.stringify({backup_info: [backup]}))
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
    try {
      const list = await onTerminal(['backup', 'list', '--url', url])
      expect(list.code, list.output).to.equal(0)
      expect(list.output, list.output).not.to.match(RAW_CONTROL)
      expect(list.output.trimEnd().split('\n'), list.output).to.have.length(2)
      expect(list.output).to.include(ESCAPED)

      const show = await onTerminal(['backup', 'show', HOSTILE, '--url', url])
      expect(show.code, show.output).to.equal(0)
      expect(show.output, show.output).not.to.match(RAW_CONTROL)
      expect((JSON.parse(show.output) as {id: string}).id).to.equal(HOSTILE)
    } finally {
      await new Promise((resolve) => server.close(resolve))
    }
  })
})
