import { DEFAULTS } from '../config/defaults.js';

export interface RetryPolicyOptions {
  /** The first delay before jitter, in milliseconds; it doubles with each attempt. Default 1000. */
  retryBaseMs?: number;
  /** The longest delay, in milliseconds. Default 300000 (5 minutes). */
  retryMaxMs?: number;
  /** Attempts before an event is dead-lettered. Default 10. */
  maxAttempts?: number;
  /** A source of numbers in [0, 1) for the jitter. Default `Math.random`. */
  random?: () => number;
}

/** What a failed attempt leads to. */
export type RetryDecision =
  { action: 'retry'; delayMs: number } | { action: 'dead'; reason: string };

/**
 * Exponential backoff with full jitter: the n-th retry waits a random time between 0 and
 * `min(retryMaxMs, retryBaseMs × 2^(n-1))`, so that events failing together do not come back
 * together. A destination's `retryAfterMs` hint is honoured (with up to 10 % added, capped at
 * `retryMaxMs`). An event whose attempts are used up is dead-lettered.
 */
export class RetryPolicy {
  readonly retryBaseMs: number;
  readonly retryMaxMs: number;
  readonly maxAttempts: number;
  private readonly random: () => number;

  constructor(options: RetryPolicyOptions = {}) {
    this.retryBaseMs = positiveInteger('retryBaseMs', options.retryBaseMs, DEFAULTS.retryBaseMs);
    this.retryMaxMs = positiveInteger('retryMaxMs', options.retryMaxMs, DEFAULTS.retryMaxMs);
    this.maxAttempts = positiveInteger('maxAttempts', options.maxAttempts, DEFAULTS.maxAttempts);
    this.random = options.random ?? Math.random;
    if (this.retryMaxMs < this.retryBaseMs) {
      throw new RangeError(
        `retryMaxMs must be at least retryBaseMs (${this.retryBaseMs}), got ${this.retryMaxMs}`,
      );
    }
  }

  /**
   * Decides what follows a failed attempt. `attempts` counts the attempt that just failed (the
   * event's `attempts` field); `permanent` failures are dead-lettered at once.
   */
  decide(failure: {
    attempts: number;
    kind: 'retryable' | 'permanent' | 'overload';
    message: string;
    retryAfterMs?: number | undefined;
  }): RetryDecision {
    if (failure.kind === 'permanent') {
      return { action: 'dead', reason: `permanent failure: ${failure.message}` };
    }

    if (failure.attempts >= this.maxAttempts) {
      const used = `${failure.attempts} of ${this.maxAttempts}`;

      return { action: 'dead', reason: `attempts exhausted (${used}): ${failure.message}` };
    }

    if (failure.retryAfterMs !== undefined && failure.retryAfterMs >= 0) {
      const hinted = failure.retryAfterMs * (1 + 0.1 * this.random());

      return { action: 'retry', delayMs: Math.round(Math.min(this.retryMaxMs, hinted)) };
    }

    return { action: 'retry', delayMs: this.backoff(failure.attempts) };
  }

  /** The jittered delay after the given number of failed attempts, in milliseconds. */
  backoff(attempts: number): number {
    const exponent = Math.min(Math.max(attempts - 1, 0), 40);
    const ceiling = Math.min(this.retryMaxMs, this.retryBaseMs * 2 ** exponent);

    return Math.round(this.random() * ceiling);
  }
}

function positiveInteger(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;

  if (!Number.isInteger(value) || value < 1) {
    throw new RangeError(`${name} must be a positive integer, got ${String(value)}`);
  }

  return value;
}
