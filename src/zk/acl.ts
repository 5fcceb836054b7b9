import {createHash} from 'node:crypto'

import type {Acl} from './session.js'

export interface Identity {
  scheme: string
  id: string
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
export function grantedPerms(acl: Acl[], identities: Identity[], unevaluable: 'grant' | 'deny' = 'grant'): number {
  let granted = 0
  for (const entry of acl) {
    const ours = EVALUABLE_SCHEMES.has(entry.scheme)
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

export function permsText(perms: number): string {
  return ['r', 'w', 'c', 'd', 'a'].filter((_, bit) => perms & (1 << bit)).join('') || '-'
}
