/**
 * An independent view of a live tree, read with another ZooKeeper client (node-zookeeper-client,
 * pure JavaScript, none of our code): tests that compare the tool's results with it cannot pass
 * through a bug the tool's own walk and session share.
 *
 * Keyed by the path relative to the root ("/" for the root itself); ACLs are sorted
 * "scheme:id:perms" strings, data is base64, ephemeralOwner is the hex the client sees.
 */
import {expect} from 'chai'
import zookeeper from 'node-zookeeper-client'

import {readArchiveFile} from './archive.js'

export interface OracleZnode {
  acl: string[]
  data: string
  ephemeralOwner: string
}

export type OracleTree = Record<string, OracleZnode>

export interface OracleOptions {
  /** user:password for digest auth */
  auth?: string
  /** Leave out ZooKeeper's own /zookeeper (when the root is /). Default true. */
  skipZookeeper?: boolean
}

/** A node-zookeeper-client call as a promise. */
export const call = <T>(run: (done: (error: unknown, value: T) => void) => void): Promise<T> =>
  new Promise((resolve, reject) => run((error, value) => (error ? reject(error) : resolve(value))))

/** Connects, syncs (so the tree is the leader's) and hands the client to `use`. */
export async function withOracleClient<T>(
  hosts: string,
  auth: string | undefined,
  use: (client: zookeeper.Client) => Promise<T>,
): Promise<T> {
  const client = zookeeper.createClient(hosts, {retries: 3, sessionTimeout: 15_000})
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`oracle: cannot connect to ${hosts}`)), 30_000)
    client.once('connected', () => {
      clearTimeout(timer)
      resolve()
    })
    client.connect()
  })
  try {
    if (auth) client.addAuthInfo('digest', Buffer.from(auth))
    return await use(client)
  } finally {
    client.close()
  }
}

/** The path a sequential create under `parent` gets, created with the other client. */
export function createSequentialIndependently(hosts: string, parent: string, auth?: string): Promise<string> {
  return withOracleClient(hosts, auth, (client) =>
    call<string>((done) =>
      client.create(`${parent}/next-`, Buffer.alloc(0), zookeeper.CreateMode.PERSISTENT_SEQUENTIAL, done),
    ),
  )
}

/** Every znode under `root` (none when it does not exist), read breadth first with the other client; keys in path order. */
export function readTreeIndependently(hosts: string, root: string, options: OracleOptions = {}): Promise<OracleTree> {
  const skipZookeeper = options.skipZookeeper ?? true
  return withOracleClient(hosts, options.auth, async (client) => {
    const tree: OracleTree = {}
    const exists = await call<null | zookeeper.Stat>((done) => client.exists(root, done))
    if (!exists) return tree
    let level = [root]
    while (level.length > 0) {
      const children = await Promise.all(
        level.map(async (path) => {
          const [data, stat] = await new Promise<[Buffer | undefined, zookeeper.Stat]>((resolve, reject) =>
            client.getData(path, (error, value, valueStat) => (error ? reject(error) : resolve([value, valueStat]))),
          )
          const acls = await call<zookeeper.ACL[]>((done) => client.getACL(path, done))
          const relative = relativeTo(root, path)
          tree[relative] = {
            acl: acls.map((acl) => `${acl.id.scheme}:${acl.id.id}:${permsOf(acl)}`).sort(),
            data: (data ?? Buffer.alloc(0)).toString('base64'),
            ephemeralOwner: stat.ephemeralOwner.toString('hex'),
          }
          const names = await call<string[]>((done) => client.getChildren(path, done))
          return names
            .map((name) => (path === '/' ? `/${name}` : `${path}/${name}`))
            .filter((child) => !(skipZookeeper && child === '/zookeeper'))
        }),
      )
      level = children.flat()
    }

    return Object.fromEntries(Object.entries(tree).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
  })
}

// The library's ACL objects carry `permission`; its type declarations say `perms`.
export const permsOf = (acl: zookeeper.ACL): number => (acl as unknown as {permission?: number}).permission ?? acl.perms

function relativeTo(root: string, path: string): string {
  if (path === root) return '/'
  return root === '/' ? path : path.slice(root.length)
}

/** Human-readable differences between two oracle trees (empty when equal). */
export function oracleDiff(expected: OracleTree, actual: OracleTree): string[] {
  const problems: string[] = []
  for (const path of Object.keys(expected).sort()) {
    const a = actual[path]
    if (!a) problems.push(`missing ${path}`)
    else if (JSON.stringify(a) !== JSON.stringify(expected[path]))
      problems.push(`differs ${path}: ${JSON.stringify(expected[path])} != ${JSON.stringify(a)}`)
  }

  for (const path of Object.keys(actual).sort()) if (!expected[path]) problems.push(`extra ${path}`)
  return problems
}

/** What every client sees as the ephemeralOwner of a persistent, container or TTL znode. */
export const NO_OWNER = '0000000000000000'

/** `tree` without its ephemeral znodes (what a backup keeps, what a restore never recreates). */
export function withoutEphemeralOwners(tree: OracleTree): OracleTree {
  return Object.fromEntries(Object.entries(tree).filter(([, znode]) => znode.ephemeralOwner === NO_OWNER))
}

/** An archive records that a znode was ephemeral, not the session that owned it. */
export const SOME_OWNER = 'ephemeral'

/**
 * The archive's records (the tool's output, read with its reader) in the oracle's form. Ephemerals
 * (in archives made with --include-ephemerals) have ephemeralOwner SOME_OWNER; for the others, what
 * the live tree holds once they are restored, ephemeralOwner is NO_OWNER.
 */
export async function archiveAsOracleTree(file: string, {from}: {from?: string} = {}): Promise<OracleTree> {
  const {tree} = await readArchiveFile(file, {ephemerals: true, from})
  return Object.fromEntries(
    Object.entries(tree).map(([path, znode]) => [
      path,
      {
        acl: znode.acl.map((acl) => `${acl.scheme}:${acl.id}:${acl.perms}`).sort(),
        data: znode.data,
        ephemeralOwner: znode.type === 'ephemeral' ? SOME_OWNER : NO_OWNER,
      },
    ]),
  )
}

/** The live tree under `root`, read with the oracle, is `expected` (ACLs and ephemeral owners included). */
export async function expectSameTree(expected: OracleTree, hosts: string, root: string, auth?: string): Promise<void> {
  const actual = await readTreeIndependently(hosts, root, {auth})
  expect(oracleDiff(expected, actual), `the live tree under ${root} (read by the oracle) differs`).to.deep.equal([])
}

/**
 * The archive's records hold exactly the znodes of `expected` (a tree the oracle read) that a backup
 * keeps, data and ACLs: its persistent ones, or with `ephemerals` its ephemerals too.
 */
export async function expectArchiveHolds(
  file: string,
  expected: OracleTree,
  {ephemerals = false, from}: {ephemerals?: boolean; from?: string} = {},
): Promise<void> {
  const kept = ephemerals ? anyOwner(expected) : withoutEphemeralOwners(expected)
  expect(
    oracleDiff(kept, await archiveAsOracleTree(file, {from})),
    `${file} differs from the tree the oracle read`,
  ).to.deep.equal([])
}

const anyOwner = (tree: OracleTree): OracleTree =>
  Object.fromEntries(
    Object.entries(tree).map(([path, znode]) => [
      path,
      znode.ephemeralOwner === NO_OWNER ? znode : {...znode, ephemeralOwner: SOME_OWNER},
    ]),
  )
