/**
 * The one rule for sessions (docs/architecture.md): whoever opens a session closes it and waits for
 * the close, whatever happened, and a failing close never hides the operation's own error. Sessions
 * are real (the shared ensemble); only their close is watched.
 */
import {expect} from 'chai'
import {join} from 'node:path'

import {restoreTree} from '../../src/engine/restore.js'
import {resolveLocation} from '../../src/providers/index.js'
import {OPEN_ACL, withSession, ZkSession} from '../../src/zk/session.js'
import {sharedEnsemble} from '../harness/hooks.js'
import {writeCraftedArchive} from '../helpers/craft.js'
import {removeDir, tempDir} from '../helpers/fixtures.js'
import {rejection} from '../helpers/streams.js'
import {uniquePath} from '../helpers/tree.js'

interface Watched {
  /** Set once the session's close has finished (the server answered closeSession). */
  closed: boolean
  session: ZkSession
}

/** Opens real sessions whose close is watched, and fails after closing when `closeFails`. */
function watchedOpener(
  hosts: string[],
  {closeFails = false} = {},
): {open: () => Promise<ZkSession>; opened: Watched[]} {
  const opened: Watched[] = []
  const open = async () => {
    const session = await ZkSession.connect({hosts})
    const watched: Watched = {closed: false, session}
    const close = session.close.bind(session)
    session.close = async () => {
      await close()
      watched.closed = true
      if (closeFails) throw new Error('the close failed')
    }

    opened.push(watched)
    return session
  }

  return {open, opened}
}

describe('sessions: whoever opens one closes it, and waits for the close', function () {
  this.timeout(60_000)
  let hosts: string[]
  let dir: string

  before(async () => {
    hosts = (await sharedEnsemble()).connectString.split(',')
    dir = await tempDir('sessions-')
  })

  after(() => removeDir(dir))

  it("withSession: the close has finished when it returns, and a failing close never replaces the work's own error", async () => {
    const ok = watchedOpener(hosts)
    expect(await withSession(ok.open, async (session) => Boolean(await session.exists('/')))).to.equal(true)
    expect(ok.opened.map(({closed}) => closed)).to.deep.equal([true])

    const failing = watchedOpener(hosts, {closeFails: true})
    const error = await rejection(
      withSession(failing.open, async () => {
        throw new Error('the work failed')
      }),
    )
    expect(error.message).to.equal('the work failed')
    expect(failing.opened.map(({closed}) => closed)).to.deep.equal([true])

    const closeError = await rejection(withSession(failing.open, async () => 'done'))
    expect(closeError.message, "after work that succeeded, the close's failure is reported").to.equal(
      'the close failed',
    )
  })

  it('restoreTree has closed the session it opened when it returns, and when it fails', async () => {
    const archive = join(dir, 'small.tar.gz')
    await writeCraftedArchive(archive, '/small', [
      {data: 'root', path: '/'},
      {data: 'a', path: '/a'},
    ])
    const target = uniquePath('sessions-restore')
    const restore = (open: () => Promise<ZkSession>, extra: {confirm?: () => Promise<boolean>} = {}) =>
      restoreTree({batch: 'off', connect: open, safetyBackup: null, source: resolveLocation(archive), target, ...extra})

    const first = watchedOpener(hosts)
    expect((await restore(first.open)).verified).to.equal(true)
    expect(first.opened.map(({closed}) => closed)).to.deep.equal([true])

    // A znode the archive lacks makes the plan destructive: the confirmation is asked, and refused.
    await withSession(
      () => ZkSession.connect({hosts}),
      (session) => session.create(`${target}/extra`, Buffer.alloc(0), 0, undefined, OPEN_ACL),
    )
    const refused = watchedOpener(hosts)
    const error = await rejection(restore(refused.open, {confirm: async () => false}))
    expect(error.message).to.match(/^Restore cancelled: nothing under .* was changed$/)
    expect(refused.opened.map(({closed}) => closed)).to.deep.equal([true])
  })
})
