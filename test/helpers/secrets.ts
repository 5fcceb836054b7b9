/**
 * The suite-wide secret scan. Tests register every secret they hand to the tool (S3 keys, tokens,
 * digest passwords) with `secret()` at module level, so it is known before any test runs; the
 * helpers that run the tool record all it says (stdout, stderr, service logs) and scan every file a
 * test leaves behind (temp directories, the S3 store) before deleting it. The suite fails at the end
 * if any of it held a registered secret (the root hook in test/harness/hooks.ts).
 */
import {readdir, readFile} from 'node:fs/promises'
import {join} from 'node:path'
import {gunzipSync} from 'node:zlib'

const secrets = new Set<string>()
/** Parts of the secrets between the characters at which redaction by pattern may stop: a tail that showed. */
const pieces = new Set<string>()
const PIECE_SEPARATORS = /[#\s:/@&?=]+/
const MIN_PIECE_LENGTH = 8
/** Files a test wrote with a secret in them on purpose (a --token-file): inputs, not output. */
const inputs = new Set<string>()
const leaks: string[] = []

/** Registers `value` as a secret that no output of the tool may hold (also URI-encoded); returns it. */
export function secret<T extends string>(value: T): T {
  secrets.add(value)
  secrets.add(encodeURIComponent(value))
  for (const piece of value.split(PIECE_SEPARATORS))
    if (piece.length >= MIN_PIECE_LENGTH && piece !== value) pieces.add(piece)
  return value
}

/** Marks a file the test itself wrote a secret into, so the scan of its directory skips it. */
export function secretInput<T extends string>(path: T): T {
  inputs.add(path)
  return path
}

/** Where `text` holds a registered secret, described without the secret itself. */
export function leaksIn(source: string, text: Buffer | string): string[] {
  const whole = [...secrets].filter((value) => text.includes(value))
  const parts = [...pieces].filter((piece) => text.includes(piece) && !whole.some((value) => value.includes(piece)))
  return [
    ...whole.map((value) => `${source} holds the secret ${value.slice(0, 2)}… (${value.length} characters)`),
    ...parts.map((piece) => `${source} holds a part of a secret ${piece.slice(0, 2)}… (${piece.length} characters)`),
  ]
}

/** Checks what the tool said; the suite fails at the end if it held a secret. */
export function recordOutput(source: string, text: Buffer | string): void {
  leaks.push(...leaksIn(source, text))
}

/** The leaks in every file under `dir` (gzip files decompressed as well), but for secretInput() files. */
export async function leaksInFiles(dir: string): Promise<string[]> {
  const found: string[] = []
  const entries = await readdir(dir, {recursive: true, withFileTypes: true}).catch(() => [])
  for (const entry of entries) {
    const path = join(entry.parentPath, entry.name)
    if (!entry.isFile() || inputs.has(path)) continue

    const bytes = await readFile(path).catch(() => undefined)
    if (!bytes) continue
    found.push(...leaksIn(path, bytes))
    if (bytes[0] === 0x1f && bytes[1] === 0x8b) found.push(...leaksIn(`${path} (decompressed)`, gunzipQuietly(bytes)))
  }

  return found
}

/** Checks what a test left on storage before it is deleted. */
export async function scanFiles(dir: string): Promise<void> {
  leaks.push(...(await leaksInFiles(dir)))
}

function gunzipQuietly(bytes: Buffer): Buffer {
  try {
    return gunzipSync(bytes, {finishFlush: 2}) // Z_SYNC_FLUSH: a damaged or cut archive yields what it holds
  } catch {
    return Buffer.alloc(0)
  }
}

export function secretLeaks(): readonly string[] {
  return leaks
}
