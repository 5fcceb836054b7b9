/**
 * Progress on a real terminal (a pseudo-terminal from util-linux script): a bar with percent, total
 * and ETA where the total is known (a backup, when the server counts the znodes; restore's delete and
 * create phases, from the plan), and nothing of it without a terminal or with --json.
 */
import {expect} from 'chai'
import {join} from 'node:path'

import type {ZkSession} from '../../../src/zk/session.js'

import {sharedEnsemble} from '../../harness/hooks.js'
import {dcos, dcosOnTerminal, expectExit, zkUri} from '../../helpers/cli.js'
import {removeDir, tempDir} from '../../helpers/fixtures.js'
import {connect, seedTree, uniquePath} from '../../helpers/tree.js'

const ZNODES = 3000

/** "<label> [<bar>] <percent>% | <done>/<total> znodes | ETA <time>", as cli-progress draws it. */
const bar = (label: string, total: number | string) =>
  new RegExp(`${label} \\[[=-]+\\] (\\d+)% \\| \\d+/${total} znodes \\| ETA \\S+`, 'g')

/** The percents a bar went through, in the order drawn. */
const percents = (output: string, pattern: RegExp) => [...output.matchAll(pattern)].map((match) => Number(match[1]))

describe('progress on a terminal', function () {
  this.timeout(120_000)
  let hosts: string
  let session: ZkSession
  let dir: string
  /** The seeded tree, archived once: every restore here brings it back, so each can start from it. */
  let archive: string
  const root = uniquePath('progress')
  const total = ZNODES + 1

  before(async () => {
    ;[hosts, dir] = await Promise.all([
      sharedEnsemble().then((ensemble) => ensemble.connectString),
      tempDir('progress'),
    ])
    session = await connect(hosts)
    await seedTree(session, root, [
      {path: '/'},
      ...Array.from({length: ZNODES}, (_, index) => ({data: `znode ${index}`.repeat(20), path: `/z-${index}`})),
    ])
    archive = join(dir, 'tree.tar.gz')
    expectExit(await dcos(['zk', 'backup', archive, '--zk', zkUri(hosts, root)]), 0)
  })

  /** A restore of an archive identical to the live tree has nothing to do: make one znode differ. */
  const changeOne = () => session.setData(`${root}/z-7`, Buffer.from(`changed ${Date.now()}`))

  after(async () => {
    await session?.close()
    await removeDir(dir)
  })

  it('a batched backup shows a bar with percent, the total the server counted, and an ETA', async () => {
    const {code, output} = await dcosOnTerminal([
      'zk',
      'backup',
      join(dir, 'terminal.tar.gz'),
      '--zk',
      zkUri(hosts, root),
      '--batch',
      'on',
    ])
    expect(code, output).to.equal(0)
    const drawn = percents(output, bar(`Backing up ${root}`, total))
    expect(drawn, output).to.not.be.empty
    expect(drawn.every((percent) => percent >= 0 && percent <= 100)).to.equal(true)
    expect(output).to.include(`Backed up ${total} znodes`)
  })

  it('a backup on single requests (no count from the server) shows a running count instead', async () => {
    const {code, output} = await dcosOnTerminal([
      'zk',
      'backup',
      join(dir, 'terminal-single.tar.gz'),
      '--zk',
      zkUri(hosts, root),
      '--batch',
      'off',
    ])
    expect(code, output).to.equal(0)
    expect(output).to.not.match(/ETA/)
    expect(output).to.match(new RegExp(`Backing up ${root}\\.\\.\\. [\\d,]+ znodes, `))
  })

  for (const batch of ['on', 'off']) {
    it(`a restore (--batch ${batch}) shows bars for deleting and creating, with percent and the plan's totals`, async () => {
      await changeOne()
      const {code, output} = await dcosOnTerminal([
        'zk',
        'restore',
        archive,
        '--zk',
        zkUri(hosts, root),
        '--yes',
        '--no-safety-backup',
        '--batch',
        batch,
      ])
      expect(code, output).to.equal(0)
      expect(percents(output, bar('Deleting the current tree', String.raw`\d+`)), output).to.not.be.empty
      expect(percents(output, bar('Creating znodes', total)), output).to.not.be.empty
      expect(output).to.not.match(/Creating znodes\.\.\. .*0 B/)
      expect(output).to.include(`Restored ${total} znodes`)
    })
  }

  it('draws nothing on stderr without a terminal, nor with --json on one', async () => {
    const piped = expectExit(
      await dcos(['zk', 'backup', join(dir, 'piped.tar.gz'), '--zk', zkUri(hosts, root), '--batch', 'on']),
      0,
    )
    expect(piped.stderr).to.equal('')
    await changeOne()
    const restored = expectExit(
      await dcos(['zk', 'restore', archive, '--zk', zkUri(hosts, root), '--yes', '--no-safety-backup']),
      0,
    )
    expect(restored.stderr).to.equal('')

    await changeOne()
    const json = await dcosOnTerminal([
      'zk',
      'restore',
      archive,
      '--zk',
      zkUri(hosts, root),
      '--yes',
      '--no-safety-backup',
      '--json',
    ])
    expect(json.code, json.output).to.equal(0)
    expect(json.output).to.not.match(/ETA|%|\.\.\./)
    expect(JSON.parse(json.output)).to.include({verified: true})
  })
})
