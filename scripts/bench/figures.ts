/** A figure: one step's samples over the runs, as min, median and max, and ratios between figures. */
export interface Sample {
  peakRssMiB?: number
  seconds: number
}

export interface Figure {
  label: string
  mbPerSecond: number
  peakRssMiB?: number
  runs: number
  seconds: {max: number; median: number; min: number}
  /** Of the median run. */
  znodesPerSecond: number
}

const rounded = (number: number, digits: number) => Number(number.toFixed(digits))

export interface Spread {
  max: number
  median: number
  min: number
}

/** The least, the median (of the middle two for an even count) and the greatest of `numbers`. */
export function spread(numbers: number[]): Spread {
  const sorted = [...numbers].sort((a, b) => a - b)
  const middle = sorted.length / 2
  const median = sorted.length % 2 === 1 ? sorted[Math.floor(middle)] : (sorted[middle - 1] + sorted[middle]) / 2
  return {max: sorted.at(-1)!, median, min: sorted[0]}
}

export function figure(label: string, samples: Sample[], znodes: number, bytes: number): Figure {
  const {max, median, min} = spread(samples.map(({seconds}) => seconds))
  const rss = samples.flatMap(({peakRssMiB}) => (peakRssMiB === undefined ? [] : [peakRssMiB]))
  return {
    label,
    mbPerSecond: rounded(bytes / 1e6 / median, 2),
    peakRssMiB: rss.length > 0 ? Math.max(...rss) : undefined,
    runs: samples.length,
    seconds: {max: rounded(max, 3), median: rounded(median, 3), min: rounded(min, 3)},
    znodesPerSecond: Math.round(znodes / median),
  }
}

/** How fast `step` went as a share of `ceiling`'s speed, medians of the same runs. */
export function ratio(step: Figure, ceiling: Figure): number {
  return rounded(ceiling.seconds.median / step.seconds.median, 2)
}
