import {Command, Flags, ux} from '@oclif/core'

import {EXIT_FAILED, EXIT_USAGE, OperationError, UsageError} from '../errors.js'
import {type SessionOptions, ZkSession} from '../zk/session.js'
import {parseDigestAuth, parseZkUri, type ZkTarget} from '../zk/uri.js'
import {forStream, inertJson, printable} from './printable.js'
import {redactError, redactOutput} from './redact.js'
import {zkTlsFlags, type ZkTlsFlagValues, zkTlsOptions} from './zk-tls.js'

export const EXIT_CODES_HELP = `Exit codes: 0 success; 1 the operation failed (ZooKeeper or storage error, an archive that fails verification); 2 bad usage or bad input (nothing was changed).`

/** zk archive and zk timeline add the gap's code. */
export const ARCHIVE_EXIT_CODES_HELP = `Exit codes: 0 success; 1 the operation failed (ZooKeeper or storage error); 2 bad usage or bad input (nothing was changed), or another archiver holds the repository's lock; 3 done, but with a gap (the archive misses transactions: see zk timeline).`

/** The same for the clients of the backup service, whose failures are HTTP ones. */
export const BACKUP_EXIT_CODES_HELP = `Exit codes: 0 success; 1 the operation failed (the service is unreachable, refused the token or reported an error, the job ended in STATUS_ERROR, --timeout passed, a prompt was answered no); 2 bad usage or bad input, refused before anything was changed (an invalid label, an unknown id, no --url, no terminal to confirm on and no --yes).`

export const zkFlags = {
  zk: Flags.string({
    description:
      'ZooKeeper hosts and znode path: zk://host1:2181,host2:2181/path (zk:// is optional; the port defaults to 2181).',
    env: 'DCOS_ZK',
  }),
  'zk-auth': Flags.string({
    description:
      'Digest credentials user:password for ZooKeeper ACLs. Prefer the environment variable: flags show up in ps.',
    env: 'DCOS_ZK_AUTH',
  }),
  'zk-sasl': Flags.string({
    description:
      "SASL DIGEST-MD5 credentials user:password (ZooKeeper's DigestLoginModule; ACL id sasl:user). Prefer the environment variable: flags show up in ps.",
    env: 'DCOS_ZK_SASL',
  }),
  'session-timeout': Flags.integer({
    default: 15,
    description:
      'ZooKeeper session timeout, in seconds; also how long connecting, and retrying a lost connection on other nodes, may take.',
    min: 1,
  }),
  ...zkTlsFlags,
}

export type ZkSessionFlagValues = ZkTlsFlagValues & {'session-timeout': number; 'zk-auth'?: string; 'zk-sasl'?: string}

/** The session options of the --zk-* flags (credentials, TLS, timeout), checked before anything connects. */
export function sessionOptions(hosts: string[], flags: ZkSessionFlagValues): SessionOptions {
  return {
    auth: flags['zk-auth'] ? parseDigestAuth(flags['zk-auth']) : undefined,
    hosts,
    sasl: flags['zk-sasl']
      ? parseDigestAuth(flags['zk-sasl'], '--zk-sasl: use user:password (SASL DIGEST-MD5)')
      : undefined,
    sessionTimeoutMs: flags['session-timeout'] * 1000,
    tls: zkTlsOptions(flags),
  }
}

/**
 * The error of a job that ended in STATUS_ERROR: exit 1, with the message on stderr, and with
 * --json the job's final state alone on stdout (not oclif's error object).
 */
export class JobFailed extends OperationError {
  constructor(
    message: string,
    readonly job: unknown,
  ) {
    super(message)
  }
}

/** Maps the engines' errors to one clear line and the documented exit code; secrets are redacted. */
export abstract class BaseCommand extends Command {
  protected async catch(error: Error & {exitCode?: number; oclif?: {exit?: number}}): Promise<unknown> {
    // oclif exits with oclif.exit, or with --json with exitCode: both are set to the documented code.
    if (error.oclif) {
      // Parse errors from oclif itself (unknown flag, missing argument): bad usage.
      const exit = error.oclif.exit === 1 || error.oclif.exit === undefined ? EXIT_USAGE : error.oclif.exit
      // Its messages quote the command line ("Unexpected argument: s3://...?secret_key=..."), so they
      // are redacted before oclif wraps them over lines. With --json only the message is shown: the
      // error also holds the parsed command line, --zk-auth included.
      if (this.jsonEnabled())
        return super.catch(Object.assign(new Error(redactOutput(error.message)), {exitCode: exit, oclif: {exit}}))
      return super.catch(Object.assign(redactError(error), {exitCode: exit, oclif: {...error.oclif, exit}}))
    }

    if (error instanceof JobFailed && this.jsonEnabled()) {
      this.logJson(error.job)
      // logToStderr is silent under --json; this line is the one thing said besides the JSON.
      process.stderr.write(`Error: ${printable(redactOutput(error.message))}\n`)
      // Thrown past oclif's catch, which would print its own error object on stdout.
      throw Object.assign(new Error(error.message), {
        exitCode: EXIT_FAILED,
        oclif: {exit: EXIT_FAILED},
        skipOclifErrorHandling: true,
      })
    }

    const exit = error instanceof UsageError ? EXIT_USAGE : EXIT_FAILED
    const message = redactOutput(
      error instanceof OperationError || error instanceof UsageError ? error.message : String(error.message ?? error),
    )
    if (process.env.DEBUG && error.stack)
      process.stderr.write(`${forStream(redactOutput(error.stack), process.stderr)}\n`)
    const failure = Object.assign(new Error(message), {exitCode: exit, oclif: {exit}})
    if (this.jsonEnabled()) return super.catch(failure)
    // Printed here, on one line: oclif would wrap a long message over several, and a path or a
    // server's answer in it may hold a newline or an escape sequence of its own.
    this.logToStderr(`Error: ${printable(message)}`)
    return super.catch(Object.assign(failure, {skipOclifErrorHandling: true}))
  }

  protected connect(target: ZkTarget, flags: ZkSessionFlagValues): Promise<ZkSession> {
    return ZkSession.connect(sessionOptions(target.hosts, flags))
  }

  /**
   * One line on stdout; on a terminal its control characters are shown as escapes (see printable.ts).
   * Output of several lines goes through logLines, each line built from escaped values.
   */
  log(message = '', ...args: unknown[]): void {
    super.log(forStream(message, process.stdout), ...args)
  }

  /** As oclif writes it, with the characters JSON leaves raw (DEL, C1) as \u escapes: the same JSON. */
  logJson(json: unknown): void {
    ux.stdout(inertJson(ux.colorizeJson(json, {pretty: true, theme: this.config.theme?.json})))
  }

  protected logLines(text: string): void {
    for (const line of text.split('\n')) this.log(line)
  }

  /** Lines whose every value was already escaped, coloured by us (see colour.ts): written as they are. */
  protected logPainted(text: string): void {
    for (const line of text.split('\n')) super.log(line)
  }

  logToStderr(message = '', ...args: unknown[]): void {
    super.logToStderr(forStream(message, process.stderr), ...args)
  }

  protected parseZk(uri: string): ZkTarget {
    return parseZkUri(uri)
  }

  /** A warning is one line, escaped wherever it goes, as errors are. */
  warn(input: Error | string): Error | string {
    return super.warn(typeof input === 'string' ? printable(input) : input)
  }
}
