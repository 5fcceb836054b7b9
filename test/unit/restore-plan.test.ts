/**
 * The restore planner against an in-memory live tree: what it creates, changes, deletes and leaves
 * alone, with no server. The live tree is made from records the way readLiveTree makes it.
 */
import {expect} from 'chai'
import {join} from 'node:path'

import type {LiveTree, RestoreOptions} from '../../src/engine/restore/types.js'

import {type ZnodeRecord} from '../../src/archive/format.js'
import {emptyLiveTree} from '../../src/engine/restore/live.js'
import {planRestore, restoreScope, shownKey, verifyAndPlanForEmptyTarget} from '../../src/engine/restore/plan.js'
import {resolveLocation} from '../../src/providers/index.js'
import {identitiesOf} from '../../src/zk/acl.js'
import {OPEN_ACL} from '../../src/zk/session.js'
import {type CraftedZnode, writeCraftedArchive} from '../helpers/craft.js'
import {removeDir, tempDir} from '../helpers/fixtures.js'

const ARCHIVED: CraftedZnode[] = [
  {data: 'root', path: '/'},
  {data: 'same', path: '/same'},
  {data: 'archived', path: '/changed'},
  {data: 'new', path: '/same/new'},
  {data: 'kept', path: '/left'},
]

function liveTree(znodes: Record<string, string>, {existed = true} = {}): LiveTree {
  const live = emptyLiveTree()
  live.existed = existed
  for (const [path, data] of Object.entries(znodes)) {
    const record = {acl: OPEN_ACL, path, type: 'persistent'} as ZnodeRecord
    live.znodes.set(path, {key: shownKey(record, Buffer.from(data), identitiesOf()), seen: false})
  }

  return live
}

describe('the restore planner (in memory)', () => {
  let dir: string
  let archive: string
  const options = (extra: Partial<RestoreOptions> = {}) =>
    ({safetyBackup: null, source: resolveLocation(archive), ...extra}) as RestoreOptions

  before(async () => {
    dir = await tempDir('plan')
    archive = join(dir, 'app.tar.gz')
    await writeCraftedArchive(archive, '/app', ARCHIVED)
  })

  after(() => removeDir(dir))

  it('into an empty target, every archived znode is a create', async () => {
    const {emptyTargetPlan} = await verifyAndPlanForEmptyTarget(resolveLocation(archive), (root) =>
      restoreScope(root, options()),
    )
    expect([
      emptyTargetPlan.create,
      emptyTargetPlan.change,
      emptyTargetPlan.delete,
      emptyTargetPlan.unchanged,
    ]).to.deep.equal([5, 0, 0, 0])
    expect(emptyTargetPlan.target).to.equal('/app')
  })

  it('against a live tree: creates what is missing, changes what differs, deletes what the archive lacks, leaves the rest', async () => {
    const {selection} = await verifyAndPlanForEmptyTarget(resolveLocation(archive), (root) =>
      restoreScope(root, options()),
    )
    const live = liveTree({
      '/': 'root',
      '/changed': 'live',
      '/extra': 'x',
      '/extra/child': 'y',
      '/left': 'kept',
      '/same': 'same',
    })
    const plan = await planRestore(selection, live)
    expect({change: plan.change, create: plan.create, delete: plan.delete, unchanged: plan.unchanged}).to.deep.equal({
      change: 1,
      create: 1,
      delete: 2,
      unchanged: 3,
    })
    expect(plan.firstCreate).to.deep.equal(['/app/same/new'])
    expect(plan.firstChange).to.deep.equal(['/app/changed'])
    expect([...plan.firstDelete].sort()).to.deep.equal(['/app/extra', '/app/extra/child'])
  })

  it('--exclude leaves live znodes alone and restores nothing under them', async () => {
    const {selection} = await verifyAndPlanForEmptyTarget(resolveLocation(archive), (root) =>
      restoreScope(root, options({exclude: ['/app/changed']})),
    )
    const live = liveTree({'/': 'root', '/left': 'kept', '/same': 'same', '/same/new': 'new'})
    live.excluded = 1 // readLiveTree counts the excluded live /changed and does not list it
    const plan = await planRestore(selection, live)
    expect({
      change: plan.change,
      create: plan.create,
      delete: plan.delete,
      excludedLive: plan.excludedLive,
      unchanged: plan.unchanged,
    }).to.deep.equal({
      change: 0,
      create: 0,
      delete: 0,
      excludedLive: 1,
      unchanged: 4,
    })
  })

  it('--from and a target elsewhere: the subtree goes under the target', async () => {
    const {selection} = await verifyAndPlanForEmptyTarget(resolveLocation(archive), (root) =>
      restoreScope(root, options({from: '/app/same', target: '/copy'})),
    )
    const plan = await planRestore(selection, liveTree({}, {existed: false}))
    expect({create: plan.create, from: plan.from, target: plan.target}).to.deep.equal({
      create: 2,
      from: '/app/same',
      target: '/copy',
    })
    expect(plan.firstCreate).to.deep.equal(['/copy', '/copy/new'])
  })

  it("refuses ZooKeeper's own subtree as a target before reading anything live", () => {
    expect(() => restoreScope('/app', options({target: '/zookeeper/quota'}))).to.throw(/ZooKeeper's own subtree/)
  })
})
