/**
 * The tool needs no native addon: `npm ci --ignore-scripts` on a machine without a C compiler gives
 * a working tool. Nothing imports the `zookeeper` package (every src module loads with it made
 * unresolvable), it is not a dependency, and no runtime package has an install script.
 */
import {expect} from 'chai'
import {execFile} from 'node:child_process'
import {readdir, readFile} from 'node:fs/promises'
import {join, relative} from 'node:path'
import {promisify} from 'node:util'

const ROOT = new URL('../..', import.meta.url).pathname
const NATIVE = 'zookeeper'

async function sourceFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, {recursive: true, withFileTypes: true})
  return entries
    .filter((entry) => entry.isFile() && entry.name.endsWith('.ts'))
    .map((entry) => join(entry.parentPath, entry.name))
}

/** A loader hook that refuses the native package, registered before anything is imported. */
const REFUSE_ZOOKEEPER = `data:text/javascript,${encodeURIComponent(`
import {register} from 'node:module'
register('data:text/javascript,' + encodeURIComponent(\`
export async function resolve(specifier, context, next) {
  if (specifier === 'zookeeper' || specifier.startsWith('zookeeper/')) throw new Error('the native zookeeper package was imported')
  return next(specifier, context)
}\`))
`)}`

describe('no native ZooKeeper addon', function () {
  this.timeout(60_000)

  it('loads every src module with the zookeeper package unresolvable', async () => {
    const files = await sourceFiles(join(ROOT, 'src'))
    expect(files.length).to.be.above(50)
    const imports = files.map((file) => `await import(${JSON.stringify(`file://${file}`)})`).join('\n')
    const {stdout} = await promisify(execFile)(
      process.execPath,
      [
        '--no-warnings',
        '--import',
        REFUSE_ZOOKEEPER,
        '--import',
        'tsx',
        '--input-type=module',
        '-e',
        `${imports}\nconsole.log('loaded')`,
      ],
      {cwd: ROOT, encoding: 'utf8'},
    )
    expect(stdout.trim()).to.equal('loaded')
  })

  it('refuses the zookeeper package when something imports it (the check above can fail)', async () => {
    const result = await promisify(execFile)(
      process.execPath,
      [
        '--no-warnings',
        '--import',
        REFUSE_ZOOKEEPER,
        '--input-type=module',
        '-e',
        `await import(${JSON.stringify(NATIVE)})`,
      ],
      {cwd: ROOT, encoding: 'utf8'},
    ).then(
      () => 'loaded',
      (error: {stderr: string}) => error.stderr,
    )
    expect(result).to.include('the native zookeeper package was imported')
  })

  it('names no import of it in src, scripts or test', async () => {
    const files = [
      ...(await sourceFiles(join(ROOT, 'src'))),
      ...(await sourceFiles(join(ROOT, 'scripts'))),
      ...(await sourceFiles(join(ROOT, 'test'))),
    ]
    const importing: string[] = []
    for (const file of files) {
      const text = await readFile(file, 'utf8')
      if (/(?:from\s+|import\(\s*|require\(\s*)['"]zookeeper['"/]/.test(text)) importing.push(relative(ROOT, file))
    }

    expect(importing).to.deep.equal([])
  })

  it('is no dependency, and no runtime package runs an install script', async () => {
    const manifest = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8'))
    for (const field of ['dependencies', 'devDependencies', 'optionalDependencies'])
      expect(manifest[field] ?? {}).to.not.have.property('zookeeper')
    for (const script of ['preinstall', 'install', 'postinstall']) expect(manifest.scripts).to.not.have.property(script)

    const lock = JSON.parse(await readFile(join(ROOT, 'package-lock.json'), 'utf8'))
    const packages = Object.entries(lock.packages as Record<string, {dev?: boolean; hasInstallScript?: boolean}>)
    expect(packages.map(([path]) => path).filter((path) => /(^|\/)node_modules\/zookeeper$/.test(path))).to.deep.equal(
      [],
    )
    expect(packages.filter(([, entry]) => entry.hasInstallScript && !entry.dev).map(([path]) => path)).to.deep.equal([])
  })
})
