import {expect} from 'chai'
import {execFile} from 'node:child_process'
import {promisify} from 'node:util'

import {ROOT} from '../helpers/cli.js'

/**
 * Whether the AWS SDK is loaded once the given modules are imported, in a fresh process: every
 * command imports the provider registry, and the SDK costs a third of a CPU-second to load.
 */
async function loadsSdk(...modules: string[]): Promise<boolean> {
  const script = [
    "import {createRequire} from 'node:module'",
    ...modules.map((module) => `await import(${JSON.stringify(module)})`),
    'const cached = Object.keys(createRequire(import.meta.url).cache)',
    "console.log(JSON.stringify(cached.some((path) => path.includes('/@aws-sdk/'))))",
  ].join('\n')
  const {stdout} = await promisify(execFile)(
    process.execPath,
    ['--import', 'tsx', '--no-warnings', '--input-type=module', '-e', script],
    {cwd: ROOT, encoding: 'utf8'},
  )
  return JSON.parse(stdout) as boolean
}

describe('loading the AWS SDK', () => {
  it('is left to the first S3 request: zk backup to a file never loads it', async () => {
    expect(await loadsSdk('./src/commands/zk/backup.ts', './src/providers/index.ts')).to.equal(false)
  })

  it('is seen by this check when it happens', async () => {
    expect(await loadsSdk('./src/providers/index.ts', '@aws-sdk/client-s3')).to.equal(true)
  })
})
