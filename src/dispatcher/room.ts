import type { ConcurrencyLimiter } from '../limiter/index.js';

/**
 * How many events the claim loops may claim, shared by all of them: the limiter's free slots
 * plus `prefetch`, less the dispatcher's events still outstanding (running or queued) and what
 * the claims in progress may bring. It also tells a loop when to look again.
 */
export class ClaimRoom {
  /** Claimed events started and not yet finished (running or queued in the limiter). */
  outstanding = 0;
  /** Events the claims in progress may bring. */
  reserved = 0;

  #settled: (() => void) | undefined;
  /**
   * A loop waiting for `#wanted` of room, woken by the event or the claim that frees it (any
   * finished event or returned claim while the breaker is not closed).
   */
  #waiter: (() => void) | undefined;
  #wanted = 1;

  constructor(
    private readonly limiter: ConcurrencyLimiter,
    private readonly options: { readonly batchSize: number; readonly prefetch: number },
  ) {}

  /** Room now; while the breaker is open or probing, its probes. Below 1: none. */
  get size(): number {
    const limiter = this.limiter;
    if (this.#breakerState() !== 'closed') return limiter.available - this.reserved;

    const busy = Math.max(this.outstanding, limiter.active + limiter.queued);

    return limiter.limit + this.options.prefetch - busy - this.reserved;
  }

  /**
   * The smallest claim worth making now. With `prefetch`, a loop waits until half the room (at
   * most a batch) is free rather than claiming a few events at a time, unless the limiter's
   * queue is about to run dry; without it, any free slot is claimed at once.
   */
  get floor(): number {
    const { batchSize, prefetch } = this.options;
    const limiter = this.limiter;
    if (prefetch === 0 || limiter.queued + this.reserved === 0) return 1;

    return Math.min(batchSize, Math.ceil((limiter.limit + prefetch) / 2));
  }

  /** A claim of `count` events starts. */
  reserve(count: number): void {
    this.reserved += count;
  }

  /** The claim of `count` events returned: its events are outstanding now, if it found any. */
  returned(count: number): void {
    this.reserved -= count;
    this.#wake();
  }

  /** A claimed event starts in the limiter. */
  started(): void {
    this.outstanding += 1;
  }

  /** A claimed event finished: wakes a waiting loop when the room it wants is there. */
  finished(): void {
    this.outstanding -= 1;
    if (this.outstanding === 0) this.#settled?.();
    if (this.#waiter === undefined) return;

    // Once the breaker leaves the closed state, the loop waits for the breaker instead.
    if (this.size >= this.#wanted || this.#breakerState() !== 'closed') this.#wake();
  }

  /** Resolves when the room may have grown past `room` (or the breaker lets probes through). */
  change(room: number): Promise<void> {
    // With the breaker open or probing and no claim in progress, only the breaker brings room.
    if (this.#breakerState() !== 'closed' && this.reserved === 0) return this.limiter.onRoom();

    this.#wanted = Math.max(room + 1, this.floor);

    return new Promise((resolve) => {
      const previous = this.#waiter;
      this.#waiter = () => {
        previous?.();
        resolve();
      };
    });
  }

  /** Resolves once no claimed event is outstanding. */
  settled(): Promise<void> {
    if (this.outstanding === 0) return Promise.resolve();

    return new Promise((resolve) => (this.#settled = resolve));
  }

  #wake(): void {
    const waiter = this.#waiter;
    this.#waiter = undefined;
    waiter?.();
  }

  #breakerState(): string {
    return this.limiter.breaker?.state ?? 'closed';
  }
}
