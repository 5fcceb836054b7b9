import {makeTable} from '@oclif/table'

/** Plain padded columns: no colours, no box drawing, never truncated to the terminal's width. Values must be escaped already. */
export function plainTable<T extends Record<string, string>>(
  columns: ReadonlyArray<{key: keyof T & string; name: string}>,
  data: T[],
): string {
  const table = makeTable({borderStyle: 'none', columns: [...columns], data, maxWidth: 'none', noStyle: true})
  const lines = table.split('\n').filter((line) => line.trim() !== '')
  const indent = Math.min(...lines.map((line) => /^ */.exec(line)![0].length))
  return lines.map((line) => line.slice(indent).trimEnd()).join('\n')
}
