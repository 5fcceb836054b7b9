import {Flags} from '@oclif/core'

import {DCOS_PATHS} from '../engine/datadir/index.js'
import {UsageError} from '../errors.js'

/** Flags of the offline (data-directory) mode of `dcos zk backup|restore`, compatible with dcos-zk. */
export const dataDirFlags = {
  'data-dir': Flags.string({
    description:
      'Offline mode: the data directory (dataDir) of a ZooKeeper node (backup: running or stopped, restore: stopped). Archive layout of dcos-zk: ./zookeeper/snapshot/ and ./zookeeper/transactions/.',
    helpGroup: 'OFFLINE',
  }),
  dcos: Flags.boolean({
    description: `Offline mode with DC/OS's paths: --data-dir ${DCOS_PATHS.dataDir} --log-dir ${DCOS_PATHS.logDir} --pid-file ${DCOS_PATHS.pidFile}.`,
    helpGroup: 'OFFLINE',
  }),
  'log-dir': Flags.string({
    description: 'Offline mode: the transaction log directory (dataLogDir). Default: the data directory.',
    helpGroup: 'OFFLINE',
  }),
  'pid-file': Flags.string({
    description:
      'Offline mode: ZooKeeper runs while the pid in this file is alive (restore refuses; backup makes a hot copy).',
    helpGroup: 'OFFLINE',
  }),
  'tmp-dir': Flags.string({
    char: 't',
    description:
      'Accepted for compatibility with dcos-zk and ignored: archives are streamed, no temporary copy is made.',
    helpGroup: 'OFFLINE',
  }),
  'zk-config': Flags.string({
    description:
      'Offline mode: ZooKeeper runs while the clientPort of this zoo.cfg accepts connections (restore refuses; backup makes a hot copy and records the version srvr reports).',
    helpGroup: 'OFFLINE',
  }),
}

export interface OfflinePaths {
  dataDir: string
  logDir?: string
  pidFile?: string
  zkConfig?: string
}

interface ModeFlags {
  'data-dir'?: string
  dcos?: boolean
  'log-dir'?: string
  'pid-file'?: string
  zk?: string
  'zk-config'?: string
}

const OFFLINE_ONLY = ['log-dir', 'pid-file', 'zk-config', 'tmp-dir'] as const

/**
 * Exactly one mode: online (--zk, also from DCOS_ZK) or offline (--data-dir or --dcos). --zk
 * given on the command line together with the offline flags is a usage error; DCOS_ZK from the
 * environment is ignored in offline mode. `onlineOnly` are flags of the online mode: given on the
 * command line, they are refused in offline mode.
 */
export function resolveMode(
  flags: ModeFlags & Record<string, unknown>,
  raw: Array<{flag?: string; type: string}>,
  onlineOnly: string[],
): {mode: 'offline'; paths: OfflinePaths} | {mode: 'online'; zk: string} {
  const offline = Boolean(flags['data-dir'] || flags.dcos)
  const zkOnCommandLine = raw.some((token) => token.type === 'flag' && token.flag === 'zk')
  if (offline) {
    if (zkOnCommandLine)
      throw new UsageError(
        '--zk cannot be used with --data-dir or --dcos: give --zk for an online backup, --data-dir or --dcos for an offline one',
      )
    if (flags['data-dir'] && flags.dcos)
      throw new UsageError('--dcos sets the data directory: do not give --data-dir with it')
    const used = onlineOnly.filter((name) => raw.some((token) => token.type === 'flag' && token.flag === name))
    if (used.length > 0)
      throw new UsageError(`--${used[0]} is for online backups (--zk), not with --data-dir or --dcos`)
    if (flags.dcos) {
      return {
        mode: 'offline',
        paths: {
          dataDir: DCOS_PATHS.dataDir,
          logDir: flags['log-dir'] ?? DCOS_PATHS.logDir,
          pidFile: flags['pid-file'] ?? DCOS_PATHS.pidFile,
          zkConfig: flags['zk-config'],
        },
      }
    }

    return {
      mode: 'offline',
      paths: {
        dataDir: flags['data-dir']!,
        logDir: flags['log-dir'],
        pidFile: flags['pid-file'],
        zkConfig: flags['zk-config'],
      },
    }
  }

  const offlineOnly = OFFLINE_ONLY.filter((name) => flags[name] !== undefined)
  if (offlineOnly.length > 0) throw new UsageError(`--${offlineOnly[0]} needs --data-dir or --dcos (the offline mode)`)
  if (!flags.zk)
    throw new UsageError(
      'give --zk (or DCOS_ZK) for an online backup of a running ensemble, or --data-dir or --dcos for an offline one of a stopped node',
    )
  return {mode: 'online', zk: flags.zk}
}

/** An archive member's or a file's name as it may reach a terminal: control characters escaped. */
export function printableName(name: string): string {
  return /[\u0000-\u001F\u007F-\u009F]/.test(name) ? JSON.stringify(name).slice(1, -1) : name
}
