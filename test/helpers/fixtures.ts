import {execFileSync} from 'node:child_process'
import {randomBytes} from 'node:crypto'
import {mkdir, mkdtemp, readFile, rm, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {create as createTar} from 'tar'

import type {ZkSession} from '../../src/zk/session.js'

import {type ArchiveMaterial, tarMembers} from './archive.js'
import {dcos, expectExit, zkUri} from './cli.js'
import {scanFiles} from './secrets.js'
import {READ_ONLY, seedTree, uniquePath} from './tree.js'

export const ALL_BYTES = Buffer.from(Array.from({length: 256}, (_, index) => index))

export function tempDir(label: string): Promise<string> {
  return mkdtemp(join(tmpdir(), `dcos-${label}-`))
}

/** Removes a temp directory, scanning what the test left in it for secrets first. */
export async function removeDir(dir: string | undefined): Promise<void> {
  if (!dir) return
  await scanFiles(dir)
  await rm(dir, {force: true, recursive: true})
}

/**
 * A small live tree under a fresh path, its archive made by `dcos zk backup` (at `file`), and what
 * damaged variants are made from.
 */
export async function archiveMaterial(
  session: ZkSession,
  hosts: string,
  dir: string,
): Promise<ArchiveMaterial & {file: string; root: string}> {
  const root = uniquePath('material')
  const marker = `marker-${randomBytes(8).toString('hex')}`
  await seedTree(session, root, [
    {data: 'root', path: '/'},
    {data: `a ${marker} a`, path: '/a'},
    {data: ALL_BYTES, path: '/binary'},
    {data: randomBytes(20_000), path: '/random'},
    {path: '/dir'},
    {data: 'one', path: '/dir/one'},
    {data: 'two', path: '/dir/two'},
    {acl: READ_ONLY, data: 'ro', path: '/dir/read-only'},
    {data: 'seq', path: '/dir/seq-', sequential: true},
  ])
  const file = join(dir, 'good.tar.gz')
  expectExit(await dcos(['zk', 'backup', file, '--zk', zkUri(hosts, root)]), 0)

  const foreign = join(dir, 'foreign')
  await mkdir(join(foreign, 'sub'), {recursive: true})
  await writeFile(join(foreign, 'notes.txt'), 'not a backup\n')
  await writeFile(join(foreign, 'data.bin'), randomBytes(3000))
  await writeFile(join(foreign, 'sub', 'backup.json'), '{"format": "something else"}\n')
  await createTar({cwd: foreign, file: join(dir, 'npm.tar.gz'), gzip: true}, [
    'notes.txt',
    'data.bin',
    'sub/backup.json',
  ])
  execFileSync('tar', ['czf', join(dir, 'command.tar.gz'), '-C', foreign, '.'])

  const good = await readFile(file)
  return {
    file,
    good,
    marker,
    members: await tarMembers(good),
    npmTar: await readFile(join(dir, 'npm.tar.gz')),
    root,
    tarCommand: await readFile(join(dir, 'command.tar.gz')),
  }
}
