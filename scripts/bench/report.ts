/** Printing: the parameters and the machine first, then each section's lines (figures as Markdown tables, ready for the README). */
import type {Figure} from './figures.js'
import type {BenchOptions} from './options.js'

const number = (value: number) => value.toLocaleString('en-US')

export function formatFigures(
  figures: Record<string, Figure | undefined>,
  paths: Record<string, string | undefined>,
): string[] {
  const rows = Object.entries(figures).flatMap(([step, one]) => {
    if (!one) return []
    const {label, mbPerSecond, peakRssMiB, runs, seconds, znodesPerSecond} = one
    const path = paths[step] ? ` (${paths[step]})` : ''
    return [
      `| ${label}${path} | ${runs} | ${seconds.min.toFixed(2)} | ${seconds.median.toFixed(2)} | ${seconds.max.toFixed(2)} | ${number(znodesPerSecond)} | ${mbPerSecond.toFixed(2)} | ${peakRssMiB === undefined ? '' : `${peakRssMiB} MiB`} |`,
    ]
  })
  return [
    '| step | runs | min s | median s | max s | znodes/s (median) | MB/s (median) | peak RSS |',
    '|---|---|---|---|---|---|---|---|',
    ...rows,
  ]
}

export function formatHeader(
  options: BenchOptions,
  machine: Record<string, unknown>,
  versions: Record<string, string>,
): string[] {
  const parameters = {...options, memory: options.memory.join(',') || "''", out: options.out ?? '-'}
  return [
    `parameters: ${Object.entries(parameters)
      .map(([key, value]) => `${key} ${value}`)
      .join(', ')}`,
    `servers: 3 nodes of ZooKeeper ${versions.zookeeper}, forceSync=${options.forceSync}${options.forceSync === 'yes' ? " (ZooKeeper's default, as in production)" : ' (not durable: not what production runs)'}, -Xmx2g each`,
    `machine: ${machine.cpus} CPUs (${machine.cpuModel}), ${machine.memoryGiB} GiB, load average ${(machine.loadAverageAtStart as number[]).join(' ')} at the start; the servers, the CLI and the bench share these CPUs`,
    `versions: dcos-backup ${versions.dcosBackup}, Node ${versions.node}, ${versions.java}`,
  ]
}
