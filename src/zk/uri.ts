import {UsageError} from '../errors.js'

export const DEFAULT_ZK_PORT = 2181

export interface ZkTarget {
  hosts: string[]
  /** The znode path of the URI, or undefined when it names none. */
  path?: string
}

/**
 * Parses `zk://host1:2181,host2:2181/path` (the `zk://` is optional). Hosts without a port get 2181.
 * Credentials do not belong here (`--zk-auth` carries them) and are refused so they cannot leak
 * into manifests or logs.
 */
export function parseZkUri(uri: string): ZkTarget {
  const text = uri.trim()
  const withoutScheme = text.replace(/^zk:\/\//i, '')
  const credentials = new UsageError(
    'Credentials do not belong in the ZooKeeper URI: pass them with --zk-auth user:password',
  )
  if (/^[a-z][\w+.-]*:\/\//i.test(withoutScheme)) {
    if (text.includes('@')) throw credentials
    throw new UsageError(`Unsupported ZooKeeper URI scheme in "${text}": use zk://host:port,host:port/path`)
  }

  const slash = withoutScheme.indexOf('/')
  const hostPart = slash === -1 ? withoutScheme : withoutScheme.slice(0, slash)
  const pathPart = slash === -1 ? undefined : withoutScheme.slice(slash)
  if (hostPart.includes('@')) throw credentials
  // A password holding "/" puts its "@" in the path ("admin:pw/x@host/path"): the host part is then
  // invalid, and naming it would show the start of the password.
  let hosts: string[]
  try {
    if (hostPart.trim() === '')
      throw new UsageError(`No ZooKeeper hosts in "${text}": use zk://host:port,host:port/path`)
    hosts = hostPart.split(',').map((host) => parseHost(host.trim(), text))
  } catch (error) {
    throw text.includes('@') ? credentials : error
  }

  const path = pathPart === undefined || pathPart === '' ? undefined : normalizeRootPath(pathPart)
  return {hosts, path}
}

function parseHost(host: string, uri: string): string {
  const match = /^(\[[0-9a-f:.]+\]|[^:[\]\s]+)(?::(\d*))?$/i.exec(host)
  if (!match) throw new UsageError(`Invalid ZooKeeper host "${host}" in "${uri}": use host or host:port`)
  const [, name, portText] = match
  if (portText === undefined) return `${name}:${DEFAULT_ZK_PORT}`
  const port = Number(portText)
  if (portText === '' || !Number.isInteger(port) || port < 1 || port > 65_535) {
    throw new UsageError(`Invalid port "${portText}" for ZooKeeper host ${name}: use a number from 1 to 65535`)
  }

  return `${name}:${port}`
}

/** A path given as a root ("/marathon/", "/") is accepted with a trailing slash, then validated. */
function normalizeRootPath(path: string): string {
  const trimmed = path.length > 1 ? path.replace(/\/+$/, '') : path
  return validateZnodePath(trimmed || '/')
}

// The characters ZooKeeper's PathUtils refuses in a path.

const INVALID_PATH_CHARS = /[\u0000-\u001F\u007F-\u009F\uD800-\uF8FF\uFFF0-\uFFFF]/

/** Validates a znode path the way the server does, so a bad path fails before any request is sent. */
export function validateZnodePath(path: string): string {
  const problem = znodePathProblem(path)
  if (problem) throw new UsageError(`Invalid znode path "${printable(path)}": ${problem}`)
  return path
}

/** What is wrong with `path` as a znode path (ZooKeeper's PathUtils.validatePath), or undefined. */
export function znodePathProblem(path: string): string | undefined {
  if (!path.startsWith('/')) return 'it must start with /'
  if (path === '/') return undefined
  if (path.endsWith('/')) return 'it must not end with /'
  if (INVALID_PATH_CHARS.test(path)) return 'it contains a character ZooKeeper does not allow'
  for (const name of path.slice(1).split('/')) {
    if (name === '') return 'it contains an empty name (//)'
    if (name === '.' || name === '..') return `"${name}" is not allowed as a znode name`
  }

  return undefined
}

function printable(text: string): string {
  return escapeText(text)
}

// C0 and C1 controls, DEL, line and paragraph separators, bidi controls and marks, lone surrogates.

const UNPRINTABLE =
  /[\u0000-\u001F\u007F-\u009F\u200E\u200F\u2028-\u202E\u2066-\u2069\uFEFF]|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]|["\\]/g

/** `text` as it may reach a terminal: quotes, backslashes and every invisible or control character escaped (\n, \u001b). */
export function escapeText(text: string): string {
  return text.replaceAll(UNPRINTABLE, (char) => {
    if (char === '"' || char === '\\') return `\\${char}`
    const json = JSON.stringify(char).slice(1, -1)
    return json.startsWith('\\') ? json : `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}`
  })
}

export function joinZnodePath(parent: string, child: string): string {
  return parent === '/' ? `/${child}` : `${parent}/${child}`
}

/** Whether `path` is `root` or lies under it. */
export function isUnderZnode(path: string, root: string): boolean {
  return root === '/' || path === root || path.startsWith(`${root}/`)
}

/** The path of `path` relative to `root`, as "/..." ("/" for the root itself), or undefined if outside it. */
export function relativeZnodePath(root: string, path: string): string | undefined {
  if (root === '/') return path.startsWith('/') ? path : undefined
  if (path === root) return '/'
  return path.startsWith(`${root}/`) ? path.slice(root.length) : undefined
}

/** The inverse of relativeZnodePath. */
export function resolveZnodePath(root: string, relative: string): string {
  if (relative === '/') return root
  return root === '/' ? relative : `${root}${relative}`
}

/** The parent of `path`; "/" for "/" and for anything without a "/" past its first character, so a loop up to "/" ends for any string. */
export function parentZnodePath(path: string): string {
  const index = path.lastIndexOf('/')
  return index <= 0 ? '/' : path.slice(0, index)
}

export function znodeDepth(path: string): number {
  return path === '/' ? 0 : path.split('/').length - 1
}

/** Parses `user:password` for digest auth (or another scheme: `usage` says which flag and how). */
export function parseDigestAuth(
  auth: string,
  usage = '--zk-auth: use user:password (digest scheme)',
): {password: string; user: string} {
  const colon = auth.indexOf(':')
  if (colon <= 0 || colon === auth.length - 1) {
    throw new UsageError(`Invalid ${usage}`)
  }

  return {password: auth.slice(colon + 1), user: auth.slice(0, colon)}
}
