/**
 * The disk fills up (a real filesystem of 256 KiB, mounted for the test): a backup fails with one
 * clear line and exit 1 and leaves no partial file; a restore whose safety backup cannot be written
 * changes nothing.
 */
import {expect} from 'chai'
import {execFileSync} from 'node:child_process'
import {randomBytes} from 'node:crypto'
import {mkdir, readdir} from 'node:fs/promises'
import {join} from 'node:path'

import type {ZkSession} from '../../src/zk/session.js'

import {sharedEnsemble} from '../harness/hooks.js'
import {dcos, expectExit, zkUri} from '../helpers/cli.js'
import {removeDir, tempDir} from '../helpers/fixtures.js'
import {expectSameTree, readTreeIndependently} from '../helpers/oracle.js'
import {connect, seedTree, uniquePath} from '../helpers/tree.js'

const DISK_KIB = 256

interface SmallDisk {
  dir: string
  release(): void
}

/**
 * A real filesystem of 256 KiB mounted at <parent>/small-disk: a tmpfs, or where that is not
 * allowed a loop-mounted ext4 image. Undefined, with why, when nothing can be mounted (not root).
 */
async function mountSmallDisk(parent: string): Promise<SmallDisk | {why: string}> {
  const dir = join(parent, 'small-disk')
  await mkdir(dir)
  const release = () => execFileSync('umount', [dir])
  const failures: string[] = []
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${DISK_KIB}k`, 'tmpfs', dir], {stdio: 'pipe'})
    return {dir, release}
  } catch (error) {
    failures.push(`tmpfs: ${commandError(error)}`)
  }

  try {
    const image = join(parent, 'small-disk.img')
    execFileSync('truncate', ['-s', `${DISK_KIB}k`, image])
    execFileSync('mkfs.ext4', ['-q', '-F', '-O', '^has_journal', image], {stdio: 'pipe'})
    execFileSync('mount', ['-o', 'loop', image, dir], {stdio: 'pipe'})
    return {dir, release}
  } catch (error) {
    failures.push(`loop-mounted ext4: ${commandError(error)}`)
  }

  return {why: failures.join('; ')}
}

const commandError = (error: unknown) =>
  String((error as {stderr?: Buffer}).stderr ?? error)
    .trim()
    .split('\n')[0]

describe('faults: the disk fills up', function () {
  this.timeout(120_000)
  let dir: string
  let hosts: string
  let session: ZkSession
  let disk: SmallDisk | undefined
  const root = uniquePath('full-disk')

  before(async function () {
    ;[dir, hosts] = await Promise.all([
      tempDir('faults-disk'),
      sharedEnsemble().then((ensemble) => ensemble.connectString),
    ])
    const mounted = await mountSmallDisk(dir)
    if ('why' in mounted) {
      console.warn(
        `    SKIPPED: the disk-full tests need a small filesystem and none could be mounted (${mounted.why})`,
      )
      this.skip()
    }

    disk = mounted
    session = await connect(hosts)
    // 1 MiB of incompressible data: its archive cannot fit.
    await seedTree(session, root, [
      {path: '/'},
      ...Array.from({length: 100}, (_, index) => ({data: randomBytes(10_240), path: `/z-${index}`})),
    ])
  })

  /** What the tool left on the small disk (ext4 has its own lost+found). */
  const filesOnDisk = async () => (await readdir(disk!.dir)).filter((name) => name !== 'lost+found')

  after(async () => {
    await session?.close()
    disk?.release()
    await removeDir(dir)
  })

  it('a backup to a full disk: exit 1, one line naming the file and the cause, no partial file left', async () => {
    const target = join(disk!.dir, 'zk.tar.gz')
    const {code, stderr} = await dcos(['zk', 'backup', target, '--zk', zkUri(hosts, root)])
    expect(code, stderr).to.equal(1)
    expect(stderr.trim().split('\n')).to.have.length(1)
    expect(stderr.trim()).to.match(new RegExp(`^Error: Cannot write ${target}: no space left on device$`))
    expect(await filesOnDisk()).to.deep.equal([])
  })

  it('a restore whose safety backup does not fit: exit 1, the tree untouched', async () => {
    const archive = join(dir, 'good.tar.gz')
    expectExit(await dcos(['zk', 'backup', archive, '--zk', zkUri(hosts, root)]), 0)
    await session.setData(`${root}/z-1`, Buffer.from('changed since the backup'))
    const live = await readTreeIndependently(hosts, root)

    const safety = join(disk!.dir, 'safety.tar.gz')
    const {code, stderr} = await dcos([
      'zk',
      'restore',
      archive,
      '--zk',
      zkUri(hosts, root),
      '--yes',
      '--safety-backup',
      safety,
    ])
    expect(code, stderr).to.equal(1)
    expect(stderr.trim().split('\n')).to.have.length(1)
    expect(stderr).to.include(`Cannot write ${safety}`)
    await expectSameTree(live, hosts, root)
    expect(await filesOnDisk()).to.deep.equal([])
  })
})
