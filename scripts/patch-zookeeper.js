#!/usr/bin/env node
// The `zookeeper` package's ACL completion frees the ACL vector even when a request failed and the
// vector is NULL, so any failed getACL (a znode deleted mid-walk, a lost connection) kills the
// process with SIGSEGV. Guard it and recompile that one file. Runs after every install; idempotent.
import {execFileSync} from 'node:child_process'
import {readFileSync, writeFileSync} from 'node:fs'
import {createRequire} from 'node:module'
import {dirname, join} from 'node:path'

const BROKEN = '        deallocate_ACL_vector(acl);\n'
const FIXED = '        if (acl != NULL) deallocate_ACL_vector(acl);\n'

const packageDir = dirname(createRequire(import.meta.url).resolve('zookeeper/package.json'))
const sourceFile = join(packageDir, 'src', 'node-zk.cpp')
const source = readFileSync(sourceFile, 'utf8')
if (source.includes(FIXED)) process.exit(0)
if (!source.includes(BROKEN)) {
  console.error(`patch-zookeeper: ${sourceFile} has changed; check whether acl_completion still needs the NULL guard`)
  process.exit(1)
}

writeFileSync(sourceFile, source.replace(BROKEN, FIXED))
const nodeGyp = process.env.npm_config_node_gyp
const [command, args] = nodeGyp ? [process.execPath, [nodeGyp, 'build']] : ['npx', ['--yes', 'node-gyp', 'build']]
execFileSync(command, args, {cwd: packageDir, stdio: 'inherit'})
console.log('patch-zookeeper: guarded acl_completion against a NULL ACL vector and rebuilt the addon')
