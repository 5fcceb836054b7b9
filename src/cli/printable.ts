/**
 * Text from archives and servers (znode paths and data, ACL ids, lock holders, service answers,
 * srvr lines) can hold control characters: ESC sequences that recolour or rewrite a terminal, and
 * newlines or carriage returns that forge lines ("Integrity OK"). At the printing edge they are
 * shown as escapes: C0, DEL and C1, and the Unicode line separators and bidirectional overrides.
 */

const UNPRINTABLE = /[\u0000-\u001F\u007F-\u009F\u2028\u2029\u202A-\u202E\u2066-\u2069]/g
const SHORT_ESCAPES: Record<string, string> = {'\t': String.raw`\t`, '\n': String.raw`\n`, '\r': String.raw`\r`}

function escape(character: string): string {
  const code = character.charCodeAt(0)
  return (
    SHORT_ESCAPES[character] ??
    (code < 0x1_00 ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`)
  )
}

/** `text` as one printable line: every control character shown as an escape (`\n`, `\x1b`, `\x9b`). */
export function printable(text: string): string {
  return text.replaceAll(UNPRINTABLE, escape)
}

/** `text` made printable when it goes to a terminal; as it is for a pipe or a file. */
export function forStream(text: string, stream: {isTTY?: boolean}): string {
  return stream.isTTY ? printable(text) : text
}

// The characters JSON.stringify leaves raw; inside JSON they can only be in strings.
const JSON_UNESCAPED = /[\u007F-\u009F\u2028\u2029\u202A-\u202E\u2066-\u2069]/g

/**
 * JSON text with the characters JSON.stringify leaves raw (DEL, C1, the line separators and bidi
 * overrides) written as \u escapes: the same document for a parser, inert on a terminal.
 */
export function inertJson(json: string): string {
  return json.replaceAll(JSON_UNESCAPED, (character) => `\\u${character.charCodeAt(0).toString(16).padStart(4, '0')}`)
}
