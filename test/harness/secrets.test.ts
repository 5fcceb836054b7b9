import {expect} from 'chai'
import {mkdir, rm, writeFile} from 'node:fs/promises'
import {join} from 'node:path'
import {gzipSync} from 'node:zlib'

import {removeDir, tempDir} from '../helpers/fixtures.js'
import {leaksIn, leaksInFiles, secret, secretInput} from '../helpers/secrets.js'

const planted = secret('planted-s3cret/value+1')
const cut = secret('first-half#second-half-of-it')

describe('the suite-wide secret scan', () => {
  let dir: string

  before(async () => {
    dir = await tempDir('secrets')
  })

  after(() => removeDir(dir))

  it('finds a registered secret in text, also URI-encoded, and names where without showing it', () => {
    const [leak] = leaksIn('dcos zk backup', `Error: cannot read s3://b/k?secret_key=${planted}`)
    expect(leak).to.equal(`dcos zk backup holds the secret pl… (${planted.length} characters)`)
    expect(leaksIn('log', `secret_key=${encodeURIComponent(planted)}`)).to.have.length(1)
    expect(leaksIn('log', 'secret_key=***')).to.deep.equal([])
  })

  it('finds a part of a secret after a "#", a space, ":" or "/", where redaction by pattern used to stop', () => {
    expect(leaksIn('dcos zk backup', 'secret_key=***#second-half-of-it')).to.deep.equal([
      'dcos zk backup holds a part of a secret se… (17 characters)',
    ])
    expect(leaksIn('dcos zk backup', `secret_key=${cut}`)).to.deep.equal([
      `dcos zk backup holds the secret fi… (${cut.length} characters)`,
    ])
  })

  it('finds it in files, inside gzip archives too, but not in files the test marked as its own input', async () => {
    await mkdir(join(dir, 'store'))
    await writeFile(join(dir, 'store', 'meta.json'), `{"location": "${planted}"}`)
    await writeFile(join(dir, 'store', 'archive.tar.gz'), gzipSync(Buffer.from(`znode data ${planted}`)))
    await writeFile(secretInput(join(dir, 'token')), planted)
    const leaks = await leaksInFiles(dir)
    expect(leaks.map((leak) => leak.split(' holds ')[0]).sort()).to.deep.equal([
      join(dir, 'store', 'archive.tar.gz (decompressed)'),
      join(dir, 'store', 'meta.json'),
    ])

    // Removed without a scan: removeDir would record these planted leaks and fail the suite.
    await rm(join(dir, 'store'), {recursive: true})
  })
})
