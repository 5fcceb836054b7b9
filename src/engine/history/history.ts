/**
 * The history of a path: every change a source's transactions made to PATH or under it, oldest
 * first, with the session that made it, and the first change after a time (what
 * `zk restore --before-change` stops before).
 *
 * Sessions: ZooKeeper's log holds a session's createSession (its timeout, and the time it was
 * created, the txn's time) and its closeSession, never the client's address (CreateSessionTxn has
 * only the timeout). What is known of a session comes from its createSession when the source holds
 * it. A closeSession deletes the session's ephemerals: logs of 3.6 and later list them; for older
 * ones, the ephemerals under PATH that the session was seen creating are the ones it deleted.
 */
import type {DecodedTxn} from '../../zkdisk/txn.js'
import type {TxnSource} from './source.js'

import {permsText} from '../../zk/acl.js'
import {isUnderZnode} from '../../zk/uri.js'
import {hexZxid} from '../../zk/zxid.js'
import {type Change, changesOf} from './touches.js'

export interface HistoryEvent {
  /** For a create or setACL: "scheme:id:perms" each. */
  acl?: string[]
  dataSize?: number
  ephemeral?: boolean
  /** Inside a multi: the op's place (1-based) among the multi's ops, all of one zxid. */
  multi?: {index: number; ops: number}
  /** create, createContainer, createTTL, delete, deleteContainer, setData, setACL, or closeSession (an ephemeral it deleted). */
  op: string
  path: string
  /** The session id (hex), and, when the source holds its createSession, when that was and its timeout. */
  session: string
  sessionCreated?: string
  sessionTimeoutMs?: number
  /** ISO 8601, UTC: the txn's time (the leader's clock). */
  time: string
  ttlMs?: number
  /** The znode's version (setACL: its aversion) after the change; 0 for a create. */
  version?: number
  /** As ZooKeeper prints it (0x…): what `zk restore --to-zxid` takes. */
  zxid: string
}

export interface SessionSummary {
  /** When its closeSession was read (closed by the client or expired). */
  closed?: string
  created?: string
  firstTime: string
  lastTime: string
  /** Its changes in the history. */
  ops: number
  session: string
  timeoutMs?: number
}

export interface History {
  events: HistoryEvent[]
  sessions: SessionSummary[]
}

export interface HistoryOptions {
  /** Default "/": everything. */
  path?: string
  /** Inclusive, by the txn's time. */
  since?: Date
  until?: Date
}

interface SessionStart {
  created: string
  timeoutMs: number
}

/** Reads txns in order and turns those that changed PATH or under it into events; keeps only per-session counters. */
export class HistoryScanner {
  /** The newest zxid scanned before the current one. */
  previousZxid: bigint | undefined
  /** Ephemerals under PATH and their sessions: what an old closeSession (no list) deleted. */
  private readonly ephemerals = new Map<string, bigint>()
  private lastZxid: bigint | undefined
  /** Sessions whose createSession was read and that have not closed. */
  private readonly open = new Map<bigint, SessionStart>()
  private readonly path: string
  private readonly summaries = new Map<bigint, SessionSummary>()

  constructor(private readonly options: HistoryOptions) {
    this.path = options.path ?? '/'
  }

  /** The events of one txn: none when it changed nothing under PATH or lies outside --since/--until. */
  scan(decoded: DecodedTxn): HistoryEvent[] {
    this.previousZxid = this.lastZxid
    this.lastZxid = decoded.header.zxid
    const {clientId, time} = decoded.header
    const {txn} = decoded
    if (txn.kind === 'createSession') {
      this.open.set(clientId, {created: new Date(time).toISOString(), timeoutMs: txn.timeout})
      return []
    }

    const changes = (
      txn.kind === 'closeSession' && txn.paths2Delete === null ? this.ephemeralsOf(clientId) : changesOf(decoded)
    ).filter((change) => isUnderZnode(change.path, this.path))
    this.trackEphemerals(changes, clientId)
    if (txn.kind === 'closeSession') this.close(clientId, time)
    if (changes.length === 0 || !this.inRange(time)) return []
    const session = this.open.get(clientId)
    const events = changes.map((change) => toEvent(change, decoded, session))
    this.count(clientId, events.length, events[0].time, session)
    return events
  }

  sessions(): SessionSummary[] {
    return [...this.summaries.values()]
  }

  private close(clientId: bigint, time: number): void {
    this.open.delete(clientId)
    const summary = this.summaries.get(clientId)
    if (summary) summary.closed = new Date(time).toISOString()
  }

  private count(clientId: bigint, ops: number, time: string, session: SessionStart | undefined): void {
    const summary = this.summaries.get(clientId)
    if (summary) {
      summary.ops += ops
      summary.lastTime = time
      return
    }

    this.summaries.set(clientId, {
      firstTime: time,
      lastTime: time,
      ops,
      session: hexZxid(clientId),
      ...(session ? {created: session.created, timeoutMs: session.timeoutMs} : {}),
    })
  }

  private ephemeralsOf(clientId: bigint): Change[] {
    return [...this.ephemerals].filter(([, owner]) => owner === clientId).map(([path]) => ({op: 'closeSession', path}))
  }

  private inRange(time: number): boolean {
    return (
      (!this.options.since || time >= this.options.since.getTime()) &&
      (!this.options.until || time <= this.options.until.getTime())
    )
  }

  private trackEphemerals(changes: Change[], clientId: bigint): void {
    for (const change of changes) {
      if (change.ephemeral) this.ephemerals.set(change.path, clientId)
      else if (change.op === 'delete' || change.op === 'closeSession') this.ephemerals.delete(change.path)
    }
  }
}

function toEvent(change: Change, {header}: DecodedTxn, session: SessionStart | undefined): HistoryEvent {
  return {
    op: change.op,
    path: change.path,
    session: hexZxid(header.clientId),
    time: new Date(header.time).toISOString(),
    zxid: hexZxid(header.zxid),
    ...(change.dataSize === undefined ? {} : {dataSize: change.dataSize}),
    ...(change.version === undefined ? {} : {version: change.version}),
    ...(change.acl ? {acl: change.acl.map((acl) => `${acl.scheme}:${acl.id}:${permsText(acl.perms)}`)} : {}),
    ...(change.ephemeral ? {ephemeral: true} : {}),
    ...(change.ttl === undefined ? {} : {ttlMs: Number(change.ttl)}),
    ...(change.multi ? {multi: change.multi} : {}),
    ...(session ? {sessionCreated: session.created, sessionTimeoutMs: session.timeoutMs} : {}),
  }
}

/** Streams the history to `onEvent` (nothing held but the per-session counters); the session summaries. */
export async function streamHistory(
  source: TxnSource,
  options: HistoryOptions,
  onEvent: (event: HistoryEvent) => void,
): Promise<SessionSummary[]> {
  const scanner = new HistoryScanner(options)
  await source.readTxns((txn) => {
    for (const event of scanner.scan(txn)) onEvent(event)
  })
  return scanner.sessions()
}

/** The whole history, held: for --json and for callers that want a value. */
/**
 * The first txn at or after `since` that changed or deleted PATH or anything under it (its first
 * change, for a multi), and `before`: the zxid of the txn the source holds just before it (its
 * zxid − 1 when it is the source's first), the point `zk restore --before-change` restores to.
 */
export async function firstChangeIn(
  source: TxnSource,
  path: string,
  since?: Date,
): Promise<undefined | {before: bigint; change: HistoryEvent}> {
  const scanner = new HistoryScanner({path, ...(since ? {since} : {})})
  let found: undefined | {before: bigint; change: HistoryEvent}
  await source.readTxns((txn) => {
    const [change] = scanner.scan(txn)
    if (!change) return true
    found = {before: scanner.previousZxid ?? txn.header.zxid - 1n, change}
    return false
  })
  return found
}
