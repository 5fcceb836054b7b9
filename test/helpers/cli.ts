/**
 * Runs the real, built CLI (`node bin/run.js`, which loads dist/) as a child process. Build first:
 * `npm run build` (`npm test` does).
 */
import {expect} from 'chai'
import {type ChildProcess, execFile, spawn} from 'node:child_process'
import {existsSync, mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {fileURLToPath} from 'node:url'

import {recordOutput} from './secrets.js'

export const ROOT = fileURLToPath(new URL('../..', import.meta.url))
const BIN = join(ROOT, 'bin', 'run.js')

export interface CliResult {
  code: number
  stderr: string
  stdout: string
}

export interface CliOptions {
  /** Default: a temp directory of this test run, so a default safety backup never lands in the repo. */
  cwd?: string
  /** Added to the environment (DCOS_*, AWS_* and DEBUG of the test process are not passed on). */
  env?: Record<string, string>
  /** Written to stdin (default: none). */
  input?: Buffer
  /** The command is killed after this long (default 45 s, under mocha's timeout) and reported as such. */
  timeoutMs?: number
}

const running = new Set<ChildProcess>()
process.once('exit', () => {
  for (const child of running) child.kill('SIGKILL')
})

let defaultCwd: string | undefined

function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env = Object.fromEntries(
    Object.entries(process.env).filter(([name]) => !/^(DCOS_|AWS_|DEBUG$|OCLIF_)/.test(name)),
  )
  return {...env, ...extra}
}

function defaultWorkingDir(): string {
  if (!defaultCwd) {
    const dir = mkdtempSync(join(tmpdir(), 'dcos-cwd-'))
    defaultCwd = dir
    process.once('exit', () => rmSync(dir, {force: true, recursive: true}))
  }

  return defaultCwd
}

/** Runs `dcos <args>` to completion. stdin is a pipe (never a terminal), empty unless `input` is given. */
export function dcos(args: string[], options: CliOptions = {}): Promise<CliResult> {
  if (!existsSync(join(ROOT, 'dist', 'commands', 'zk', 'backup.js'))) {
    throw new Error('dist/ is missing: run "npm run build" before the tests')
  }

  const timeout = options.timeoutMs ?? 45_000
  return new Promise((resolve) => {
    const child = execFile(
      process.execPath,
      [BIN, ...args],
      {
        cwd: options.cwd ?? defaultWorkingDir(),
        encoding: 'utf8',
        env: cleanEnv(options.env),
        killSignal: 'SIGKILL',
        maxBuffer: 256 * 1024 * 1024,
        timeout,
      },
      (error, stdout, stderr) => {
        running.delete(child)
        recordOutput(`dcos ${args.slice(0, 2).join(' ')}`, `${stdout}\n${stderr}`)
        if (error?.killed)
          resolve({code: -1, stderr: `${stderr}\n[dcos ${args.join(' ')}: killed after ${timeout} ms]`, stdout})
        else resolve({code: error ? (typeof error.code === 'number' ? error.code : -1) : 0, stderr, stdout})
      },
    )
    running.add(child)
    child.stdin?.on('error', () => {}) // the command may exit without reading it
    child.stdin?.end(options.input)
  })
}

export interface SpawnedCli {
  child: ChildProcess
  /** Resolves when the process has exited: its code (null when killed by a signal), output, and when. */
  exited: Promise<{at: number; code: null | number; stderr: string; stdout: string}>
}

/**
 * Starts `dcos <args>` in the background, for tests that act on it while it runs (kill it, stop
 * nodes). With `ownStdout` the caller reads child.stdout itself (binary output, backpressure).
 */
export function spawnDcos(
  args: string[],
  {env, ownStdout = false}: Pick<CliOptions, 'env'> & {ownStdout?: boolean} = {},
): SpawnedCli {
  const child = spawn(process.execPath, [BIN, ...args], {
    cwd: defaultWorkingDir(),
    env: cleanEnv(env),
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  running.add(child)
  let stdout = ''
  let stderr = ''
  if (!ownStdout) child.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString()))
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()))
  const exited = new Promise<{at: number; code: null | number; stderr: string; stdout: string}>((resolve) => {
    child.once('close', (code) => {
      running.delete(child)
      recordOutput(`dcos ${args.slice(0, 2).join(' ')}`, `${stdout}\n${stderr}`)
      resolve({at: Date.now(), code, stderr, stdout})
    })
  })
  return {child, exited}
}

const shellQuote = (word: string) => `'${word.replaceAll("'", `'\\''`)}'`

/**
 * Runs `dcos <args>` on a pseudo-terminal (util-linux script), 120 columns wide: stdin, stdout and
 * stderr are all that terminal, so `output` is what a user would see, both streams mixed.
 */
export function dcosOnTerminal(
  args: string[],
  options: Pick<CliOptions, 'cwd' | 'env'> = {},
): Promise<{code: number; output: string}> {
  const command = `stty cols 120 rows 40; exec ${[process.execPath, BIN, ...args].map((word) => shellQuote(word)).join(' ')}`
  return new Promise((resolve) => {
    execFile(
      'script',
      ['-qfec', command, '/dev/null'],
      {
        cwd: options.cwd ?? defaultWorkingDir(),
        encoding: 'utf8',
        env: cleanEnv(options.env),
        maxBuffer: 64 * 1024 * 1024,
        timeout: 45_000,
      },
      (error, stdout) => {
        recordOutput(`dcos ${args.slice(0, 2).join(' ')} (terminal)`, stdout)
        resolve({code: error ? (typeof error.code === 'number' ? error.code : -1) : 0, output: stdout})
      },
    )
  })
}

/** Asserts the exit code, showing the output when it differs. */
export function expectExit(result: CliResult, code: number): CliResult {
  expect(result.code, `exit code; stdout:\n${result.stdout}\nstderr:\n${result.stderr}`).to.equal(code)
  return result
}

/** Asserts a usage error: exit 2 and exactly one line on stderr, matching `message`. Returns that line. */
export function expectUsageError(result: CliResult, message: RegExp | string): string {
  expectExit(result, 2)
  const lines = result.stderr.trimEnd().split('\n')
  expect(lines, `stderr is one line:\n${result.stderr}`).to.have.length(1)
  if (typeof message === 'string') expect(lines[0]).to.include(message)
  else expect(lines[0]).to.match(message)
  expect(result.stdout).to.equal('')
  return lines[0]
}

/** The zk:// URI of `hosts` (a connect string) and a znode path. */
export function zkUri(hosts: string, path = ''): string {
  return `zk://${hosts}${path}`
}
