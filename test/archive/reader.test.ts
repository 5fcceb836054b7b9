import {expect} from 'chai'
import {Readable} from 'node:stream'
import {setTimeout as delay} from 'node:timers/promises'

import type {ZkSession} from '../../src/zk/session.js'

import {ArchiveError, readArchive, verifyArchive} from '../../src/archive/reader.js'
import {FileProvider} from '../../src/providers/file.js'
import {sharedEnsemble} from '../harness/hooks.js'
import {type ArchiveMaterial, BAD_ARCHIVES, readArchiveFile} from '../helpers/archive.js'
import {archiveMaterial, removeDir, tempDir} from '../helpers/fixtures.js'
import {connect, snapshotTree} from '../helpers/tree.js'

/** Feeds `bytes` to the reader in small chunks, like a slow download, and returns what it threw. */
async function readFailure(bytes: Buffer): Promise<{error: unknown; znodes: number}> {
  const chunks = Array.from({length: Math.ceil(bytes.length / 4096)}, (_, index) =>
    bytes.subarray(index * 4096, (index + 1) * 4096),
  )
  let znodes = 0
  try {
    for await (const item of readArchive(Readable.from(chunks), 'test.tar.gz')) {
      if (item.kind === 'znode') znodes++
    }
  } catch (error) {
    return {error, znodes}
  }

  return {error: undefined, znodes}
}

describe('archive reader', function () {
  this.timeout(60_000)
  let dir: string
  let session: ZkSession
  let material: ArchiveMaterial & {file: string; root: string}

  before(async () => {
    const ensemble = await sharedEnsemble()
    dir = await tempDir('reader')
    session = await connect(ensemble.connectString)
    material = await archiveMaterial(session, ensemble.connectString, dir)
  })

  after(async () => {
    await session?.close()
    await removeDir(dir)
  })

  it('reads a good archive: the header first, every znode with its data, the manifest last', async () => {
    const kinds: string[] = []
    for await (const item of readArchive(Readable.from([material.good]), 'good')) kinds.push(item.kind)
    expect(kinds).to.deep.equal(['header', ...Array.from({length: 9}).fill('znode'), 'manifest'])

    const content = await readArchiveFile(material.file)
    expect(content.tree).to.deep.equal(await snapshotTree(session, material.root))
    expect(content.header).to.include({format: 'dcos-zk-backup', formatVersion: 1})
    expect(content.manifest).to.include({dataBytes: 4 + 27 + 256 + 20_000 + 3 + 3 + 2 + 3, znodes: 9})
  })

  for (const bad of BAD_ARCHIVES) {
    it(`refuses ${bad.name}`, async () => {
      const {error} = await readFailure(bad.make(material))
      expect(error, 'an ArchiveError').to.be.instanceOf(ArchiveError)
      expect((error as Error).message).to.match(/^test\.tar\.gz failed verification: /)
      expect((error as Error).message, (error as Error).message).to.match(bad.problem)
    })
  }

  it('checks the format version before anything else: a version 99 archive yields no znode', async () => {
    const future = BAD_ARCHIVES.find((bad) => bad.name.startsWith('format version'))!
    const {error, znodes} = await readFailure(future.make(material))
    expect(znodes).to.equal(0)
    expect((error as Error).message).to.match(future.problem)
  })

  it('closes its input when the consumer stops early (a failed restore leaves no file open)', async () => {
    const input = await new FileProvider(material.file).read()
    const closed = new Promise<void>((resolve) => input.once('close', resolve))
    for await (const item of readArchive(input, material.file)) {
      if (item.kind === 'znode') break
    }

    await Promise.race([closed, delay(5000)])
    expect(input.destroyed, 'the input was left open').to.equal(true)
  })

  it('verifyArchive returns the manifest of a good archive and throws on a bad one', async () => {
    const manifest = await verifyArchive(Readable.from([material.good]), 'good')
    expect(manifest.source.root).to.equal(material.root)
    const error = await verifyArchive(Readable.from([material.good.subarray(0, -100)]), 'cut').catch(
      (error_: Error) => error_,
    )
    expect(error).to.be.instanceOf(ArchiveError)
  })
})
