/**
 * A fixed-size log-linear histogram of durations in milliseconds: 8 sub-buckets per power of two
 * of microseconds, from 1 µs to about 35 minutes (longer samples share the last bucket; the
 * maximum is kept exactly), so percentiles are within 12.5 % of the true value. It takes the same
 * memory after ten samples as after ten million, and a sample costs a few integer operations.
 */
const SUB_BITS = 3;
const SUB_BUCKETS = 1 << SUB_BITS;
const MAX_MICROS = 0x7fffffff;
const SIZE = 32 * SUB_BUCKETS;
const LAST = bucketOf(MAX_MICROS);

export interface Percentiles {
  /** Samples recorded (a sample standing for several tasks counts for them all). */
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
  /**
   * The largest sample: -Infinity until the first (a number that is not an integer from the
   * start, so that V8 never has to change this field's layout; see shapes.ts); read as at least 0.
   */
  #max = -Infinity;

  /** Records a sample of `ms` milliseconds standing for `weight` samples. */
  record(ms: number, weight = 1): void {
    const micros = ms >= MAX_MICROS / 1000 ? MAX_MICROS : ms > 0 ? (ms * 1000) | 0 : 0;
    const index = bucketOf(micros);
    this.#counts[index] = (this.#counts[index] ?? 0) + weight;
    this.#count += weight;
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
      if (seen >= rank) {
        return index === LAST ? this.max : Math.min(this.max, upperEdge(index) / 1000);
      }
    }

    return this.max;
  }

  /** The largest sample, milliseconds (0 before the first). */
  get max(): number {
    return Math.max(0, this.#max);
  }

  snapshot(): Percentiles {
    return {
      count: this.#count,
      p50: this.percentile(0.5),
      p90: this.percentile(0.9),
      p99: this.percentile(0.99),
      max: this.max,
    };
  }
}

/** Values below 8 µs get a bucket each; above, 8 sub-buckets per power of two. */
function bucketOf(micros: number): number {
  if (micros < SUB_BUCKETS) return micros;

  const octave = 31 - Math.clz32(micros);

  return (
    (octave - SUB_BITS + 1) * SUB_BUCKETS + ((micros >>> (octave - SUB_BITS)) & (SUB_BUCKETS - 1))
  );
}

/** The largest value, in microseconds, that falls in bucket `index`. */
function upperEdge(index: number): number {
  if (index < SUB_BUCKETS) return index + 1;

  const octave = Math.floor(index / SUB_BUCKETS) + SUB_BITS - 1;
  const sub = index % SUB_BUCKETS;

  return (SUB_BUCKETS + sub + 1) * 2 ** (octave - SUB_BITS);
}
