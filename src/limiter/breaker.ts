import { EventEmitter } from 'node:events';
import { systemClock } from './clock.js';
import type { Clock, TimerHandle } from './clock.js';
import { CircuitOpenError } from './errors.js';
import { defaultClassify } from './outcome.js';
import type { Classifier, Outcome } from './outcome.js';
import type {
  BreakerEvents,
  BreakerPermit,
  BreakerState,
  BreakerStats,
  CircuitBreakerOptions,
  OpenReason,
} from './breaker-types.js';
import { functionOption, integerOption, numberOption, objectOption } from './validate.js';

/**
 * A circuit breaker over a rolling window of time buckets.
 *
 * Closed: calls pass; outcomes are counted in buckets of `windowMs / buckets` ms, indexed by
 * `floor(now / bucketMs)`, and every bucket older than the window is evicted on access. It opens
 * when the window holds at least `minimumCalls` calls and the failure rate is above
 * `failureThreshold`, or after `consecutiveFailures` failures in a row.
 * Open: calls are refused. A timer turns it half-open after the open time (which grows by
 * `backoffFactor` each time probes fail, up to `maxOpenMs`).
 * Half-open: `halfOpenProbes` calls pass; it closes when all succeed, reopens on the first
 * failure, and reopens if they have not finished within `halfOpenTimeoutMs`.
 */
export class CircuitBreaker extends EventEmitter<BreakerEvents> {
  readonly #threshold: number;
  readonly #minimumCalls: number;
  readonly #bucketMs: number;
  readonly #buckets: number;
  readonly #consecutiveLimit: number;
  readonly #openMs: number;
  readonly #backoffFactor: number;
  readonly #maxOpenMs: number;
  readonly #probes: number;
  readonly #halfOpenTimeoutMs: number;
  readonly #classify: Classifier;
  readonly #clock: Clock;
  readonly #batchSuccesses: boolean;

  #state: BreakerState = 'closed';
  readonly #successes: Float64Array;
  readonly #failures: Float64Array;
  #lastBucket = -1;
  #windowSuccesses = 0;
  #windowFailures = 0;
  #consecutive = 0;
  #pendingSuccesses = 0;
  #flushScheduled = false;

  #reopenings = 0;
  #timesOpened = 0;
  #openUntil = 0;
  #timer: TimerHandle | undefined;
  #probesLeft = 0;
  #probesInFlight = 0;
  #probeSuccesses = 0;
  /** Probes of an earlier half-open period still running: their outcome no longer counts. */
  #staleProbes = 0;

  constructor(options: CircuitBreakerOptions = {}) {
    super();
    objectOption('breaker options', options);
    this.#threshold = numberOption(
      'breaker.failureThreshold',
      options.failureThreshold ?? 0.5,
      0,
      1,
    );
    this.#minimumCalls = integerOption('breaker.minimumCalls', options.minimumCalls ?? 10, 1);
    const windowMs = numberOption('breaker.windowMs', options.windowMs ?? 10_000, 1);
    this.#buckets = integerOption('breaker.buckets', options.buckets ?? 10, 1);
    if (this.#buckets > 1000) {
      throw new RangeError(`breaker.buckets must be at most 1000, got ${this.#buckets}`);
    }
    this.#bucketMs = windowMs / this.#buckets;
    this.#consecutiveLimit = integerOption(
      'breaker.consecutiveFailures',
      options.consecutiveFailures ?? Infinity,
      1,
      true,
    );
    this.#openMs = numberOption('breaker.openMs', options.openMs ?? 5_000, 0);
    this.#backoffFactor = numberOption('breaker.backoffFactor', options.backoffFactor ?? 2, 1);
    this.#maxOpenMs = numberOption('breaker.maxOpenMs', options.maxOpenMs ?? 60_000, this.#openMs);
    this.#probes = integerOption('breaker.halfOpenProbes', options.halfOpenProbes ?? 1, 1);
    this.#halfOpenTimeoutMs = numberOption(
      'breaker.halfOpenTimeoutMs',
      options.halfOpenTimeoutMs ?? 30_000,
      1,
    );
    if (options.classify !== undefined) functionOption('breaker.classify', options.classify);
    this.#classify = options.classify ?? defaultClassify;
    if (options.clock !== undefined) objectOption('breaker.clock', options.clock);
    this.#clock = options.clock ?? systemClock;
    // With the real clock, successes are counted in a batch once per event-loop turn (a clock read
    // per call would double the cost of a cheap task); an injected clock gets exact bookkeeping.
    this.#batchSuccesses = this.#clock === systemClock;
    this.#successes = new Float64Array(this.#buckets);
    this.#failures = new Float64Array(this.#buckets);
  }

  get state(): BreakerState {
    return this.#state;
  }

  /** True while open (refusing every call). */
  get isBroken(): boolean {
    return this.#state === 'open';
  }

  /** Milliseconds until the breaker lets a probe through: 0 unless open. */
  get retryAfterMs(): number {
    return this.#state === 'open' ? Math.max(0, this.#openUntil - this.#clock.now()) : 0;
  }

  /** Probe calls still allowed: Infinity when closed, 0 when open. */
  get probesAvailable(): number {
    if (this.#state === 'closed') return Infinity;

    return this.#state === 'open' ? 0 : this.#probesLeft;
  }

  /**
   * Asks to start a call. Returns 0 when refused, otherwise a permit to hand back to `release`
   * exactly once with the call's outcome. Low level: `execute` does both.
   */
  acquire(): BreakerPermit {
    if (this.#state === 'closed') return 1;
    if (this.#state === 'open' || this.#probesLeft === 0) return 0;

    this.#probesLeft -= 1;
    this.#probesInFlight += 1;

    return 2;
  }

  /** Records the outcome of a call started with `permit`. */
  release(permit: BreakerPermit, outcome: Outcome): void {
    if (permit === 2) {
      this.#releaseProbe(outcome);

      return;
    }
    // Calls admitted while closed that finish after it opened do not count.
    if (permit !== 1 || this.#state !== 'closed' || outcome === 'ignore') return;

    if (outcome === 'success') {
      this.#consecutive = 0;
      if (this.#batchSuccesses) {
        this.#pendingSuccesses += 1;
        if (!this.#flushScheduled) {
          this.#flushScheduled = true;
          setImmediate(this.#flushLater);
        }
      } else {
        this.#count(this.#clock.now(), true);
      }

      return;
    }
    this.#recordFailure();
  }

  /**
   * Records `count` successful calls admitted while closed, at once (the limiter's batches use
   * it). Ignored unless closed.
   */
  recordSuccesses(count: number): void {
    if (this.#state !== 'closed' || count <= 0) return;

    this.#consecutive = 0;
    if (this.#batchSuccesses) {
      this.#pendingSuccesses += count;
      if (!this.#flushScheduled) {
        this.#flushScheduled = true;
        setImmediate(this.#flushLater);
      }

      return;
    }
    this.#advance(this.#clock.now());
    const slot = this.#lastBucket % this.#buckets;
    this.#successes[slot] = (this.#successes[slot] ?? 0) + count;
    this.#windowSuccesses += count;
  }

  /** Runs `fn` if the breaker allows it and records its outcome; else throws CircuitOpenError. */
  async execute<T>(fn: () => T | Promise<T>): Promise<T> {
    const permit = this.acquire();
    if (permit === 0) throw this.openError();

    try {
      const value = await fn();
      this.release(permit, 'success');

      return value;
    } catch (error) {
      this.release(permit, this.#classify(error));
      throw error;
    }
  }

  /** The error a refused call rejects with. */
  openError(): CircuitOpenError {
    const wait = this.retryAfterMs;
    const what = this.#state === 'open' ? `open for another ${Math.ceil(wait)} ms` : 'half-open';

    return new CircuitOpenError(`circuit breaker is ${what}`, wait);
  }

  /** Opens the breaker by hand, for `forMs` milliseconds (default: the current open time). */
  open(forMs?: number): void {
    if (forMs !== undefined) numberOption('forMs', forMs, 0);
    this.#trip('manual', forMs);
  }

  /** Closes the breaker by hand and clears its window. */
  close(): void {
    if (this.#state !== 'closed') this.#close('manual');
  }

  stats(): BreakerStats {
    this.#flush();
    this.#advance(this.#clock.now());
    const calls = this.#windowSuccesses + this.#windowFailures;

    return {
      state: this.#state,
      calls,
      failures: this.#windowFailures,
      failureRate: calls === 0 ? 0 : this.#windowFailures / calls,
      consecutiveFailures: this.#consecutive,
      timesOpened: this.#timesOpened,
      retryAfterMs: this.retryAfterMs,
    };
  }

  #flushLater = (): void => {
    this.#flushScheduled = false;
    this.#flush();
  };

  #flush(): void {
    if (this.#pendingSuccesses === 0) return;

    const pending = this.#pendingSuccesses;
    this.#pendingSuccesses = 0;
    if (this.#state !== 'closed') return;

    const now = this.#clock.now();
    this.#advance(now);
    const slot = this.#lastBucket % this.#buckets;
    this.#successes[slot] = (this.#successes[slot] ?? 0) + pending;
    this.#windowSuccesses += pending;
  }

  #recordFailure(): void {
    this.#flush();
    this.#consecutive += 1;
    const now = this.#clock.now();
    this.#count(now, false);
    if (this.#consecutive >= this.#consecutiveLimit) {
      this.#trip('consecutive-failures');

      return;
    }

    const calls = this.#windowSuccesses + this.#windowFailures;
    if (calls >= this.#minimumCalls && this.#windowFailures / calls > this.#threshold) {
      this.#trip('failure-rate');
    }
  }

  #count(now: number, success: boolean): void {
    this.#advance(now);
    const slot = this.#lastBucket % this.#buckets;
    if (success) {
      this.#successes[slot] = (this.#successes[slot] ?? 0) + 1;
      this.#windowSuccesses += 1;
    } else {
      this.#failures[slot] = (this.#failures[slot] ?? 0) + 1;
      this.#windowFailures += 1;
    }
  }

  /** Moves the window to the bucket of `now`, evicting every bucket that fell out of it. */
  #advance(now: number): void {
    const bucket = Math.floor(now / this.#bucketMs);
    if (bucket <= this.#lastBucket) return;

    if (bucket - this.#lastBucket >= this.#buckets || this.#lastBucket < 0) {
      this.#successes.fill(0);
      this.#failures.fill(0);
      this.#windowSuccesses = 0;
      this.#windowFailures = 0;
    } else {
      for (let id = this.#lastBucket + 1; id <= bucket; id += 1) {
        const slot = id % this.#buckets;
        this.#windowSuccesses -= this.#successes[slot] ?? 0;
        this.#windowFailures -= this.#failures[slot] ?? 0;
        this.#successes[slot] = 0;
        this.#failures[slot] = 0;
      }
    }
    this.#lastBucket = bucket;
  }

  #releaseProbe(outcome: Outcome): void {
    if (this.#staleProbes > 0) {
      this.#staleProbes -= 1;

      return;
    }
    this.#probesInFlight -= 1;
    if (this.#state !== 'half-open') return;

    if (outcome === 'ignore') {
      this.#probesLeft += 1;

      return;
    }
    if (outcome !== 'success') {
      this.#reopenings += 1;
      this.#trip('probe-failed');

      return;
    }

    this.#probeSuccesses += 1;
    if (this.#probeSuccesses >= this.#probes) this.#close('probes-succeeded');
  }

  #trip(reason: OpenReason, forMs?: number): void {
    const calls = this.#windowSuccesses + this.#windowFailures;
    const failures = this.#windowFailures;
    const openForMs =
      forMs ??
      Math.min(
        this.#maxOpenMs,
        this.#openMs * this.#backoffFactor ** Math.max(0, this.#reopenings),
      );
    this.#clearTimer();
    this.#staleProbes += this.#probesInFlight;
    this.#probesInFlight = 0;
    this.#state = 'open';
    this.#timesOpened += 1;
    this.#openUntil = this.#clock.now() + openForMs;
    this.#pendingSuccesses = 0;
    this.#timer = this.#clock.setTimeout(this.#toHalfOpen, openForMs);
    this.emit('circuit-breaker:opened', {
      reason,
      failureRate: calls === 0 ? 0 : failures / calls,
      failures,
      calls,
      consecutiveFailures: this.#consecutive,
      openForMs,
    });
  }

  #toHalfOpen = (): void => {
    this.#timer = undefined;
    if (this.#state !== 'open') return;

    this.#state = 'half-open';
    this.#probesLeft = this.#probes;
    this.#probesInFlight = 0;
    this.#probeSuccesses = 0;
    this.#timer = this.#clock.setTimeout(this.#onHalfOpenTimeout, this.#halfOpenTimeoutMs);
    this.emit('circuit-breaker:half-open', { probes: this.#probes });
  };

  #onHalfOpenTimeout = (): void => {
    this.#timer = undefined;
    if (this.#state !== 'half-open') return;

    this.#reopenings += 1;
    this.#trip('probe-timeout');
  };

  #close(reason: 'probes-succeeded' | 'manual'): void {
    this.#clearTimer();
    const probes = this.#probeSuccesses;
    this.#state = 'closed';
    this.#staleProbes += this.#probesInFlight;
    this.#probesInFlight = 0;
    this.#reopenings = 0;
    this.#consecutive = 0;
    this.#probesLeft = 0;
    this.#lastBucket = -1;
    this.#advance(this.#clock.now());
    this.emit('circuit-breaker:closed', { reason, probes });
  }

  #clearTimer(): void {
    if (this.#timer === undefined) return;

    this.#clock.clearTimeout(this.#timer);
    this.#timer = undefined;
  }
}
