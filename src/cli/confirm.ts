import {createInterface} from 'node:readline/promises'

import {UsageError} from '../errors.js'
import {printable} from './printable.js'

/**
 * Asks a yes/no question on the terminal; without one, refuses unless the caller passed --yes.
 * `action` completes the refusal: "Refusing to <action> without confirmation". The question may
 * name paths or ids from an archive: each of its lines is shown escaped.
 */
export async function confirm(question: string, yes: boolean, action = 'change ZooKeeper'): Promise<boolean> {
  if (yes) return true
  if (!process.stdin.isTTY || !process.stderr.isTTY) {
    throw new UsageError(`Refusing to ${action} without confirmation: there is no terminal to ask, so pass --yes`)
  }

  const prompt = createInterface({input: process.stdin, output: process.stderr})
  try {
    const answer = await prompt.question(promptText(question))
    return /^y(es)?$/i.test(answer.trim())
  } finally {
    prompt.close()
  }
}

/** The question as asked: each line escaped (a znode path can hold ESC or CR), then the choices. */
export function promptText(question: string): string {
  return `${question
    .split('\n')
    .map((line) => printable(line))
    .join('\n')} [y/N] `
}
