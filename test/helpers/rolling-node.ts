/**
 * A running standalone node whose data directory a test reads while it runs: snapshots every 50 to
 * 100 txns (snapCount 100) and logs preallocated 512 KiB at a time (ZooKeeper's default 64 MiB would
 * make every scan of a log long), in a dataLogDir of their own unless told otherwise.
 */
import {Ensemble, type EnsembleOptions} from '../harness/ensemble.js'

export interface RollingNodeOptions {
  /** zoo.cfg lines beside snapCount (autopurge, …). */
  config?: Record<string, string>
  /** Logs in a dataLogDir of their own. Default true; false keeps them in the dataDir. */
  dataLogDirs?: boolean
  version?: EnsembleOptions['version']
}

export function startRollingNode({config, dataLogDirs = true, version}: RollingNodeOptions = {}): Promise<Ensemble> {
  return Ensemble.start({
    config: {snapCount: '100', ...config},
    dataLogDirs,
    jvmFlags: ['-Dzookeeper.preAllocSize=512'],
    nodes: 1,
    version,
  })
}
