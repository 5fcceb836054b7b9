import {Args, Flags} from '@oclif/core'

import {ARCHIVE_EXIT_CODES_HELP, BaseCommand} from '../../cli/base.js'
import {printable} from '../../cli/printable.js'
import {plainTable} from '../../cli/table.js'
import {readTimeline, type Timeline} from '../../engine/archive/index.js'
import {EXIT_GAP} from '../../errors.js'
import {resolveLocation} from '../../providers/index.js'

export default class ZkTimeline extends BaseCommand {
  static args = {
    repository: Args.string({
      description:
        'The archive repository written by dcos zk archive: a directory, file:///abs/dir or s3://bucket/prefix?region=...',
      required: true,
    }),
  }
  static description = `Shows the restorable windows of an archive repository: each base with its zxid and time, the range it covers up to the last contiguous shipped txn, and the gaps between windows (logs purged before they were shipped, a node replaced or reset). --json prints {windows: [{fromZxid, toZxid, fromTime, toTime, base, segments}], gaps: [{afterZxid, beforeZxid, afterTime, beforeTime}]}. A location that holds no base is refused, exit 2. A repository with a gap exits 3 after printing it, so that a runbook or a health check stops before relying on it; --allow-gaps exits 0.

${ARCHIVE_EXIT_CODES_HELP}`
  static enableJsonFlag = true
  static examples = [
    {
      command: '<%= config.bin %> <%= command.id %> /backups/zk-archive',
      description: 'The windows and gaps, as a table',
    },
    {
      command: '<%= config.bin %> <%= command.id %> "s3://backups/zk/node1?region=us-east-1" --json',
      description: 'As JSON',
    },
  ]
  static flags = {
    'allow-gaps': Flags.boolean({description: 'Exit 0 even when the repository holds gaps (they are still shown).'}),
  }
  static summary = 'Show the restorable windows and the gaps of an archive repository.'

  async run(): Promise<Timeline> {
    const {args, flags} = await this.parse(ZkTimeline)
    const timeline = await readTimeline(resolveLocation(args.repository))
    if (!this.jsonEnabled()) this.logLines(describe(timeline))
    if (timeline.gaps.length > 0 && !flags['allow-gaps']) process.exitCode = EXIT_GAP
    return timeline
  }
}

const COLUMNS = [
  {key: 'kind', name: 'KIND'},
  {key: 'from', name: 'FROM ZXID'},
  {key: 'to', name: 'TO ZXID'},
  {key: 'fromTime', name: 'FROM TIME'},
  {key: 'toTime', name: 'TO TIME'},
  {key: 'segments', name: 'SEGMENTS'},
] as const

function describe({gaps, windows}: Timeline): string {
  const rows = [
    ...windows.map((window) => ({
      from: window.fromZxid,
      fromTime: window.fromTime ?? '',
      kind: 'window',
      segments: String(window.segments),
      to: window.toZxid,
      toTime: window.toTime ?? '',
    })),
    ...gaps.map((gap) => ({
      from: gap.afterZxid,
      fromTime: gap.afterTime ?? '',
      kind: 'gap',
      segments: '',
      to: gap.beforeZxid,
      toTime: gap.beforeTime ?? '',
    })),
  ]
    .sort((a, b) =>
      BigInt(a.from) < BigInt(b.from) ? -1 : BigInt(a.from) > BigInt(b.from) ? 1 : a.kind === 'window' ? -1 : 1,
    )
    .map((row) => Object.fromEntries(Object.entries(row).map(([key, value]) => [key, printable(value)])))
  return plainTable(COLUMNS, rows)
}
