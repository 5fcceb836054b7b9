import {UsageError} from '../errors.js'

export type PathMatcher = (path: string) => boolean

/** One name of a pattern: `**` (any number of names), or a name whose `*`s match within it. */
type Segment = {chunks: string[]; globstar: false} | {globstar: true}

/**
 * Matches znode paths against `--exclude` patterns: an absolute path (which excludes its subtree) or
 * a glob (`*` within a name, `**` across names). A path is excluded when it or any ancestor matches.
 * Only `*` is special: `?`, `[`, `{`, `(`, `!`, `+` and `@` are ordinary characters of znode names.
 * Matching never backtracks: its time grows with the length of the path times that of the pattern at worst.
 */
export function excludeMatcher(patterns: string[]): PathMatcher {
  if (patterns.length === 0) return () => false
  const compiled = patterns.map((pattern) => {
    if (!pattern.startsWith('/')) {
      throw new UsageError(
        `Invalid --exclude "${pattern}": use an absolute znode path or glob, such as /marathon/leader or /app/*/tmp`,
      )
    }

    return compile(pattern.length > 1 ? pattern.replace(/\/+$/, '') : pattern)
  })
  return (path) => {
    const names = splitNames(path)
    return compiled.some((segments) => matchesPathOrAncestor(segments, names))
  }
}

function splitNames(path: string): string[] {
  return path === '/' ? [] : path.slice(1).split('/')
}

function compile(pattern: string): Segment[] {
  return splitNames(pattern).map((name) =>
    name === '**' ? {globstar: true} : {chunks: name.split(/\*+/), globstar: false},
  )
}

/**
 * Whether the pattern matches the first k names of the path for some k: one pass over the names,
 * keeping the set of pattern positions reachable so far (at most one per segment).
 */
function matchesPathOrAncestor(segments: Segment[], names: string[]): boolean {
  let reachable = closeOverGlobstars(segments, new Set([0]))
  for (const name of names) {
    if (reachable.has(segments.length)) return true
    const next = new Set<number>()
    for (const position of reachable) {
      const segment = segments[position]
      if (!segment) continue
      if (segment.globstar)
        next.add(position) // `**` takes this name and may take more
      else if (nameMatches(segment.chunks, name)) next.add(position + 1)
    }

    if (next.size === 0) return false
    reachable = closeOverGlobstars(segments, next)
  }

  return reachable.has(segments.length)
}

/** Adds the positions after each reachable `**`, which may also match no name at all. */
function closeOverGlobstars(segments: Segment[], positions: Set<number>): Set<number> {
  for (const position of positions) {
    if (segments[position]?.globstar) positions.add(position + 1) // a Set visits what is added during the loop
  }

  return positions
}

/**
 * Whether `name` matches the literal chunks of a pattern name split at its `*`s: the first chunk is a
 * prefix, the last a suffix, and the ones between are found leftmost first, which is enough when
 * `*` is the only wildcard. No backtracking: each chunk is searched for once.
 */
function nameMatches(chunks: string[], name: string): boolean {
  if (chunks.length === 1) return name === chunks[0]
  const first = chunks[0]
  const last = chunks.at(-1)!
  if (name.length < first.length + last.length || !name.startsWith(first) || !name.endsWith(last)) return false
  let from = first.length
  const end = name.length - last.length
  for (const chunk of chunks.slice(1, -1)) {
    const found = name.indexOf(chunk, from)
    if (found === -1 || found + chunk.length > end) return false
    from = found + chunk.length
  }

  return true
}
