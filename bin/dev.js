#!/usr/bin/env -S node --import tsx --no-warnings

import {flush, handle, run, settings} from '@oclif/core'

import {redactError, redactStderr} from '../src/cli/redact.ts'

process.env.NODE_ENV = 'development'
settings.debug = true
redactStderr()
await run(process.argv.slice(2), import.meta.url)
  .then(() => flush())
  .catch((error) => handle(redactError(error)))
