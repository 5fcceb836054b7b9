/** A figure: one step's samples over the runs, as min, median and max, and ratios between figures. */
export interface Sample {
  seconds: number
  peakRssMiB?: number
}

export interface Figure {
  label: string
  runs: number
  seconds: {min: number; median: number; max: number}
  /** Of the median run. */
  znodesPerSecond: number
  mbPerSecond: number
  peakRssMiB?: number
}

const rounded = (number: number, digits: number) => Number(number.toFixed(digits))

export function figure(label: string, samples: Sample[], znodes: number, bytes: number): Figure {
  const sorted = samples.map(({seconds}) => seconds).sort((a, b) => a - b)
  const median = sorted.length % 2 === 1 ? sorted[(sorted.length - 1) / 2] : (sorted[sorted.length / 2 - 1] + sorted[sorted.length / 2]) / 2
  const rss = samples.flatMap(({peakRssMiB}) => (peakRssMiB === undefined ? [] : [peakRssMiB]))
  return {
    label,
    mbPerSecond: rounded(bytes / 1e6 / median, 2),
    peakRssMiB: rss.length > 0 ? Math.max(...rss) : undefined,
    runs: samples.length,
    seconds: {max: rounded(sorted.at(-1)!, 3), median: rounded(median, 3), min: rounded(sorted[0], 3)},
    znodesPerSecond: Math.round(znodes / median),
  }
}

/** How fast `step` went as a share of `ceiling`'s speed, medians of the same runs. */
export function ratio(step: Figure, ceiling: Figure): number {
  return rounded(ceiling.seconds.median / step.seconds.median, 2)
}
