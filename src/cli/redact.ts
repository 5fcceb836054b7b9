import {redactLocation, redactSecrets} from '../providers/redact.js'

/** Flags whose whole value is a secret (the path of a private key too). */
const SECRET_FLAGS = ['--zk-auth', '--zk-sasl', '--token', '--zk-tls-key']
/** Flags whose value may carry userinfo without a scheme (admin:pw@host). */
const LOCATION_FLAGS = ['--zk']
const SECRET_ENV = [
  'DCOS_ZK_AUTH',
  'DCOS_ZK_SASL',
  'DCOS_ACS_TOKEN',
  'DCOS_ZK_TLS_KEY',
  'AWS_ACCESS_KEY_ID',
  'AWS_SECRET_ACCESS_KEY',
  'AWS_SESSION_TOKEN',
]
const LOCATION_ENV = ['DCOS_ZK']

// Within one command-line word a parameter value runs to the next "&" only: "#", spaces and ": "
// are all part of it (redactLocation, which reads running text, has to stop there).
const PARAMETER_VALUE = /(?:^|[?&;])(?:access_key|secret_key|session_token|token|password)=([^&]*)/gi
const USERINFO_PASSWORD = /\b[a-z][a-z0-9+.-]*:\/\/[^\s/?#@:]*:(.*)@/gi
const BARE_USERINFO_PASSWORD = /^[^/:@]*:(.*)@/

// The content of a private key (--zk-tls-key), should any message ever quote it.
const PEM_PRIVATE_KEY = /-----BEGIN ([A-Z ]*)PRIVATE KEY-----[\s\S]*?(?:-----END \1PRIVATE KEY-----|$)/g

// Shorter values would blank out ordinary words everywhere; the patterns of redactLocation still apply.
const MIN_SECRET_LENGTH = 4

/**
 * Every secret the command line and the environment hand to the tool, as literal strings: values of
 * --zk-auth and --token (and the password alone), S3 keys, userinfo passwords, also URI-decoded.
 * Known before oclif parses anything, so oclif's own messages can be scrubbed too.
 */
export function commandLineSecrets(argv: readonly string[], env: NodeJS.ProcessEnv): string[] {
  const found: string[] = []
  for (const [index, word] of argv.entries()) {
    const next = argv[index + 1]
    for (const flag of SECRET_FLAGS) {
      if (word === flag && next !== undefined) found.push(...wholeSecret(next))
      if (word.startsWith(`${flag}=`)) found.push(...wholeSecret(word.slice(flag.length + 1)))
    }

    for (const flag of LOCATION_FLAGS) {
      if (word === flag && next !== undefined) found.push(...bareUserinfo(next))
      if (word.startsWith(`${flag}=`)) found.push(...bareUserinfo(word.slice(flag.length + 1)))
    }

    found.push(...locationSecrets(word))
  }

  for (const name of SECRET_ENV) if (env[name]) found.push(...wholeSecret(env[name]))
  for (const name of LOCATION_ENV) if (env[name]) found.push(...bareUserinfo(env[name]), ...locationSecrets(env[name]))
  return [...new Set(found.flatMap((value) => withDecoded(value)))].filter((value) => value.length >= MIN_SECRET_LENGTH)
}

/** A user:password value: the whole of it and the password alone. */
function wholeSecret(value: string): string[] {
  const colon = value.indexOf(':')
  return colon === -1 ? [value] : [value, value.slice(colon + 1)]
}

function bareUserinfo(value: string): string[] {
  const password = BARE_USERINFO_PASSWORD.exec(value.replace(/^zk:\/\//i, ''))?.[1]
  return password ? [password] : []
}

function locationSecrets(word: string): string[] {
  const values = [...word.matchAll(PARAMETER_VALUE)].map((match) => match[1])
  const passwords = [...word.matchAll(USERINFO_PASSWORD)].map((match) => match[1])
  return [...values, ...passwords].filter(Boolean)
}

function withDecoded(value: string): string[] {
  try {
    return [value, decodeURIComponent(value), encodeURIComponent(value)]
  } catch {
    return [value, encodeURIComponent(value)]
  }
}

let secretsOfThisProcess: string[] | undefined

/** `text` without the secrets of this process's command line and environment, nor secret-looking parameters. */
export function redactOutput(text: string): string {
  secretsOfThisProcess ??= commandLineSecrets(process.argv.slice(2), process.env)
  // The literal secrets first: the patterns would cut one holding "#", a space or ": " in two.
  return redactLocation(redactSecrets(text, secretsOfThisProcess)).replaceAll(PEM_PRIVATE_KEY, '***')
}

/** The error with its message and stack redacted, in place (oclif prints both, and its debug log the stack). */
export function redactError<T>(error: T): T {
  if (error instanceof Error) {
    error.message = redactOutput(error.message)
    if (error.stack) error.stack = redactOutput(error.stack)
  }

  return error
}

/**
 * Redacts everything written to stderr: oclif prints its errors there before any command runs (an
 * unknown command), and its DEBUG log repeats the whole command line. Nothing binary goes there.
 */
export function redactStderr(): void {
  const write = process.stderr.write.bind(process.stderr) as (...args: unknown[]) => boolean
  process.stderr.write = ((chunk: unknown, ...rest: unknown[]) => {
    if (typeof chunk === 'string') return write(redactOutput(chunk), ...rest)
    if (!(chunk instanceof Uint8Array)) return write(chunk, ...rest)
    // Bytes become text: an encoding given with them no longer applies.
    return write(
      redactOutput(Buffer.from(chunk).toString('utf8')),
      ...(typeof rest[0] === 'string' ? rest.slice(1) : rest),
    )
  }) as typeof process.stderr.write
}
