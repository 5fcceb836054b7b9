import {expect} from 'chai'
import {execFile} from 'node:child_process'
import {randomBytes} from 'node:crypto'
import {mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {PassThrough, Readable} from 'node:stream'
import {fileURLToPath, pathToFileURL} from 'node:url'
import {promisify} from 'node:util'

import {OperationError, UsageError} from '../../src/errors.js'
import {resolveLocation} from '../../src/providers/index.js'
import {collect, rejection} from '../helpers/streams.js'

const TEMP_FILE = /^\..+\.tmp-\d+-[0-9a-f]+$/

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  )
}

/** The temp file write() is streaming into, once it holds at least `bytes` bytes. */
async function tempFileWith(directory: string, bytes: number): Promise<string> {
  for (let attempt = 0; attempt < 500; attempt++) {
    const temp = (await readdir(directory)).find((name) => TEMP_FILE.test(name))
    const size = temp ? ((await stat(join(directory, temp)).catch(() => undefined))?.size ?? 0) : 0
    if (temp && size >= bytes) return temp
    await new Promise((resolve) => setTimeout(resolve, 10))
  }

  throw new Error(`no temp file with ${bytes} bytes appeared in ${directory}`)
}

describe('file provider', () => {
  let dir: string
  let target: string

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'file-provider-'))
    target = join(dir, 'zk.tar.gz')
  })

  afterEach(async () => {
    await rm(dir, {recursive: true, force: true})
  })

  it('round-trips a multi-MB stream', async () => {
    const data = randomBytes(6 * 1024 * 1024 + 123)
    const chunks = Array.from({length: 100}, (_, i) => data.subarray(i * 64 * 1024, (i + 1) * 64 * 1024))
    const provider = resolveLocation(target)

    expect(await provider.write(Readable.from(chunks))).to.equal(data.length)
    expect((await collect(await provider.read())).equals(data)).to.equal(true)
    expect(await readdir(dir)).to.deep.equal(['zk.tar.gz'])
  })

  it('writes archives readable by their owner only, also when replacing one', async () => {
    await resolveLocation(target).write(Readable.from([Buffer.from('first')]))
    expect((await stat(target)).mode & 0o777).to.equal(0o600)
    await resolveLocation(target).write(Readable.from([Buffer.from('second')]), {overwrite: true})
    expect((await stat(target)).mode & 0o777).to.equal(0o600)
  })

  it('shows nothing at the location until the source has ended', async () => {
    const source = new PassThrough()
    const written = resolveLocation(target).write(source)
    source.write(randomBytes(1024 * 1024))
    const temp = await tempFileWith(dir, 1024 * 1024)

    expect(temp).to.match(/^\.zk\.tar\.gz\.tmp-\d+-[0-9a-f]+$/)
    expect(await exists(target)).to.equal(false)
    source.end(Buffer.from('end'))
    expect(await written).to.equal(1024 * 1024 + 3)
    expect(await readdir(dir)).to.deep.equal(['zk.tar.gz'])
  })

  it('leaves neither the file nor the temp file when the source fails mid-stream', async () => {
    const source = new PassThrough()
    const written = resolveLocation(target).write(source)
    source.write(randomBytes(512 * 1024))
    await tempFileWith(dir, 512 * 1024)
    source.destroy(new Error('ZooKeeper went away'))

    const error = await rejection(written)
    expect(error).to.be.instanceOf(OperationError)
    expect(error.message).to.equal(`Cannot write ${target}: ZooKeeper went away`)
    expect(await readdir(dir)).to.deep.equal([])
  })

  it('passes on a UsageError raised by the source unchanged', async () => {
    const source = new PassThrough()
    const written = resolveLocation(target).write(source)
    source.destroy(new UsageError('znode /nope does not exist'))

    const error = await rejection(written)
    expect(error).to.be.instanceOf(UsageError)
    expect(error.message).to.equal('znode /nope does not exist')
    expect(await readdir(dir)).to.deep.equal([])
  })

  it('refuses to replace an existing file without overwrite, keeping its bytes', async () => {
    await writeFile(target, 'old bytes')

    const error = await rejection(resolveLocation(target).write(Readable.from([Buffer.from('new')])))
    expect(error).to.be.instanceOf(UsageError)
    expect(error.message).to.equal(`${target} already exists: choose another location or pass --force`)
    expect(await readFile(target, 'utf8')).to.equal('old bytes')
    expect(await readdir(dir)).to.deep.equal(['zk.tar.gz'])
  })

  it('refuses to publish over a file that appeared while streaming', async () => {
    const source = new PassThrough()
    const written = resolveLocation(target).write(source)
    source.write(Buffer.from('ours'))
    await tempFileWith(dir, 4)
    await writeFile(target, 'theirs')
    source.end()

    const error = await rejection(written)
    expect(error).to.be.instanceOf(UsageError)
    expect(error.message).to.include('already exists')
    expect(await readFile(target, 'utf8')).to.equal('theirs')
    expect(await readdir(dir)).to.deep.equal(['zk.tar.gz'])
  })

  it('replaces an existing file with overwrite', async () => {
    await writeFile(target, 'old bytes')

    expect(await resolveLocation(target).write(Readable.from([Buffer.from('new')]), {overwrite: true})).to.equal(3)
    expect(await readFile(target, 'utf8')).to.equal('new')
    expect(await readdir(dir)).to.deep.equal(['zk.tar.gz'])
  })

  it('removes the temp file when publishing fails', async () => {
    await mkdir(target)
    await writeFile(join(target, 'inside'), 'x')

    const error = await rejection(resolveLocation(target).write(Readable.from([Buffer.from('new')]), {overwrite: true}))
    expect(error).to.be.instanceOf(OperationError)
    expect(error.message).to.match(new RegExp(`^Cannot write ${target}: \\w`))
    expect(await readdir(dir)).to.deep.equal(['zk.tar.gz'])
  })

  it('reports a full disk (file size limit) and removes the temp file', async () => {
    // ulimit -f makes writes past 64 KiB fail with EFBIG, the way ENOSPC fails them on a full disk.
    const index = pathToFileURL(fileURLToPath(new URL('../../src/providers/index.ts', import.meta.url))).href
    const script = `
      import {randomBytes} from 'node:crypto'
      import {Readable} from 'node:stream'
      import {resolveLocation} from '${index}'
      try {
        await resolveLocation(${JSON.stringify(target)}).write(Readable.from([randomBytes(1024 * 1024)]))
      } catch (error) {
        console.log(JSON.stringify({name: error.name, message: error.message}))
      }`
    const {stdout} = await promisify(execFile)('bash', [
      '-c',
      'ulimit -f 64 && exec "$0" --import tsx --input-type=module -e "$1"',
      process.execPath,
      script,
    ])

    expect(JSON.parse(stdout)).to.deep.equal({
      name: 'OperationError',
      message: `Cannot write ${target}: file too large`,
    })
    expect(await readdir(dir)).to.deep.equal([])
  })

  it('requires the parent directory to exist', async () => {
    const missing = join(dir, 'missing')
    const error = await rejection(resolveLocation(join(missing, 'zk.tar.gz')).write(Readable.from([Buffer.from('x')])))

    expect(error).to.be.instanceOf(UsageError)
    expect(error.message).to.include(`directory ${missing} does not exist`)
    expect(await readdir(dir)).to.deep.equal([])
  })

  it('reports a missing file as UsageError on read and delete', async () => {
    const provider = resolveLocation(target)
    for (const error of [await rejection(provider.read()), await rejection(provider.delete())]) {
      expect(error).to.be.instanceOf(UsageError)
      expect(error.message).to.equal(`No archive at ${target}`)
    }
  })

  it('stats and deletes a file', async () => {
    await writeFile(target, '12345')
    const provider = resolveLocation(target)

    const info = await provider.stat()
    expect(info).to.include({location: target, name: 'zk.tar.gz', size: 5})
    expect(Math.abs(info!.modified.getTime() - Date.now())).to.be.below(60_000)
    await provider.delete()
    expect(await provider.stat()).to.equal(undefined)
    expect(await exists(target)).to.equal(false)
  })

  it('lists a directory and a name prefix, skipping temp files and subdirectories', async () => {
    await writeFile(join(dir, 'backup-1.tar.gz'), '123')
    await writeFile(join(dir, 'backup-2.tar.gz'), '12345')
    await writeFile(join(dir, 'other.txt'), '1')
    await writeFile(join(dir, '.backup-3.tar.gz.tmp-42-0a1b2c'), 'partial')
    await mkdir(join(dir, 'backup-dir'))

    const all = await resolveLocation(dir).list()
    expect(all.map((entry) => entry.name)).to.deep.equal(['backup-1.tar.gz', 'backup-2.tar.gz', 'other.txt'])
    expect((await resolveLocation(`${dir}/`).list()).map((entry) => entry.name)).to.deep.equal(
      all.map((entry) => entry.name),
    )

    const backups = await resolveLocation(join(dir, 'backup-')).list()
    expect(backups.map(({location, name, size}) => ({location, name, size}))).to.deep.equal([
      {location: join(dir, 'backup-1.tar.gz'), name: 'backup-1.tar.gz', size: 3},
      {location: join(dir, 'backup-2.tar.gz'), name: 'backup-2.tar.gz', size: 5},
    ])
    expect(backups[0].modified).to.be.instanceOf(Date)
    expect(await resolveLocation(join(dir, 'nothing-')).list()).to.deep.equal([])
    expect(await resolveLocation(join(dir, 'missing', '')).list()).to.deep.equal([])
  })

  it('names children inside a directory', async () => {
    const child = resolveLocation(dir).child('zk.tar.gz')
    await child.write(Readable.from([Buffer.from('child')]))

    expect(child.display).to.equal(target)
    expect(await readFile(target, 'utf8')).to.equal('child')
  })

  it('resolves relative paths against the current directory', () => {
    expect(resolveLocation('backups/zk.tar.gz').display).to.equal(join(process.cwd(), 'backups/zk.tar.gz'))
  })

  it('accepts file:///abs/path and file://localhost/abs/path', async () => {
    const spaced = join(dir, 'with space.tar.gz')
    await resolveLocation(pathToFileURL(spaced).href).write(Readable.from([Buffer.from('url')]))

    expect(await readFile(spaced, 'utf8')).to.equal('url')
    expect(resolveLocation(`file://localhost${target}`).display).to.equal(target)
    expect(resolveLocation(`FILE://${target}`).display).to.equal(target)
  })
})
