/** A UTC time for file names: 20261121T141410Z. */
export function compactUtc(date: Date): string {
  return date
    .toISOString()
    .replaceAll(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z')
}
