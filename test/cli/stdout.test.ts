/**
 * `-` as a backup target: the archive must reach a reader or the backup must fail. A terminal is
 * refused before connecting (as gzip does), a closed stdout too, and a reader that goes away is an
 * error, never a success with the archive lost.
 */
import {expect} from 'chai'
import {execFile, spawn} from 'node:child_process'
import {randomBytes} from 'node:crypto'
import {join} from 'node:path'

import type {ZkSession} from '../../src/zk/session.js'

import {sharedEnsemble} from '../harness/hooks.js'
import {ROOT, zkUri} from '../helpers/cli.js'
import {closedPort} from '../helpers/net.js'
import {recordOutput} from '../helpers/secrets.js'
import {connect, seedTree, uniquePath} from '../helpers/tree.js'

const BIN = join(ROOT, 'bin', 'run.js')

interface Run {
  code: null | number
  stderr: string
  stdout: string
}

function cleanEnv(): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([name]) => !/^(DCOS_|AWS_|DEBUG$|OCLIF_)/.test(name)))
}

/** Runs a shell command line (with $DCOS standing for the CLI), as a terminal user would. */
function shell(command: string, {pty = false} = {}): Promise<Run> {
  const line = command.replaceAll('$DCOS', `'${process.execPath}' '${BIN}'`)
  // script(1) gives the command a pseudo-terminal as stdin, stdout and stderr; -e returns its exit code.
  const [file, args] = pty ? ['script', ['-qec', line, '/dev/null']] : ['bash', ['-c', line]]
  return new Promise((resolve) => {
    execFile(
      file,
      args,
      {
        cwd: ROOT,
        encoding: 'latin1',
        env: {...cleanEnv(), SHELL: '/bin/bash'},
        maxBuffer: 64 * 1024 * 1024,
        timeout: 45_000,
      },
      (error, stdout, stderr) => {
        recordOutput(command, `${stdout}\n${stderr}`)
        resolve({code: error ? (typeof error.code === 'number' ? error.code : null) : 0, stderr, stdout})
      },
    )
  })
}

describe('dcos zk backup -', function () {
  this.timeout(60_000)
  let hosts: string
  let session: ZkSession
  let root: string

  before(async () => {
    hosts = (await sharedEnsemble()).connectString
    session = await connect(hosts)
    root = uniquePath('stdout')
    // Incompressible data: the archive is larger than a pipe's buffer.
    await seedTree(session, root, [
      {path: '/'},
      ...Array.from({length: 40}, (_, index) => ({data: randomBytes(4000), path: `/z-${index}`})),
    ])
  })

  after(() => session?.close())

  it('refuses a terminal before connecting: exit 2, one line, no archive bytes on it', async () => {
    const unreachable = `127.0.0.1:${await closedPort()}`
    for (const zk of [zkUri(unreachable, '/x'), zkUri(hosts, root)]) {
      const result = await shell(`$DCOS zk backup - --zk ${zk}`, {pty: true})
      expect(result.code, result.stdout).to.equal(2)
      // The pty joins stdout and stderr, with CR LF line ends.
      expect(result.stdout.trimEnd().split('\r\n')).to.deep.equal([
        'Error: Refusing to write compressed data to a terminal: redirect stdout to a file or a command',
      ])
    }
  })

  it('refuses a closed stdout before connecting: exit 2, one line', async () => {
    const unreachable = `127.0.0.1:${await closedPort()}`
    for (const zk of [zkUri(unreachable, '/x'), zkUri(hosts, root)]) {
      const result = await shell(`exec $DCOS zk backup - --zk ${zk} >&-`)
      expect(result.code, result.stderr).to.equal(2)
      expect(result.stderr.trimEnd().split('\n')).to.deep.equal([
        'Error: Standard output is closed: redirect it to a file or a command to receive the archive',
      ])
    }

    // /dev/null chosen on purpose is a reader like any other.
    const discarded = await shell(`$DCOS zk backup - --zk ${zkUri(hosts, root)} >/dev/null`)
    expect(discarded.code, discarded.stderr).to.equal(0)
  })

  it('a reader that exits at once: exit 1, one line, not a success with the archive lost', async () => {
    for (const reader of ['head -c0', 'true']) {
      const result = await shell(`$DCOS zk backup - --zk ${zkUri(hosts, root)} | ${reader}; exit \${PIPESTATUS[0]}`)
      expect(result.code, `${reader}: ${result.stderr}`).to.equal(1)
      expect(result.stderr.trimEnd().split('\n'), reader).to.deep.equal([
        'Error: Cannot write the archive to standard output: its reader closed it (EPIPE); the archive is incomplete',
      ])
    }
  })

  it('a reader that closes the pipe midway: exit 1, one line', async () => {
    const child = spawn(process.execPath, [BIN, 'zk', 'backup', '-', '--zk', zkUri(hosts, root)], {
      cwd: ROOT,
      env: cleanEnv(),
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let stderr = ''
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()))
    child.stdout.once('data', () => child.stdout.destroy())
    const code = await new Promise<null | number>((resolve) => child.on('close', resolve))
    recordOutput('dcos zk backup -', stderr)
    expect(code, stderr).to.equal(1)
    expect(stderr.trimEnd().split('\n')).to.deep.equal([
      'Error: Cannot write the archive to standard output: its reader closed it (EPIPE); the archive is incomplete',
    ])
  })
})
