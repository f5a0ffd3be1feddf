/**
 * A fixed-size log-linear histogram of durations in milliseconds: 8 sub-buckets per power of two
 * from 1 µs up to about 50 days, so percentiles are within 1/8 (12.5 %) of the true value. It takes
 * the same memory after ten samples as after ten million.
 */
const SUB_BUCKETS = 8;
const OCTAVES = 42;
const MIN_VALUE = 0.001;
const SIZE = SUB_BUCKETS * OCTAVES + 1;

export interface Percentiles {
  /** Samples recorded. */
  count: number;
  /** Median, milliseconds. */
  p50: number;
  /** 90th percentile, milliseconds. */
  p90: number;
  /** 99th percentile, milliseconds. */
  p99: number;
  /** Largest sample, milliseconds. */
  max: number;
}

export class Histogram {
  readonly #counts = new Float64Array(SIZE);
  #count = 0;
  #max = 0;

  record(ms: number): void {
    const value = ms > MIN_VALUE ? ms / MIN_VALUE : 1;
    let index = 0;
    if (value > 1) {
      const octave = Math.floor(Math.log2(value));
      const sub = Math.floor((value / 2 ** octave - 1) * SUB_BUCKETS);
      index = Math.min(SIZE - 1, 1 + octave * SUB_BUCKETS + sub);
    }
    this.#counts[index] = (this.#counts[index] ?? 0) + 1;
    this.#count += 1;
    if (ms > this.#max) this.#max = ms;
  }

  get count(): number {
    return this.#count;
  }

  /** The value below which `fraction` (0..1) of the samples fall (upper edge of its bucket). */
  percentile(fraction: number): number {
    if (this.#count === 0) return 0;

    const rank = Math.max(1, Math.ceil(fraction * this.#count));
    let seen = 0;
    for (let index = 0; index < SIZE; index += 1) {
      seen += this.#counts[index] ?? 0;
      if (seen >= rank) return Math.min(this.#max, upperEdge(index));
    }

    return this.#max;
  }

  snapshot(): Percentiles {
    return {
      count: this.#count,
      p50: this.percentile(0.5),
      p90: this.percentile(0.9),
      p99: this.percentile(0.99),
      max: this.#max,
    };
  }
}

function upperEdge(index: number): number {
  if (index === 0) return MIN_VALUE;

  const octave = Math.floor((index - 1) / SUB_BUCKETS);
  const sub = (index - 1) % SUB_BUCKETS;

  return 2 ** octave * (1 + (sub + 1) / SUB_BUCKETS) * MIN_VALUE;
}
