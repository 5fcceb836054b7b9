/**
 * The ZooKeeper releases the harness runs: '3.8' is Debian bookworm's installed `zookeeper`
 * package (jars in /usr/share/java); '3.4' (3.4.13, bullseye) and '3.9' (3.9.3, trixie) are
 * fetched from Debian's archive on first use by scripts/fetch-zookeeper.sh into a cache shared by
 * every checkout (see that script), and run on bookworm's dependency jars.
 */
import {execFile} from 'node:child_process'
import * as fs from 'node:fs'
import * as os from 'node:os'
import {join} from 'node:path'
import {fileURLToPath} from 'node:url'
import {promisify} from 'node:util'

export type ZookeeperVersion = '3.4' | '3.8' | '3.9'
export const ZOOKEEPER_VERSIONS: readonly ZookeeperVersion[] = ['3.4', '3.8', '3.9']

export const JAVA_DIR = '/usr/share/java'
export const ZOOKEEPER_JAR = join(JAVA_DIR, 'zookeeper.jar')
export const NOT_INSTALLED_MESSAGE = 'ZooKeeper is not installed: run "apt-get update && apt-get install -y zookeeper"'

const FETCH_SCRIPT = fileURLToPath(new URL('../../scripts/fetch-zookeeper.sh', import.meta.url))
const UPSTREAM: Record<'3.4' | '3.9', string> = {'3.4': '3.4.13', '3.9': '3.9.3'}

/**
 * Bookworm's jars, tried in that order, missing ones skipped. zookeeper.jar's manifest Class-Path
 * also pulls in its other dependencies (jetty, jackson, …) — the admin server's are listed below. The logging backend of Debian's package is slf4j 1.7 + log4j 1.2.
 */
const DEPENDENCY_JARS = [
  'slf4j-api.jar',
  'slf4j-log4j12.jar',
  'log4j-1.2.jar',
  'commons-cli.jar',
  'commons-io.jar',
  'metrics-core.jar',
  'snappy-java.jar',
  'netty-common.jar',
  'netty-buffer.jar',
  'netty-resolver.jar',
  'netty-transport.jar',
  'netty-codec.jar',
  'netty-handler.jar',
  'netty-transport-native-unix-common.jar',
  'netty-transport-native-epoll.jar',
]
/**
 * What JettyAdminServer needs besides zookeeper.jar (3.5+): bookworm's Jetty 9.4, the servlet API
 * and Jackson (JsonOutputter). Only on the classpath of an ensemble started with `adminServer`.
 */
const ADMIN_SERVER_JARS = [
  'jetty9-server.jar',
  'jetty9-servlet.jar',
  'jetty9-security.jar',
  'jetty9-http.jar',
  'jetty9-io.jar',
  'jetty9-util.jar',
  'jetty9-util-ajax.jar',
  'servlet-api.jar',
  'jackson-databind.jar',
  'jackson-core.jar',
  'jackson-annotations.jar',
]
/** 3.4.13 logs through log4j 1.2 (and slf4j) and needs nothing else of bookworm's. */
const DEPENDENCY_JARS_3_4 = ['slf4j-api.jar', 'slf4j-log4j12.jar', 'log4j-1.2.jar']

export function zookeeperCacheDir(): string {
  if (process.env.DCOS_BACKUP_ZOOKEEPER_CACHE) return process.env.DCOS_BACKUP_ZOOKEEPER_CACHE
  const base = process.env.XDG_CACHE_HOME || join(os.homedir(), '.cache')
  return join(base, 'dcos-backup-zookeeper')
}

/** Where a fetched line's jars are cached. */
export function releaseDirectory(version: '3.4' | '3.9'): string {
  return join(zookeeperCacheDir(), UPSTREAM[version])
}

const bookworm = (jars: string[]): string[] =>
  jars.map((jar) => join(JAVA_DIR, jar)).filter((jar) => fs.existsSync(jar))

/**
 * Classpath for a line's JVMs, fetching the release first if it is not cached. `ZOOKEEPER_CLASSPATH`
 * in the environment overrides the installed 3.8's.
 */
/**
 * Runs one of ZooKeeper's own tools (SnapshotFormatter, TxnLogToolkit, PurgeTxnLog: `mainClass` in
 * full) on a release's classpath, without blocking the event loop (a test's sessions go on pinging
 * meanwhile); its standard output.
 */
export async function runZookeeperTool(
  mainClass: string,
  args: string[],
  version: ZookeeperVersion = '3.8',
): Promise<string> {
  const classpath = await zookeeperClasspath(version)
  const {stdout} = await promisify(execFile)('java', ['-cp', classpath, mainClass, ...args], {
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
  })
  return stdout
}

export async function zookeeperClasspath(
  version: ZookeeperVersion = '3.8',
  {adminServer = false} = {},
): Promise<string> {
  if (!fs.existsSync(ZOOKEEPER_JAR)) throw new Error(NOT_INSTALLED_MESSAGE)
  const dependencies = adminServer ? [...DEPENDENCY_JARS, ...ADMIN_SERVER_JARS] : DEPENDENCY_JARS
  if (version === '3.8') {
    if (process.env.ZOOKEEPER_CLASSPATH) return process.env.ZOOKEEPER_CLASSPATH
    return bookworm(['zookeeper.jar', 'zookeeper-jute.jar', ...dependencies]).join(':')
  }

  const release = await fetchRelease(version)
  if (version === '3.4') return [join(release, 'zookeeper.jar'), ...bookworm(DEPENDENCY_JARS_3_4)].join(':')
  // 3.9's manifest Class-Path names bookworm's (3.8's) zookeeper-jute.jar: its own must come first.
  return [join(release, 'zookeeper-jute.jar'), join(release, 'zookeeper.jar'), ...bookworm(dependencies)].join(':')
}

const fetches = new Map<string, Promise<string>>()

/** The release's cache directory, fetched by scripts/fetch-zookeeper.sh when it is not there yet. */
function fetchRelease(version: '3.4' | '3.9'): Promise<string> {
  const dir = releaseDirectory(version)
  if (fs.existsSync(join(dir, 'zookeeper.jar'))) return Promise.resolve(dir)
  let fetch = fetches.get(dir)
  if (!fetch) {
    fetch = promisify(execFile)(FETCH_SCRIPT, [version], {timeout: 300_000}).then(
      () => dir,
      (error: Error & {stderr?: string}) => {
        const lines = (error.stderr ?? '').trim().split('\n')
        const why = lines.find((line) => line.startsWith('E: ')) ?? (lines.pop() || error.message.split('\n')[0])
        throw new Error(
          `ZooKeeper ${UPSTREAM[version]} is not in ${dir} and fetching it failed (${why}): ` +
            `run "scripts/fetch-zookeeper.sh ${version}" where Debian's archive is reachable`,
        )
      },
    )
    fetches.set(dir, fetch)
  }

  return fetch
}
