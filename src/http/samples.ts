import type { StoreFigures } from './store-figures.js';
import type { DispatcherSurface } from './surface.js';

/** One point of the dashboard's charts. */
export interface Sample {
  /** When it was taken, in milliseconds since the epoch. */
  t: number;
  /** Events delivered per second since the previous sample. */
  delivered: number;
  /** Failed attempts (retried or dead-lettered) per second since the previous sample. */
  failed: number;
  /** Age of the oldest pending event, in seconds (from the cached store figures). */
  lagSeconds: number;
  pending: number;
  inFlight: number;
  dead: number;
}

/** A fixed-size ring of the latest samples, oldest first when read. */
export class SampleRing {
  readonly #items: Sample[] = [];
  #next = 0;

  constructor(readonly capacity: number) {}

  push(sample: Sample): void {
    if (this.#items.length < this.capacity) {
      this.#items.push(sample);

      return;
    }

    this.#items[this.#next] = sample;
    this.#next = (this.#next + 1) % this.capacity;
  }

  toArray(): Sample[] {
    return [...this.#items.slice(this.#next), ...this.#items.slice(0, this.#next)];
  }
}

/**
 * Takes a sample every `intervalMs` from the dispatcher's counters and the cached figures, so the
 * dashboard shows the last minutes at once when it opens, without a query per sample.
 */
export class Sampler {
  readonly ring: SampleRing;
  #timer: NodeJS.Timeout | undefined;
  #previous: { t: number; delivered: number; failed: number } | undefined;

  constructor(
    private readonly dispatcher: DispatcherSurface,
    private readonly figures: StoreFigures,
    private readonly intervalMs: number,
    capacity: number,
  ) {
    this.ring = new SampleRing(capacity);
  }

  start(): void {
    this.take();
    this.#timer = setInterval(() => this.take(), this.intervalMs);
    this.#timer.unref();
  }

  stop(): void {
    clearInterval(this.#timer);
  }

  /** Takes one sample now. */
  take(now = Date.now()): Sample {
    const { counters } = this.dispatcher.getStatus();
    const failed = counters.retried + counters.deadLettered;
    const previous = this.#previous;
    const seconds = previous ? Math.max(0.001, (now - previous.t) / 1000) : 1;
    const stats = this.figures.snapshot.stats;
    const sample: Sample = {
      t: now,
      delivered: previous ? Math.max(0, counters.delivered - previous.delivered) / seconds : 0,
      failed: previous ? Math.max(0, failed - previous.failed) / seconds : 0,
      lagSeconds: (stats?.oldestPendingAgeMs ?? 0) / 1000,
      pending: stats?.pending ?? 0,
      inFlight: stats?.inFlight ?? 0,
      dead: stats?.dead ?? 0,
    };
    this.#previous = { t: now, delivered: counters.delivered, failed };
    this.ring.push(sample);

    return sample;
  }
}
