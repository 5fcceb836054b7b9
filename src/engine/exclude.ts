import picomatch from 'picomatch'

import {UsageError} from '../errors.js'
import {parentZnodePath} from '../zk/uri.js'

export type PathMatcher = (path: string) => boolean

const GLOB_CHARS = /[*?[\]{}()!+@]/

/**
 * Matches znode paths against `--exclude` patterns: an absolute path (which excludes its subtree) or
 * a glob (`*` within a name, `**` across names). A path is excluded when it or any ancestor matches.
 */
export function excludeMatcher(patterns: string[]): PathMatcher {
  if (patterns.length === 0) return () => false
  const tests = patterns.map((pattern) => {
    if (!pattern.startsWith('/')) {
      throw new UsageError(`Invalid --exclude "${pattern}": use an absolute znode path or glob, such as /marathon/leader or /app/*/tmp`)
    }

    const trimmed = pattern.length > 1 ? pattern.replace(/\/+$/, '') : pattern
    return GLOB_CHARS.test(trimmed) ? picomatch(trimmed, {dot: true}) : (path: string) => path === trimmed
  })
  return (path) => {
    // parentZnodePath always shrinks its argument until "/", whatever the string (a path without a
    // leading "/" used to make this loop forever).
    for (let prefix = path; ; prefix = parentZnodePath(prefix)) {
      if (tests.some((test) => test(prefix))) return true
      if (prefix === '/') return false
    }
  }
}
