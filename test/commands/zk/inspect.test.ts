import {expect} from 'chai'
import {writeFile} from 'node:fs/promises'
import {join} from 'node:path'

import type {ZkSession} from '../../../src/zk/session.js'

import {sharedEnsemble} from '../../harness/hooks.js'
import {type ArchiveMaterial, BAD_ARCHIVES, readArchiveFile} from '../../helpers/archive.js'
import {dcos, expectExit, expectUsageError} from '../../helpers/cli.js'
import {archiveMaterial, removeDir, tempDir} from '../../helpers/fixtures.js'
import {connect} from '../../helpers/tree.js'

describe('dcos zk inspect', function () {
  this.timeout(60_000)
  let hosts: string
  let session: ZkSession
  let dir: string
  let material: ArchiveMaterial & {file: string; root: string}

  before(async () => {
    hosts = (await sharedEnsemble()).connectString
    session = await connect(hosts)
    dir = await tempDir('inspect')
    material = await archiveMaterial(session, hosts, dir)
  })

  after(async () => {
    await session?.close()
    await removeDir(dir)
  })

  it('verifies a good archive: exit 0, the manifest as a summary, and OK', async () => {
    const {stdout} = expectExit(await dcos(['zk', 'inspect', material.file]), 0)
    const {manifest} = await readArchiveFile(material.file)
    expect(stdout).to.match(new RegExp(`^Archive {5}${material.file}$`, 'm'))
    expect(stdout).to.match(/^Format {6}dcos-zk-backup v1, written by dcos-backup \d+\.\d+\.\d+\S*$/m)
    expect(stdout).to.include(`Source      ${material.root} on ${hosts}\n`)
    expect(stdout).to.include(`Zxid        ${manifest.zxidStart} at start, ${manifest.zxidEnd} at end\n`)
    expect(stdout).to.include('Znodes      9, 19.8 KiB of data\n')
    expect(stdout).to.include('Skipped     0 ephemeral, 0 excluded, 0 deleted during the walk\n')
    expect(stdout).to.include(`Digest      ${manifest.treeDigest}\n`)
    expect(stdout).to.match(/^Integrity {3}OK: every checksum matches\n$/m)
    expect(manifest.zxidStart).to.match(/^0x[0-9a-f]+$/)
  })

  it('--json: the verdict, header, manifest and number of znodes read', async () => {
    const json = JSON.parse(expectExit(await dcos(['zk', 'inspect', material.file, '--json']), 0).stdout)
    expect(json).to.include({location: material.file, verified: true, znodesRead: 9})
    expect(json).to.not.have.property('problem')
    expect(json.header).to.deep.include({
      format: 'dcos-zk-backup',
      formatVersion: 1,
      options: {exclude: [], includeEphemerals: false},
      source: {hosts: hosts.split(','), root: material.root},
    })
    expect(json.manifest).to.include({
      dataBytes: 20_298,
      excluded: 0,
      inconsistentCount: 0,
      skippedEphemerals: 0,
      znodes: 9,
    })
    expect(json.manifest.treeDigest).to.match(/^[0-9a-f]{64}$/)
    expect(json).to.not.have.property('tree')
  })

  it('--tree lists every znode: path, type, size and ACL', async () => {
    const {stdout} = expectExit(await dcos(['zk', 'inspect', material.file, '--tree']), 0)
    const {records} = await readArchiveFile(material.file)
    const lines = stdout.split('\n').slice(0, records.length)
    expect(lines.map((line) => line.split('  ')[0])).to.deep.equal(records.map((record) => record.path))
    const {root} = material
    expect(lines).to.include.members([
      `${root}  persistent  4 B  world:anyone:rwcda`,
      `${root}/binary  persistent  256 B  world:anyone:rwcda`,
      `${root}/random  persistent  19.5 KiB  world:anyone:rwcda`,
      `${root}/dir  persistent  0 B  world:anyone:rwcda`,
      `${root}/dir/read-only  persistent  2 B  world:anyone:r`,
      `${root}/dir/seq-0000000003  persistent sequential  3 B  world:anyone:rwcda`,
    ])
    expect(stdout).to.match(/^Integrity {3}OK/m)
  })

  it('--tree --json: the same list in a "tree" array', async () => {
    const json = JSON.parse(expectExit(await dcos(['zk', 'inspect', material.file, '--tree', '--json']), 0).stdout)
    expect(json.tree).to.have.length(9)
    expect(json.tree).to.deep.include({
      acl: ['world:anyone:r'],
      dataLength: 2,
      path: `${material.root}/dir/read-only`,
      type: 'persistent',
    })
    expect(json.tree[0]).to.deep.equal({
      acl: ['world:anyone:rwcda'],
      dataLength: 4,
      path: material.root,
      type: 'persistent',
    })
  })

  it('reads the archive from stdin with -', async () => {
    const {stdout} = expectExit(await dcos(['zk', 'inspect', '-'], {input: material.good}), 0)
    expect(stdout).to.match(/^Archive {5}-$/m)
    expect(stdout).to.match(/^Integrity {3}OK/m)
  })

  for (const [index, bad] of BAD_ARCHIVES.entries()) {
    it(`fails ${bad.name}: exit 1, FAILED with the problem`, async () => {
      const file = join(dir, `bad-${index}.tar.gz`)
      await writeFile(file, bad.make(material))
      const [text, json] = await Promise.all([dcos(['zk', 'inspect', file]), dcos(['zk', 'inspect', file, '--json'])])
      expectExit(text, 1)
      const verdict = text.stdout.split('\n').find((line) => line.startsWith('Integrity'))!
      expect(verdict).to.match(
        new RegExp(
          `^Integrity {3}FAILED after \\d+ znodes: ${file.replaceAll(/[.*+?^${}()|[\]\\/]/g, String.raw`\$&`)} failed verification: `,
        ),
      )
      expect(verdict).to.match(bad.problem)
      expect(text.stderr).to.equal('')

      expectExit(json, 1)
      const result = JSON.parse(json.stdout)
      expect(result).to.include({location: file, verified: false})
      expect(result.problem).to.match(bad.problem)
      expect(result.manifest, 'no manifest from a bad archive').to.equal(undefined)
    })
  }

  it('reports how far it got: a format version 99 archive fails before any znode, with its header shown', async () => {
    const future = BAD_ARCHIVES.find((bad) => bad.name.startsWith('format version'))!
    const file = join(dir, 'future.tar.gz')
    await writeFile(file, future.make(material))
    const {stdout} = expectExit(await dcos(['zk', 'inspect', file]), 1)
    expect(stdout).to.match(
      /^Integrity {3}FAILED after 0 znodes: .*format version 99 is newer than this tool reads \(1\): upgrade dcos-backup$/m,
    )
  })

  it('refuses a missing archive: exit 2', async () => {
    expectUsageError(
      await dcos(['zk', 'inspect', join(dir, 'missing.tar.gz')]),
      `Error: No archive at ${join(dir, 'missing.tar.gz')}`,
    )
  })
})
