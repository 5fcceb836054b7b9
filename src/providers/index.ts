// Each provider registers its scheme when loaded: a new provider is one new file imported here.
import './file.js'
import './s3.js'
import './stdio.js'

export {redactLocation, redactSecrets} from './redact.js'
export {registeredSchemes, registerProvider, resolveLocation} from './registry.js'
export type {ObjectInfo, ProviderFactory, StorageProvider, WriteOptions} from './types.js'
