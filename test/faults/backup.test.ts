/**
 * Faults during a backup: a backup that cannot finish fails within a bounded time, with one clear
 * line and exit 1, and leaves nothing at its target that could pass for an archive.
 */
import {ListMultipartUploadsCommand, ListObjectsV2Command} from '@aws-sdk/client-s3'
import {expect} from 'chai'
import {randomBytes} from 'node:crypto'
import {readdir} from 'node:fs/promises'
import {join} from 'node:path'

import {Ensemble} from '../harness/ensemble.js'
import {type S3Server, startS3} from '../harness/s3.js'
import {spawnDcos, zkUri} from '../helpers/cli.js'
import {removeDir, tempDir} from '../helpers/fixtures.js'
import {connectedPorts} from '../helpers/net.js'
import {connect, seedTree, uniquePath} from '../helpers/tree.js'
import {eventually} from '../helpers/wait.js'

const ZNODES = 10_000

describe('faults during a backup', function () {
  this.timeout(180_000)
  let ensemble: Ensemble
  let s3: S3Server
  let dir: string
  const root = uniquePath('quorum-backup')

  before(async () => {
    ;[ensemble, s3, dir] = await Promise.all([Ensemble.start({nodes: 3}), startS3(), tempDir('faults-backup')])
    const session = await connect(ensemble.connectString)
    try {
      // 40 MB of incompressible data: to S3, more multipart-upload parts (8 MiB) than the upload buffers.
      await seedTree(session, root, [
        {path: '/'},
        ...Array.from({length: ZNODES}, (_, index) => ({data: randomBytes(4000), path: `/z-${index}`})),
      ])
    } finally {
      await session.close()
    }
  })

  after(async () => {
    await Promise.all([ensemble?.stop(), s3?.stop(), removeDir(dir)])
  })

  afterEach(async () => {
    // Each case takes the quorum away; the next one needs it back.
    await ensemble.startStopped()
  })

  /** Holds the backup (SIGSTOP) once `started` says it is under way, takes the quorum away, and lets it go on. */
  async function loseQuorumMidBackup(
    location: string,
    started: (pid: number) => Promise<boolean>,
    batch = 'auto',
  ): Promise<{code: null | number; seconds: number; stderr: string}> {
    const backup = spawnDcos([
      'zk',
      'backup',
      location,
      '--zk',
      zkUri(ensemble.connectString, root),
      '--session-timeout',
      '4',
      '--batch',
      batch,
    ])
    await eventually(
      'the backup to be under way',
      async () => ((await started(backup.child.pid!)) ? true : undefined),
      30_000,
      5,
    )
    backup.child.kill('SIGSTOP')
    expect(backup.child.exitCode, 'the backup was still running when the quorum went').to.equal(null)
    await Promise.all([ensemble.stopNode(1), ensemble.stopNode(2)])
    backup.child.kill('SIGCONT')
    const lost = Date.now()
    const {at, code, stderr} = await backup.exited
    return {code, seconds: (at - lost) / 1000, stderr}
  }

  /** The CLI's connections to the ensemble's nodes. */
  async function sessionsOf(pid: number): Promise<number> {
    const ports = new Set(ensemble.nodes.map((node) => node.clientPort))
    return (await connectedPorts(pid)).filter((port) => ports.has(port)).length
  }

  // The walk has begun once the temp file exists and the sessions are open: batched, the CLI's
  // session and one per other node for the ACL reads; otherwise the CLI's session alone.
  for (const [batch, sessions] of [
    ['on', 3],
    ['off', 1],
  ] as const) {
    it(`to a file (--batch ${batch}): exit 1 within the session timeout and a margin, one line, no file and no temp file left`, async () => {
      const target = join(dir, 'lost.tar.gz')
      const started = async (pid: number) =>
        (await readdir(dir)).some((name) => name.startsWith('.lost.tar.gz.tmp-')) && (await sessionsOf(pid)) >= sessions
      const {code, seconds, stderr} = await loseQuorumMidBackup(target, started, batch)
      expect(code, `exit code (null: killed by a signal); stderr: ${stderr}`).to.equal(1)
      expect(seconds).to.be.below(20)
      expect(stderr.trim().split('\n')).to.have.length(1)
      expect(stderr).to.match(
        /^Error: .*(connection ?loss|operation ?timeout|session ?expired|ZCONNECTIONLOSS|ZOPERATIONTIMEOUT|closed)/i,
      )
      expect(await readdir(dir)).to.deep.equal([])
    })
  }

  it('to S3, once the first part is stored: exit 1, no object, the multipart upload aborted', async () => {
    const key = 'faults/lost.tar.gz'
    const stored = () =>
      s3.requests.some((request) => request.key === key && request.partNumber === 1 && request.status === 200)
    const {code, stderr} = await loseQuorumMidBackup(s3.uri(key), async () => stored())
    expect(code).to.equal(1)
    expect(stderr.trim().split('\n')).to.have.length(1)
    expect(
      s3.requests.some((request) => request.key === key && request.method === 'DELETE' && request.status === 204),
      'aborted',
    ).to.equal(true)
    const {Contents = []} = await s3.client.send(new ListObjectsV2Command({Bucket: s3.bucket, Prefix: 'faults/'}))
    expect(Contents.map((object) => object.Key)).to.deep.equal([])
    const {Uploads = []} = await s3.client.send(new ListMultipartUploadsCommand({Bucket: s3.bucket}))
    expect(Uploads.map((upload) => upload.Key)).to.deep.equal([])
  })
})
