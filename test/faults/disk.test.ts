/**
 * The disk fills up: a backup fails with one clear line and exit 1 and leaves no partial file; a
 * restore whose safety backup cannot be written changes nothing.
 */
import {expect} from 'chai'
import {execFile, execFileSync} from 'node:child_process'
import {randomBytes} from 'node:crypto'
import {mkdir, readdir} from 'node:fs/promises'
import {join} from 'node:path'
import {promisify} from 'node:util'

import type {ZkSession} from '../../src/zk/session.js'
import {sharedEnsemble} from '../harness/hooks.js'
import {dcos, expectExit, ROOT, zkUri} from '../helpers/cli.js'
import {removeDir, tempDir} from '../helpers/fixtures.js'
import {connect, seedTree, snapshotTree, uniquePath} from '../helpers/tree.js'

const DISK_KIB = 256

/**
 * A directory on a full-able disk: a 256 KiB tmpfs where mounting is allowed (root), otherwise a
 * plain directory with the CLI run under `ulimit -f` (writes past the limit fail with EFBIG).
 */
async function smallDisk(parent: string): Promise<{dir: string; run(args: string[]): Promise<{code: number; stderr: string}>; release(): void}> {
  const dir = join(parent, 'small-disk')
  await mkdir(dir)
  let mounted = false
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${DISK_KIB}k`, 'tmpfs', dir], {stdio: 'ignore'})
    mounted = true
  } catch {}

  const limit = mounted ? 'unlimited' : String(DISK_KIB)
  return {
    dir,
    release: () => mounted && execFileSync('umount', [dir]),
    async run(args) {
      const script = `ulimit -f ${limit} && exec "$0" "$@"`
      return promisify(execFile)('bash', ['-c', script, process.execPath, join(ROOT, 'bin', 'run.js'), ...args]).then(
        () => ({code: 0, stderr: ''}),
        (error: {code: number; stderr: string}) => ({code: error.code, stderr: error.stderr}),
      )
    },
  }
}

describe('faults: the disk fills up', function () {
  this.timeout(120_000)
  let dir: string
  let hosts: string
  let session: ZkSession
  let disk: Awaited<ReturnType<typeof smallDisk>>
  const root = uniquePath('full-disk')

  before(async () => {
    ;[dir, hosts] = await Promise.all([tempDir('faults-disk'), sharedEnsemble().then((ensemble) => ensemble.connectString)])
    disk = await smallDisk(dir)
    session = await connect(hosts)
    // 1 MiB of incompressible data: its archive cannot fit.
    await seedTree(session, root, [{path: '/'}, ...Array.from({length: 100}, (_, index) => ({data: randomBytes(10_240), path: `/z-${index}`}))])
  })

  after(async () => {
    session?.close()
    disk?.release()
    await removeDir(dir)
  })

  it('a backup to a full disk: exit 1, one line naming the file and the cause, no partial file left', async () => {
    const target = join(disk.dir, 'zk.tar.gz')
    const {code, stderr} = await disk.run(['zk', 'backup', target, '--zk', zkUri(hosts, root)])
    expect(code, stderr).to.equal(1)
    expect(stderr.trim().split('\n')).to.have.length(1)
    expect(stderr.trim()).to.match(new RegExp(`^Error: Cannot write ${target}: (no space left on device|file too large)$`))
    expect(await readdir(disk.dir)).to.deep.equal([])
  })

  it('a restore whose safety backup does not fit: exit 1, the tree untouched', async () => {
    const archive = join(dir, 'good.tar.gz')
    expectExit(await dcos(['zk', 'backup', archive, '--zk', zkUri(hosts, root)]), 0)
    await session.setData(`${root}/z-1`, Buffer.from('changed since the backup'))
    const live = await snapshotTree(session, root)

    const safety = join(disk.dir, 'safety.tar.gz')
    const {code, stderr} = await disk.run(['zk', 'restore', archive, '--zk', zkUri(hosts, root), '--yes', '--safety-backup', safety])
    expect(code, stderr).to.equal(1)
    expect(stderr.trim().split('\n')).to.have.length(1)
    expect(stderr).to.include(`Cannot write ${safety}`)
    expect(await snapshotTree(session, root)).to.deep.equal(live)
    expect(await readdir(disk.dir)).to.deep.equal([])
  })
})
