import {expect} from 'chai'
import {spawn} from 'node:child_process'
import {randomBytes} from 'node:crypto'
import {fileURLToPath} from 'node:url'

import {UsageError} from '../../src/errors.js'
import {resolveLocation} from '../../src/providers/index.js'

/** Runs a module in a child node with `code` after importing resolveLocation, feeding `input` to its stdin. */
async function runChild(code: string, input: Buffer): Promise<{status: null | number; stderr: string; stdout: Buffer}> {
  const index = new URL('../../src/providers/index.ts', import.meta.url).href
  const script = `import {resolveLocation} from '${index}'\n${code}`
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
    cwd: fileURLToPath(new URL('../..', import.meta.url)),
  })
  const stdout: Buffer[] = []
  let stderr = ''
  child.stdout.on('data', (chunk: Buffer) => stdout.push(chunk))
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk))
  child.stdin.end(input)
  const status = await new Promise<null | number>((resolve) => child.on('close', resolve))
  return {stdout: Buffer.concat(stdout), stderr, status}
}

describe('stdio provider', () => {
  it('copies standard input to standard output as "-"', async () => {
    const data = randomBytes(3 * 1024 * 1024)
    const {stdout, stderr, status} = await runChild(
      `const provider = resolveLocation('-')
       const bytes = await provider.write(await provider.read())
       process.stderr.write(String(bytes))`,
      data,
    )

    expect(status, stderr).to.equal(0)
    expect(stderr).to.equal(String(data.length))
    expect(stdout.equals(data)).to.equal(true)
  })

  it('has no stat and supports no list, delete or child', async () => {
    const provider = resolveLocation('-')
    expect(provider.display).to.equal('-')
    expect(await provider.stat()).to.equal(undefined)
    for (const attempt of [() => provider.list(), () => provider.delete(), async () => provider.child('x')]) {
      const error = await attempt().then(
        () => expect.fail('expected a rejection'),
        (error: Error) => error,
      )
      expect(error).to.be.instanceOf(UsageError)
      expect(error.message).to.match(/is not supported for -$/)
    }
  })
})
