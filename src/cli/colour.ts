import {Chalk, type ChalkInstance} from 'chalk'

/**
 * Colours for status on a terminal: none for a pipe or a file (scripts read the same bytes), none
 * when NO_COLOR is set to anything (no-color.org), and chalk's own detection of the terminal's
 * depth otherwise (FORCE_COLOR included).
 */
export function coloursFor(stream: {isTTY?: boolean}, env: NodeJS.ProcessEnv = process.env): ChalkInstance {
  const off = !stream.isTTY || (env.NO_COLOR !== undefined && env.NO_COLOR !== '')
  return off ? new Chalk({level: 0}) : new Chalk()
}

/** A node's state: green when it serves, yellow when it answers but does not serve, red when unreachable. */
export function paintState(colours: ChalkInstance, state: string, text: string = state): string {
  if (state === 'serving') return colours.green(text)
  if (state === 'unreachable') return colours.red(text)
  return colours.yellow(text)
}

/** A verdict line: green when healthy, red otherwise. */
export function paintVerdict(colours: ChalkInstance, healthy: boolean, text: string): string {
  return healthy ? colours.green(text) : colours.red(text)
}
