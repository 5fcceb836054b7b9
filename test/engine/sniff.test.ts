import {expect} from 'chai'
import {execFileSync} from 'node:child_process'
import {mkdir, readFile, writeFile} from 'node:fs/promises'
import {join} from 'node:path'
import {Readable} from 'node:stream'
import {setTimeout as delay} from 'node:timers/promises'
import {gunzipSync, gzipSync} from 'node:zlib'

import {DataDirArchiveError, readDataDirArchive, sniffDataDirArchive} from '../../src/archive/datadir.js'
import {FileProvider} from '../../src/providers/file.js'
import {removeDir, tempDir} from '../helpers/fixtures.js'

describe('sniffDataDirArchive', () => {
  let dir: string

  before(async () => {
    dir = await tempDir('sniff')
  })

  after(() => removeDir(dir))

  it('closes the file it sniffed once the stream it returns is destroyed unread', async () => {
    const path = join(dir, 'not-a-data-dir.tar.gz')
    await writeFile(path, gzipSync(Buffer.alloc(4096, 'x')))
    const input = await new FileProvider(path).read()
    const closed = new Promise<void>((resolve) => input.once('close', resolve))
    const sniffed = await sniffDataDirArchive(input)
    expect(sniffed.dataDir).to.equal(false)

    sniffed.stream.destroy()
    await Promise.race([closed, delay(5000)])
    expect(input.destroyed, 'the sniffed file was left open').to.equal(true)
  })

  it('still hands over every byte when the stream is read', async () => {
    const path = join(dir, 'big.gz')
    const bytes = gzipSync(Buffer.alloc(3 * 1024 * 1024, 'y'), {level: 0})
    await writeFile(path, bytes)
    const sniffed = await sniffDataDirArchive(await new FileProvider(path).read())
    const chunks: Buffer[] = []
    for await (const chunk of sniffed.stream) chunks.push(chunk as Buffer)
    expect(Buffer.concat(chunks).equals(bytes)).to.equal(true)
  })

  describe('archives as dcos-zk and GNU tar write them, compressed or not', () => {
    const archives: Record<string, Buffer> = {}

    before(async () => {
      const tree = join(dir, 'tree')
      await mkdir(join(tree, 'zookeeper', 'snapshot', 'version-2'), {recursive: true})
      await mkdir(join(tree, 'zookeeper', 'transactions', 'version-2'), {recursive: true})
      await writeFile(
        join(tree, 'zookeeper', 'snapshot', 'version-2', 'snapshot.1a'),
        Buffer.concat([Buffer.from('ZKSN'), Buffer.alloc(3000, 1)]),
      )
      await writeFile(
        join(tree, 'zookeeper', 'transactions', 'version-2', 'log.1b'),
        Buffer.concat([Buffer.from('ZKLG'), Buffer.alloc(5000, 2)]),
      )
      // dcos-zk: Python's tarfile, tar.add(<tmp>/zookeeper, arcname='./zookeeper'), pax headers (float mtimes) first.
      const python = join(dir, 'python.tar.gz')
      execFileSync('python3', [
        '-c',
        'import sys, tarfile\nwith tarfile.open(sys.argv[1], "w:gz") as tar:\n    tar.add(sys.argv[2] + "/zookeeper", arcname="./zookeeper")',
        python,
        tree,
      ])
      archives.python = await readFile(python)
      archives['python, plain'] = gunzipSync(archives.python)
      execFileSync('tar', ['czf', join(dir, 'gnu.tar.gz'), '-C', tree, './zookeeper'])
      archives.gnu = await readFile(join(dir, 'gnu.tar.gz'))
      execFileSync('tar', ['cf', join(dir, 'gnu.tar'), '-C', tree, './zookeeper'])
      archives['gnu, plain'] = await readFile(join(dir, 'gnu.tar'))
    })

    for (const kind of ['python', 'python, plain', 'gnu', 'gnu, plain']) {
      it(`${kind}: sniffed as a data-directory archive and read whole`, async () => {
        const sniffed = await sniffDataDirArchive(Readable.from([archives[kind]]))
        expect(sniffed.dataDir).to.equal(true)
        const summary = await readDataDirArchive(sniffed.stream, kind)
        expect(summary.files).to.equal(2)
        expect(summary.hasTransactions).to.equal(true)
      })
    }

    it('refuses 32 MiB of zeros after a data-directory archive having read little of them', async () => {
      const plain = archives['gnu, plain']
      let taken = 0
      const zeros = Buffer.alloc(64 * 1024)
      const input = Readable.from(
        (function* () {
          taken += plain.length
          yield plain
          for (let left = 32 * 1024 * 1024; left > 0; left -= zeros.length) {
            taken += zeros.length
            yield zeros
          }
        })(),
        {highWaterMark: 1, objectMode: true},
      )
      const error = await readDataDirArchive(input, 'zeros').catch((error_: unknown) => error_)
      expect(error).to.be.instanceOf(DataDirArchiveError)
      expect((error as Error).message).to.match(/unexpected bytes after the end of the archive/)
      expect(taken - plain.length).to.be.lessThan(1024 * 1024)
    })

    it('refuses a second gzip member after a data-directory archive', async () => {
      const error = await readDataDirArchive(
        Readable.from([Buffer.concat([archives.gnu, gzipSync(Buffer.alloc(1024))])]),
        'two',
      ).catch((error_: unknown) => error_)
      expect((error as Error).message).to.match(/a second gzip member/)
    })
  })
})
