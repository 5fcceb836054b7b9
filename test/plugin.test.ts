import {expect} from 'chai'
import {execFile} from 'node:child_process'
import {mkdir, mkdtemp, rm, symlink, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join, resolve} from 'node:path'
import {fileURLToPath} from 'node:url'
import {promisify} from 'node:util'

const run = promisify(execFile)
const projectRoot = resolve(fileURLToPath(new URL('..', import.meta.url)))

describe('as an oclif plugin', () => {
  let host: string

  before(async () => {
    host = await mkdtemp(join(tmpdir(), 'oclif-host-'))
    await mkdir(join(host, 'bin'))
    await mkdir(join(host, 'node_modules'))
    await symlink(join(projectRoot, 'node_modules', '@oclif'), join(host, 'node_modules', '@oclif'))
    await symlink(projectRoot, join(host, 'node_modules', 'dcos-backup'))
    // Like a CLI that ran `plugins install dcos-backup`: the plugin is a dependency and listed in oclif.plugins.
    const packageJson = {
      dependencies: {'@oclif/core': '*', '@oclif/plugin-help': '*', 'dcos-backup': '*'},
      name: 'host-cli',
      oclif: {
        bin: 'host',
        commands: './commands',
        dirname: 'host-cli',
        plugins: ['@oclif/plugin-help', 'dcos-backup'],
        topicSeparator: ' ',
      },
      type: 'module',
      version: '1.0.0',
    }
    await writeFile(join(host, 'package.json'), JSON.stringify(packageJson))
    await writeFile(
      join(host, 'bin', 'run.js'),
      "import {execute} from '@oclif/core'\nawait execute({dir: import.meta.url})\n",
    )
  })

  after(async () => {
    await rm(host, {force: true, recursive: true})
  })

  it('gives another CLI the zk commands, with their help', async () => {
    const {stdout} = await run(process.execPath, [join(host, 'bin', 'run.js'), 'zk', '--help'])
    expect(stdout).to.match(/\$ host zk COMMAND/)
    for (const command of ['zk backup', 'zk inspect', 'zk restore']) expect(stdout).to.include(command)
  })

  it('runs a command of the plugin with its exit codes', async () => {
    const error = await run(process.execPath, [
      join(host, 'bin', 'run.js'),
      'zk',
      'inspect',
      join(host, 'missing.tar.gz'),
    ]).catch((error_: unknown) => error_)
    expect(error).to.include({code: 2})
    expect((error as {stderr: string}).stderr).to.include('No archive at')
  })
})
