import {createHash} from 'node:crypto'

import type {Acl} from './types.js'

export interface Identity {
  id: string
  scheme: string
}

export const PERMS = {ADMIN: 16, CREATE: 4, DELETE: 8, READ: 1, WRITE: 2} as const

/** The id ZooKeeper stores in a digest ACL for these credentials: user:base64(sha1(user:password)). */
export function digestId(user: string, password: string): string {
  return `${user}:${createHash('sha1').update(`${user}:${password}`).digest('base64')}`
}

/** Schemes whose ids this client can match itself; others (ip, sasl, x509) depend on the server's view. */
const EVALUABLE_SCHEMES = new Set(['world', 'digest'])

/**
 * The permissions the ACL grants to any of `identities`. An entry of a scheme we cannot evaluate
 * counts as granting unless `unevaluable` is 'deny'.
 */
export function grantedPerms(acl: Acl[], identities: Identity[], unevaluable: 'deny' | 'grant' = 'grant'): number {
  let granted = 0
  for (const entry of acl) {
    // A digest entry of our user whose hash the server hid may be ours: the server decides.
    const ours =
      EVALUABLE_SCHEMES.has(entry.scheme) && !(entry.scheme === 'digest' && hiddenOfOurUser(entry.id, identities))
        ? identities.some((identity) => identity.scheme === entry.scheme && identity.id === entry.id)
        : unevaluable === 'grant'
    if (ours) granted |= entry.perms
  }

  return granted
}

/**
 * The permissions of `wanted` that the ACL certainly does not grant to any of `identities` (the
 * server decides on schemes we cannot evaluate; we only refuse on certainty).
 */
export function missingPerms(acl: Acl[], identities: Identity[], wanted: number): number {
  return wanted & ~grantedPerms(acl, identities)
}

/** Who a session is to ACLs: world:anyone, plus the digest id of its credentials. */
export function identitiesOf(auth?: {password: string; user: string}): Identity[] {
  return auth ? [WORLD, {id: digestId(auth.user, auth.password), scheme: 'digest'}] : [WORLD]
}

const WORLD: Identity = {id: 'anyone', scheme: 'world'}

/**
 * The ACL as the server shows it to these identities: to a client without ADMIN on the znode, a
 * digest entry shows its user only, `user:x` (ZooKeeper's FinalRequestProcessor, ZOOKEEPER-1392).
 * Entries of schemes we cannot evaluate count as not granting ADMIN.
 */
export function aclAsShown(acl: Acl[], identities: Identity[]): Acl[] {
  if (grantedPerms(acl, identities, 'deny') & PERMS.ADMIN) return acl
  return acl.map((entry) => (entry.scheme === 'digest' ? {...entry, id: hiddenDigest(entry.id)} : entry))
}

const hiddenDigest = (id: string) => id.replace(/:.*/s, ':x')
const isHiddenDigest = (id: string) => /^[^:]*:x$/s.test(id)
const userOf = (id: string) => id.replace(/:.*/s, '')

function hiddenOfOurUser(id: string, identities: Identity[]): boolean {
  return (
    isHiddenDigest(id) &&
    identities.some((identity) => identity.scheme === 'digest' && userOf(identity.id) === userOf(id))
  )
}

/** A digest entry as the server hides it from a client without ADMIN (its hash replaced by x): the real id is unknown. */
export function hidesDigest(acl: Acl[], identities: Identity[]): Acl | undefined {
  if (grantedPerms(acl, identities, 'deny') & PERMS.ADMIN) return undefined
  return acl.find((entry) => entry.scheme === 'digest' && isHiddenDigest(entry.id))
}

export function permsText(perms: number): string {
  return ['r', 'w', 'c', 'd', 'a'].filter((_, bit) => perms & (1 << bit)).join('') || '-'
}
