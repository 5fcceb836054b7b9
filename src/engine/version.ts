import {readFileSync} from 'node:fs'

const packageJson = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
  name: string
  version: string
}

export const PACKAGE_VERSION = packageJson.version

/** "dcos-backup 0.1.0": recorded in every archive this tool writes. */
export const TOOL = `${packageJson.name} ${packageJson.version}`
