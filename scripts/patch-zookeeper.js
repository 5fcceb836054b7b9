#!/usr/bin/env node
// Two fixes to the `zookeeper` package's native build, applied after every install; idempotent.
//
// 1. Its ACL completion frees the ACL vector even when a request failed and the vector is NULL, so
//    any failed getACL (a znode deleted mid-walk, a lost connection) kills the process with SIGSEGV.
// 2. Its bundled C client is configured without SOCK_CLOEXEC, so every child process spawned while a
//    session is open inherits the session's socket. When that socket is later closed, the epoll
//    registration of the still-open copy keeps firing under the same descriptor number, and the next
//    session that gets that number never connects.
import {execFileSync} from 'node:child_process'
import {readFileSync, rmSync, writeFileSync} from 'node:fs'
import {createRequire} from 'node:module'
import {dirname, join} from 'node:path'

const packageDir = dirname(createRequire(import.meta.url).resolve('zookeeper/package.json'))
const clientDir = join(packageDir, 'deps', 'zookeeper-client-c')

const patches = [
  {
    broken: '        deallocate_ACL_vector(acl);\n',
    file: join(packageDir, 'src', 'node-zk.cpp'),
    fixed: '        if (acl != NULL) deallocate_ACL_vector(acl);\n',
    what: 'guarded acl_completion against a NULL ACL vector',
  },
  {
    broken: '/* #undef SOCK_CLOEXEC_ENABLED */\n',
    file: join(clientDir, 'config.h'),
    fixed: '#define SOCK_CLOEXEC_ENABLED 1\n',
    rebuildClient: true,
    what: 'built the C client with SOCK_CLOEXEC',
  },
]

const applied = []
for (const patch of patches) {
  const source = readFileSync(patch.file, 'utf8')
  if (source.includes(patch.fixed)) continue
  if (!source.includes(patch.broken)) {
    console.error(`patch-zookeeper: ${patch.file} has changed; check whether this still applies: ${patch.what}`)
    process.exit(1)
  }

  writeFileSync(patch.file, source.replace(patch.broken, patch.fixed))
  applied.push(patch)
}

if (applied.length === 0) process.exit(0)

if (applied.some((patch) => patch.rebuildClient)) {
  execFileSync('make', ['--no-print-directory', '--quiet'], {cwd: clientDir, stdio: 'inherit'})
  // The addon's makefile does not track the static library it links, so force the relink.
  for (const built of ['Release/obj.target/zookeeper.node', 'Release/zookeeper.node', 'zookeeper.node']) {
    rmSync(join(packageDir, 'build', built), {force: true})
  }
}

const nodeGyp = process.env.npm_config_node_gyp
const [command, args] = nodeGyp ? [process.execPath, [nodeGyp, 'build']] : ['npx', ['--yes', 'node-gyp', 'build']]
execFileSync(command, args, {cwd: packageDir, stdio: 'inherit'})
console.log(`patch-zookeeper: ${applied.map((patch) => patch.what).join('; ')}; rebuilt the addon`)
