import type {ProviderFactory, StorageProvider} from './types.js'

import {UsageError} from '../errors.js'
import {redactLocation} from './redact.js'

const USAGE = 'use a path, file:///abs/path, s3://bucket/key or -'
const SCHEME = /^([a-z][a-z0-9+.-]*):\/\//i

const factories = new Map<string, ProviderFactory>()

/** Make `scheme://...` locations (or "-" for stdio, "file" for plain paths) resolve through `factory`. */
export function registerProvider(scheme: string, factory: ProviderFactory): void {
  factories.set(scheme.toLowerCase(), factory)
}

export function registeredSchemes(): string[] {
  return [...factories.keys()].sort()
}

/**
 * The provider for a location: "-" is stdin/stdout, `scheme://...` goes to the provider registered
 * for that scheme, anything else is a file path (relative to the current directory).
 */
export function resolveLocation(location: string): StorageProvider {
  if (!location.trim()) throw new UsageError(`No storage location given: ${USAGE}`)
  const scheme = location === '-' ? '-' : (SCHEME.exec(location)?.[1].toLowerCase() ?? 'file')
  const factory = factories.get(scheme)
  if (!factory) throw new UsageError(redactLocation(`Unknown storage scheme "${scheme}" in ${location}: ${USAGE}`))
  return factory(location)
}
