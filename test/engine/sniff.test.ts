import {expect} from 'chai'
import {writeFile} from 'node:fs/promises'
import {join} from 'node:path'
import {setTimeout as delay} from 'node:timers/promises'
import {gzipSync} from 'node:zlib'

import {sniffDataDirArchive} from '../../src/engine/datadir.js'
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
})
