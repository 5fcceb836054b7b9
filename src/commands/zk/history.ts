import {Args, Flags} from '@oclif/core'

import {BaseCommand, EXIT_CODES_HELP} from '../../cli/base.js'
import {inertJson, printable} from '../../cli/printable.js'
import {redactOutput} from '../../cli/redact.js'
import {
  type History,
  type HistoryEvent,
  type HistoryOptions,
  openTxnSource,
  type SessionSummary,
  streamHistory,
  type TxnSource,
} from '../../engine/history/index.js'
import {parseTime} from '../../engine/time.js'
import {UsageError} from '../../errors.js'
import {validateZnodePath} from '../../zk/uri.js'

export default class ZkHistory extends BaseCommand {
  static args = {
    location: Args.string({
      description:
        'An archive repository (zk archive), or a data-directory archive (zk backup --data-dir). With --data-dir: the PATH.',
    }),
    path: Args.string({description: 'The znode path whose subtree to follow. Default: / (every change).'}),
  }
  static description = `Lists every transaction that changed PATH or anything under it (creates, deletes, setData, setACL, each op of a multi, the ephemerals a closed or expired session deleted), oldest first: its zxid (what zk restore --to-zxid takes), time (UTC), session, operation, path, data size and version, and the ACL of a create or setACL. Then one line per session: its count of changes, first and last, and, when the log holds its createSession, its timeout and when it was created. ZooKeeper's log does not record client addresses.

A create or delete changes its parent's child count too: that is not counted as a change of the parent's subtree, only of the created or deleted path. --since and --until (inclusive) filter by the txn's time: ISO 8601 with its zone (Z or an offset, as this command prints times) or "15m ago". Every segment of a repository is checked against its sidecar's SHA-256, and a data-directory archive against its manifest, before it is read: a mismatch fails with exit 1. A running node's --data-dir is read as it is, up to the last whole transaction of each log; nothing is written. Plain output is printed as it is read, and so is --json's {events: [...], sessions: [...]}: memory does not grow with the number of events.

${EXIT_CODES_HELP}`
  static enableJsonFlag = true
  static examples = [
    {
      command: '<%= config.bin %> <%= command.id %> /backups/zk-archive /marathon --since "2h ago"',
      description: 'What changed /marathon in the last two hours, from an archive repository',
    },
    {
      command: '<%= config.bin %> <%= command.id %> --data-dir /var/lib/zookeeper /app --json',
      description: "From a node's own logs (running or stopped), as JSON",
    },
    {
      command: '<%= config.bin %> <%= command.id %> backup.tar.gz /app --until 2026-12-01T14:03:00Z',
      description: 'From a data-directory archive, up to a time',
    },
  ]
  static flags = {
    'data-dir': Flags.string({
      description: "A node's data directory (dataDir, or its version-2/): its transaction logs, read only.",
    }),
    'log-dir': Flags.string({
      dependsOn: ['data-dir'],
      description: "The node's transaction log directory (dataLogDir). Default: the data directory.",
    }),
    since: Flags.string({description: 'Only changes at or after this time: ISO 8601 with its zone, or "15m ago".'}),
    until: Flags.string({description: 'Only changes at or before this time: ISO 8601 with its zone, or "15m ago".'}),
  }
  static summary = 'List the transactions that changed a path or its subtree, oldest first, with their sessions.'
  /** Set once --json's document is being written as the events are read: oclif must not print another. */
  private jsonStreamed = false

  /** A failure after the document was begun: the line goes to stderr, the truncated JSON stays invalid. */
  protected async catch(error: Error & {exitCode?: number; oclif?: {exit?: number}}): Promise<unknown> {
    if (this.jsonStreamed) process.stderr.write(`Error: ${printable(redactOutput(error.message))}\n`)
    return super.catch(error)
  }

  logJson(json: unknown): void {
    if (!this.jsonStreamed) super.logJson(json)
  }

  async run(): Promise<History> {
    const {args, flags} = await this.parse(ZkHistory)
    const dataDir = flags['data-dir']
    if (dataDir && args.path !== undefined)
      throw new UsageError('with --data-dir give only the PATH, not a repository or archive as well')
    if (!dataDir && args.location === undefined)
      throw new UsageError('give an archive repository or data-directory archive, or --data-dir')
    const path = validateZnodePath((dataDir ? args.location : args.path) ?? '/')
    const options = {
      path,
      ...(flags.since ? {since: new Date(parseTime(flags.since, Date.now(), 'since'))} : {}),
      ...(flags.until ? {until: new Date(parseTime(flags.until, Date.now(), 'until'))} : {}),
    }
    const source = await openTxnSource(
      dataDir ? {dataDir, ...(flags['log-dir'] ? {logDir: flags['log-dir']} : {})} : {location: args.location!},
    )
    if (this.jsonEnabled()) {
      this.jsonStreamed = true
      return {events: [], sessions: await streamJsonHistory(source, options)}
    }

    this.log(`Changes under ${printable(path)}, oldest first: zxid (for --to-zxid), time, session, op, path, details`)
    let count = 0
    const sessions = await streamHistory(source, options, (event) => {
      count++
      this.log(eventLine(event))
    })
    this.log(
      `${count} change${count === 1 ? '' : 's'} by ${sessions.length} session${sessions.length === 1 ? '' : 's'}`,
    )
    for (const session of sessions) this.log(sessionLine(session))
    return {events: [], sessions}
  }
}

/** --json's document, written an event at a time as oclif would print it whole (2-space JSON). */
async function streamJsonHistory(source: TxnSource, options: HistoryOptions): Promise<SessionSummary[]> {
  const write = (text: string) => process.stdout.write(inertJson(text))
  let events = 0
  write('{\n  "events": [')
  const sessions = await streamHistory(source, options, (event) => {
    write(`${events++ === 0 ? '' : ','}\n${indented(event, 4)}`)
  })
  write(`${events === 0 ? '' : '\n  '}],\n  "sessions": ${indented(sessions, 2).trimStart()}\n}\n`)
  return sessions
}

function indented(value: unknown, spaces: number): string {
  const pad = ' '.repeat(spaces)
  return JSON.stringify(value, null, 2)
    .split('\n')
    .map((line) => pad + line)
    .join('\n')
}

function eventLine(event: HistoryEvent): string {
  const details = [
    event.dataSize === undefined ? '' : `size=${event.dataSize}`,
    event.version === undefined ? '' : `version=${event.version}`,
    event.ephemeral ? 'ephemeral' : '',
    event.ttlMs === undefined ? '' : `ttl=${event.ttlMs}ms`,
    event.acl ? `acl=${event.acl.map((acl) => printable(acl)).join(',')}` : '',
    event.multi ? `multi=${event.multi.index}/${event.multi.ops}` : '',
  ].filter(Boolean)
  return [
    event.zxid.padEnd(12),
    event.time,
    event.session,
    event.op.padEnd(12),
    printable(event.path),
    ...details,
  ].join('  ')
}

function sessionLine(session: SessionSummary): string {
  const known = [
    session.created ? `created ${session.created}` : 'createSession not in the log read',
    session.timeoutMs === undefined ? '' : `timeout ${session.timeoutMs}ms`,
    session.closed ? `closed ${session.closed}` : '',
  ].filter(Boolean)
  return `session ${session.session}: ${session.ops} change${session.ops === 1 ? '' : 's'}, first ${session.firstTime}, last ${session.lastTime}; ${known.join(', ')}`
}
