import {Args, Flags} from '@oclif/core'

import type {ZnodeRecord} from '../../archive/format.js'
import {BaseCommand, EXIT_CODES_HELP} from '../../cli/base.js'
import {formatBytes} from '../../cli/progress.js'
import {inspectArchive, type InspectResult} from '../../engine/inspect.js'
import {EXIT_FAILED} from '../../errors.js'
import {permsText} from '../../zk/acl.js'
import {resolveLocation} from '../../providers/index.js'

interface TreeEntry {
  path: string
  type: string
  dataLength: number
  acl: string[]
}

export default class ZkInspect extends BaseCommand {
  static args = {
    location: Args.string({description: 'The archive: a path, file:///abs/path, s3://bucket/key?... or - for stdin.', required: true}),
  }

  static description = `Reads the whole archive and checks it the way a restore does (format version, every entry's SHA-256, the tree digest, the manifest): prints the manifest as a summary and the integrity verdict. Exits 1 when anything fails.

${EXIT_CODES_HELP}`

  static enableJsonFlag = true

  static examples = [
    {command: '<%= config.bin %> <%= command.id %> ./marathon.tar.gz', description: 'Summary and integrity verdict'},
    {command: '<%= config.bin %> <%= command.id %> ./marathon.tar.gz --tree', description: 'List every znode in the archive'},
    {command: '<%= config.bin %> <%= command.id %> "s3://backups/zk/m.tar.gz?region=us-east-1" --json', description: 'Machine-readable summary of an archive in S3'},
  ]

  static flags = {
    tree: Flags.boolean({description: 'List every znode: path, type, data size and ACL.'}),
  }

  static summary = 'Show what an archive holds and verify its integrity.'

  async run(): Promise<InspectResult & {tree?: TreeEntry[]}> {
    const {args, flags} = await this.parse(ZkInspect)
    const source = resolveLocation(args.location)
    const tree: TreeEntry[] = []
    const result = await inspectArchive(source, (record) => {
      if (!flags.tree) return
      const entry = treeEntry(record)
      if (flags.json) tree.push(entry)
      else this.log(`${entry.path}  ${entry.type}  ${formatBytes(entry.dataLength)}  ${entry.acl.join(',')}`)
    })
    this.printSummary(result)
    if (!result.verified) process.exitCode = EXIT_FAILED
    return flags.tree ? {...result, tree} : result
  }

  private printSummary({header, manifest, problem, verified, znodesRead, location}: InspectResult): void {
    const row = (label: string, value: string) => this.log(`${label.padEnd(12)}${value}`)
    row('Archive', location)
    const meta = manifest ?? header
    if (meta) {
      row('Format', `${meta.format} v${meta.formatVersion}, written by ${meta.tool}`)
      row('Source', `${meta.source.root} on ${meta.source.hosts.join(',')}`)
      row('Created', meta.createdAt + (manifest ? `, completed ${manifest.completedAt}` : ''))
      if (meta.options.exclude.length > 0) row('Excluded', meta.options.exclude.join(' '))
    }

    if (manifest) {
      row('Zxid', `${manifest.zxidStart ?? 'unknown'} at start, ${manifest.zxidEnd ?? 'unknown'} at end`)
      row('Znodes', `${manifest.znodes}, ${formatBytes(manifest.dataBytes)} of data`)
      const skipped = [`${manifest.skippedEphemerals} ephemeral`, `${manifest.excluded} excluded`, `${manifest.vanished} deleted during the walk`]
      row('Skipped', skipped.join(', '))
      row('Changed', `${manifest.changedDuringBackup} during the backup (re-read), ${manifest.inconsistentCount} still inconsistent`)
      for (const {path, reason} of manifest.inconsistent.slice(0, 10)) row('', `${path}: ${reason}`)
      row('Digest', manifest.treeDigest)
    }

    row('Integrity', verified ? 'OK: every checksum matches' : `FAILED after ${znodesRead} znodes: ${problem}`)
  }
}

function treeEntry(record: ZnodeRecord): TreeEntry {
  return {
    acl: record.acl.map((entry) => `${entry.scheme}:${entry.id}:${permsText(entry.perms)}`),
    dataLength: record.stat.dataLength,
    path: record.path,
    type: record.type === 'ttl' ? `ttl(${record.ttl}ms)` : record.type + (record.sequential ? ' sequential' : ''),
  }
}
