/**
 * A replayed state as the restore's source, with no server: it must plan exactly what the same
 * state written as an online archive (`zk convert`'s writer) and read back through the archive
 * reader plans, and refuse what the archive reader refuses (a hostile data directory).
 */
import {expect} from 'chai'
import {join} from 'node:path'

import type {FullPlan, RestoreOptions, Scope} from '../../src/engine/restore/types.js'
import type {Acl} from '../../src/zk/session.js'
import type {DiskState} from '../../src/zkdisk/index.js'
import type {PersistedStat, TreeNode} from '../../src/zkdisk/znode.js'

import {writeStateArchive} from '../../src/engine/convert.js'
import {restoreScope, selectedZnodes, verifyAndPlanForEmptyTarget} from '../../src/engine/restore/plan.js'
import {stateSource} from '../../src/engine/restore/state-source.js'
import {resolveLocation} from '../../src/providers/index.js'
import {parentZnodePath} from '../../src/zk/uri.js'
import {addChild, childCount, OPEN_ACL} from '../../src/zkdisk/index.js'
import {ZnodeView} from '../../src/zkdisk/view.js'
import {writeCraftedArchive} from '../helpers/craft.js'
import {removeDir, tempDir} from '../helpers/fixtures.js'

interface FakeZnode {
  acl?: Acl[]
  data?: string
  /** Zero bytes of this length as the data, rather than `data`. */
  dataBytes?: number
  ephemeral?: boolean
  nextSequence?: number
  path: string
}

/** A DiskState over these znodes; `extraChildren` lists names a parent holds beyond its znodes' (a hostile tree). */
function fakeState(znodes: FakeZnode[], extraChildren: Record<string, string[]> = {}): DiskState {
  const nodes = new Map<string, TreeNode>()
  for (const fake of znodes) {
    const data = fake.dataBytes === undefined ? Buffer.from(fake.data ?? '') : Buffer.alloc(fake.dataBytes)
    nodes.set(fake.path, {acl: fake.acl ?? OPEN_ACL, children: undefined, data, stat: storedStat(fake)})
  }

  for (const fake of znodes) {
    const parent = fake.path === '/' ? undefined : nodes.get(parentZnodePath(fake.path))
    if (parent) addChild(parent, nameOf(fake))
  }

  for (const [parent, names] of Object.entries(extraChildren))
    for (const name of names) addChild(nodes.get(parent)!, name)
  // The stored cversion is the next sequence number: by default, one past every child created (as clients read it, numChildren).
  for (const fake of znodes)
    nodes.get(fake.path)!.stat.cversion = fake.nextSequence ?? childCount(nodes.get(fake.path)!)
  const view = new ZnodeView(nodes, false)
  return {
    children: (path: string) => view.children(path),
    walk: (root: string) => view.walk(root),
    znodes: view,
    zxid: 0x1_00_00_00_09n,
  } as unknown as DiskState
}

function storedStat(fake: FakeZnode): PersistedStat {
  return {
    aversion: 0,
    ctime: 1_700_000_000_000,
    cversion: 0,
    czxid: 5n,
    ephemeralOwner: fake.ephemeral ? 0x12_34n : 0n,
    mtime: 1_700_000_000_000,
    mzxid: 6n,
    pzxid: 7n,
    version: 1,
  }
}

const nameOf = ({path}: FakeZnode) => path.slice(path.lastIndexOf('/') + 1)

const TREE: FakeZnode[] = [
  {data: 'root', path: '/'},
  {data: 'app', path: '/app'},
  {data: 'one', path: '/app/one'},
  {path: '/app/queue'},
  {data: 'a', path: '/app/queue/item-0000000003'},
  {data: 'b', nextSequence: 9, path: '/app/queue/item-0000000007'},
  {data: 'gone with its session', ephemeral: true, path: '/app/lease'},
  {acl: [{id: 'alice:aGFzaA==', perms: 31, scheme: 'digest'}], data: 'secret', path: '/b'},
  {data: 'quota', path: '/zookeeper'},
  {path: '/zookeeper/quota'},
]

const options = (extra: Partial<RestoreOptions> = {}) =>
  ({safetyBackup: null, source: resolveLocation('unused.tar.gz'), ...extra}) as RestoreOptions

/** What the plan says, without the live-tree parts a plan into an empty target leaves empty. */
function planFacts(plan: FullPlan) {
  return {
    acls: plan.acls && [...plan.acls.keys()],
    archiveRoot: plan.archiveRoot,
    counters: {check: [...plan.counters.check], raise: [...plan.counters.raise]},
    create: plan.create,
    expectedDigest: plan.expectedDigest,
    firstCreate: plan.firstCreate,
    from: plan.from,
    largest: plan.largest?.path,
    sequencePairs: plan.sequencePairs,
    target: plan.target,
  }
}

describe('a replayed state as the restore source (in memory)', () => {
  let dir: string

  before(async () => {
    dir = await tempDir('state-source')
  })

  after(() => removeDir(dir))

  for (const extra of [{}, {from: '/app', target: '/copy'}, {exclude: ['/app/one']}]) {
    it(`plans what the same state written as an archive plans (${JSON.stringify(extra)})`, async () => {
      const state = fakeState(TREE)
      const archive = resolveLocation(join(dir, `${Object.keys(extra).join('-') || 'all'}.tar.gz`))
      await writeStateArchive({destination: archive, overwrite: true, sourceDisplay: 'fake', state})
      const scopeOf = (root: string): Scope => restoreScope(root, options(extra))
      const fromArchive = await verifyAndPlanForEmptyTarget(archive, scopeOf)
      const fromState = await verifyAndPlanForEmptyTarget(stateSource(state, 'the fake state'), scopeOf)
      expect(planFacts(fromState.emptyTargetPlan)).to.deep.equal(planFacts(fromArchive.emptyTargetPlan))
      expect(fromState.emptyTargetPlan.create).to.be.greaterThan(0)
      expect(fromState.selection.znodes).to.equal(fromArchive.selection.znodes)

      const written = async (selection: typeof fromState.selection) => {
        const found = []
        for await (const {data, record, relativePath} of selectedZnodes(selection))
          // An archive's record also carries the checksum it was verified against, which the restore does not use.
          found.push({data: data.toString(), record: {...record, sha256: undefined}, relativePath})
        return found
      }

      expect(await written(fromState.selection)).to.deep.equal(await written(fromArchive.selection))
    })
  }

  it('leaves /zookeeper and ephemerals out, parents before children', async () => {
    const {selection} = await verifyAndPlanForEmptyTarget(stateSource(fakeState(TREE), 'the fake state'), (root) =>
      restoreScope(root, options()),
    )
    const paths = []
    for await (const {relativePath} of selectedZnodes(selection)) paths.push(relativePath)
    expect(paths).to.deep.equal([
      '/',
      '/app',
      '/app/one',
      '/app/queue',
      '/app/queue/item-0000000003',
      '/app/queue/item-0000000007',
      '/b',
    ])
  })

  it('once released, the tree is let go: another pass is refused', async () => {
    const source = stateSource(fakeState(TREE), 'the fake state')
    const scopeOf = (root: string) => restoreScope(root, options())
    await verifyAndPlanForEmptyTarget(source, scopeOf)
    source.release!()
    const error = await verifyAndPlanForEmptyTarget(source, scopeOf).then(
      () => undefined,
      (error: Error) => error,
    )
    expect(error?.message).to.equal('the fake state was read after the restore let it go')
  })

  it('an online archive replaced between two passes is refused on the second', async () => {
    const file = join(dir, 'replaced.tar.gz')
    await writeCraftedArchive(file, '/app', [{data: 'first', path: '/'}])
    const {selection} = await verifyAndPlanForEmptyTarget(resolveLocation(file), (root) =>
      restoreScope(root, options()),
    )
    await new Promise((resolve) => setTimeout(resolve, 5)) // another createdAt
    await writeCraftedArchive(file, '/app', [{data: 'second', path: '/'}])
    const error = await (async () => {
      for await (const _ of selectedZnodes(selection));
    })().then(
      () => undefined,
      (error: Error) => error,
    )
    expect(error?.message).to.equal(`${file} changed while it was being restored`)
  })

  const hostile: Array<{expected: RegExp; extraChildren?: Record<string, string[]>; name: string; tree: FakeZnode[]}> =
    [
      {
        expected: /"\/app": ACL entry 1: unknown scheme "bogus"/,
        name: 'an ACL the server would refuse',
        tree: [{path: '/'}, {acl: [{id: 'x', perms: 31, scheme: 'bogus'}], path: '/app'}],
      },
      {
        expected: /"\/app": ACL entry 1: ACL perms 64 outside 1-31/,
        name: 'ACL permissions out of range',
        tree: [{path: '/'}, {acl: [{id: 'anyone', perms: 64, scheme: 'world'}], path: '/app'}],
      },
      {
        expected: /"\/app\/x" is the child of an ephemeral znode/,
        name: 'a child of an ephemeral',
        tree: [{path: '/'}, {ephemeral: true, path: '/app'}, {path: '/app/x'}],
      },
      {
        expected: /stat.dataLength 67108865 is larger than a member may be/,
        name: 'a znode larger than an archive member may be',
        tree: [{path: '/'}, {dataBytes: 64 * 1024 * 1024 + 1, path: '/app'}],
      },
      {
        expected: /"\/app\/\.": path "\/app\/\." is invalid/,
        name: 'a name ZooKeeper refuses',
        tree: [{path: '/'}, {path: '/app'}, {path: '/app/.'}],
      },
      {
        expected: /the parent of "\/a\/b" is not recorded before it/,
        extraChildren: {'/': ['a/b']},
        name: 'a name holding a slash',
        tree: [{path: '/'}, {path: '/a/b'}],
      },
      {
        expected: /nextSequence 1 is below stat.numChildren 3/,
        name: 'a sequence counter below the children',
        tree: [{nextSequence: 1, path: '/'}, {path: '/a'}, {path: '/b'}, {path: '/c'}],
      },
    ]
  for (const {expected, extraChildren, name, tree} of hostile) {
    it(`refuses ${name}, naming the source, as the archive reader would`, async () => {
      const source = stateSource(fakeState(tree, extraChildren), 'hostile.tar.gz (state at zxid 0x100000009)')
      const error = await verifyAndPlanForEmptyTarget(source, (root) => restoreScope(root, options())).then(
        () => undefined,
        (error: Error) => error,
      )
      expect(error?.message).to.match(/^hostile\.tar\.gz \(state at zxid 0x100000009\) failed verification: /)
      expect(error?.message).to.match(expected)
    })
  }
})
