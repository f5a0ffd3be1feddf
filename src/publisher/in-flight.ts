import type { PublishFailureKind } from './contract.js';
import { abortedError, toPublishError } from './errors.js';

/**
 * The publishes a publisher has sent and not yet seen settle. `track` ties one to its caller's
 * signal with a single listener and a single promise (this is on the hot path: hundreds run at
 * once); `drain` lets `close()` wait for the outstanding confirmations.
 */
export class InFlight {
  #count = 0;
  #waiters: Array<() => void> = [];

  get size(): number {
    return this.#count;
  }

  /**
   * Resolves with `work`, or rejects at once with a retryable error when `signal` aborts first.
   * When `work` fails, its error becomes a `PublishError` (see `toPublishError`) of the kind
   * `classify` gives, retryable without it. The work keeps counting as in flight until it
   * settles, even after an abort: the broker may still confirm it.
   */
  track<T>(
    work: Promise<T>,
    signal: AbortSignal,
    context: () => string,
    classify?: (error: unknown) => PublishFailureKind,
  ): Promise<T> {
    if (signal.aborted) {
      work.catch(() => undefined);

      return Promise.reject(abortedError(signal, context()));
    }

    this.#count += 1;

    return new Promise<T>((resolve, reject) => {
      const onAbort = () => reject(abortedError(signal, context()));
      signal.addEventListener('abort', onAbort, { once: true });
      work.then(
        (value) => {
          signal.removeEventListener('abort', onAbort);
          this.#settled();
          resolve(value);
        },
        (error: unknown) => {
          signal.removeEventListener('abort', onAbort);
          this.#settled();
          const kind = classify === undefined ? 'retryable' : classify(error);
          reject(toPublishError(error, context(), kind));
        },
      );
    });
  }

  /** Counts work that settles by itself (an HTTP request handles its own signal). */
  add<T>(work: Promise<T>): Promise<T> {
    this.#count += 1;
    const settled = () => this.#settled();
    work.then(settled, settled);

    return work;
  }

  #settled(): void {
    this.#count -= 1;
    if (this.#count > 0) return;

    const waiters = this.#waiters;
    this.#waiters = [];
    for (const wake of waiters) wake();
  }

  /** Waits until nothing is in flight, or `ms` passed. */
  async drain(ms: number): Promise<void> {
    if (this.#count === 0) return;

    let timer: NodeJS.Timeout | undefined;
    await new Promise<void>((resolve) => {
      this.#waiters.push(resolve);
      timer = setTimeout(resolve, ms);
    });
    clearTimeout(timer);
  }
}
