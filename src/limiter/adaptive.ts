import { integerOption, numberOption, objectOption } from './validate.js';

export interface AdaptiveOptions {
  /** The limit never falls below this. Default 1. */
  min?: number;
  /** The limit never rises above this. Default: 4 × the initial concurrency. */
  max?: number;
  /** On overload the limit is multiplied by this (0 to 1, exclusive). Default 0.9. */
  backoff?: number;
  /** The limit grows by this much per round of `limit` successful tasks. Default 1. */
  increase?: number;
  /**
   * Also shrink when run times grow: the limit follows `tolerance × long-term average / recent
   * average` (clamped to 0.5..1) whenever recent tasks run slower than usual. Default: off.
   */
  latency?: LatencyOptions | boolean;
}

export interface LatencyOptions {
  /** Recent run times up to this multiple of the long-term average count as normal. Default 2. */
  tolerance?: number;
  /** Timed tasks per recent-average window. Default 50. */
  window?: number;
  /** Timed tasks that make up the long-term average (exponential). Default 600. */
  longWindow?: number;
}

export type LimitChangeReason = 'overload' | 'latency' | 'increase' | 'manual';

/**
 * Additive increase, multiplicative decrease. Each success adds `increase / limit` (one step per
 * round of `limit` tasks) while at least half the limit is in use; an overload multiplies the
 * limit by `backoff`, then further overloads are ignored until the tasks already in flight at
 * that moment have finished, so one burst of refusals costs one decrease. With `latency`, a
 * recent average run time above `tolerance ×` the long-term average shrinks the limit in
 * proportion, never growing it (growth is left to the additive step).
 */
export class AdaptiveLimit {
  readonly min: number;
  readonly max: number;
  readonly #backoff: number;
  readonly #increase: number;
  readonly #latency: Required<LatencyOptions> | null;
  #limit: number;
  #completions = 0;
  #ignoreUntil = 0;
  #longRtt = 0;
  #longSamples = 0;
  #windowSum = 0;
  #windowCount = 0;

  constructor(initial: number, options: AdaptiveOptions) {
    objectOption('adaptive', options);
    this.min = integerOption('adaptive.min', options.min ?? 1, 1);
    this.max = integerOption(
      'adaptive.max',
      options.max ?? Math.max(initial * 4, this.min),
      this.min,
    );
    this.#backoff = numberOption('adaptive.backoff', options.backoff ?? 0.9, 0.01, 0.99);
    this.#increase = numberOption('adaptive.increase', options.increase ?? 1, 0);
    this.#latency = null;
    if (options.latency !== undefined && options.latency !== false) {
      const latency = options.latency === true ? {} : options.latency;
      objectOption('adaptive.latency', latency);
      this.#latency = {
        tolerance: numberOption('adaptive.latency.tolerance', latency.tolerance ?? 2, 1),
        window: integerOption('adaptive.latency.window', latency.window ?? 50, 1),
        longWindow: integerOption('adaptive.latency.longWindow', latency.longWindow ?? 600, 2),
      };
    }
    this.#limit = Math.min(this.max, Math.max(this.min, initial));
  }

  /** The current limit, a whole number. */
  get limit(): number {
    return Math.floor(this.#limit);
  }

  set(limit: number): void {
    this.#limit = Math.min(this.max, Math.max(this.min, limit));
  }

  /** A task succeeded. Returns true if the whole-number limit changed. */
  onSuccess(active: number): boolean {
    this.#completions += 1;
    if (this.#increase === 0 || active * 2 < this.#limit || this.#limit >= this.max) return false;

    const before = Math.floor(this.#limit);
    this.#limit = Math.min(this.max, this.#limit + this.#increase / this.#limit);

    return Math.floor(this.#limit) !== before;
  }

  /** A task finished without counting (ignored outcome or plain failure). */
  onNeutral(): void {
    this.#completions += 1;
  }

  /** A task met overload. Returns true if the whole-number limit changed. */
  onOverload(active: number): boolean {
    this.#completions += 1;
    if (this.#completions <= this.#ignoreUntil) return false;

    const before = Math.floor(this.#limit);
    this.#limit = Math.max(this.min, Math.floor(this.#limit * this.#backoff));
    this.#ignoreUntil = this.#completions + active;

    return Math.floor(this.#limit) !== before;
  }

  /** A timed task ran for `ms`. Returns true if the whole-number limit changed. */
  onRunTime(ms: number, active: number): boolean {
    const latency = this.#latency;
    if (latency === null) return false;

    // The long-term average: arithmetic over the first samples, then exponential.
    this.#longSamples += 1;
    const alpha = this.#longSamples < 10 ? 1 / this.#longSamples : 2 / (latency.longWindow + 1);
    this.#longRtt += (ms - this.#longRtt) * alpha;
    this.#windowSum += ms;
    this.#windowCount += 1;
    if (this.#windowCount < latency.window) return false;

    const recent = this.#windowSum / this.#windowCount;
    this.#windowSum = 0;
    this.#windowCount = 0;
    // After an overload period the long average lags behind: let it fall back quickly.
    if (this.#longRtt > recent * 2) this.#longRtt *= 0.95;
    if (recent <= 0 || active * 2 < this.#limit) return false;

    const gradient = Math.max(0.5, Math.min(1, (latency.tolerance * this.#longRtt) / recent));
    if (gradient >= 1) return false;

    const before = Math.floor(this.#limit);
    this.#limit = Math.max(this.min, this.#limit * (0.8 + 0.2 * gradient));

    return Math.floor(this.#limit) !== before;
  }
}
