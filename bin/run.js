#!/usr/bin/env node

import {flush, handle, run} from '@oclif/core'

import {redactError, redactStderr} from '../dist/cli/redact.js'

// Before oclif starts: its errors outside any command and its DEBUG log can hold the command line.
redactStderr()
await run(process.argv.slice(2), import.meta.url)
  .then(() => flush())
  .catch((error) => handle(redactError(error)))
