#!/usr/bin/env node
// `oclif manifest` lists commands in the order their files finished loading, which varies from run
// to run; sorted, the committed manifest can be compared with a fresh one (npm run manifest:check).
import {readFileSync, writeFileSync} from 'node:fs'

const file = new URL('../oclif.manifest.json', import.meta.url)
const manifest = JSON.parse(readFileSync(file, 'utf8'))
manifest.commands = Object.fromEntries(
  Object.entries(manifest.commands).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
)
writeFileSync(file, `${JSON.stringify(manifest, null, 2)}\n`)
