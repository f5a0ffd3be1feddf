/**
 * The claim loops' sleeps: each ends at its time, at `stop()` (the signal), or, when wakeable,
 * at a wake-up (a store notification, an acknowledgement that may free a key). Wake-ups are
 * numbered, so that a loop that was busy when one arrived skips its next sleep.
 */
export class Waker {
  #generation = 0;
  readonly #sleepers = new Set<() => void>();

  constructor(private readonly signal: AbortSignal) {}

  /** The current wake-up number, to compare with later. */
  mark(): number {
    return this.#generation;
  }

  /** Whether a wake-up arrived since `mark`. */
  wokenSince(mark: number): boolean {
    return this.#generation !== mark;
  }

  /** Wakes every wakeable sleeper. */
  wake(): void {
    this.#generation += 1;
    for (const wakeup of [...this.#sleepers]) wakeup();
  }

  /**
   * Sleeps `ms`, or until the signal aborts. When `since` is given, a wake-up cuts it short,
   * and one that arrived after `since` skips it.
   */
  sleep(ms: number, since?: number): Promise<void> {
    if (this.signal.aborted || (since !== undefined && this.wokenSince(since))) {
      return Promise.resolve();
    }

    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.signal.removeEventListener('abort', done);
        this.#sleepers.delete(done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.signal.addEventListener('abort', done, { once: true });
      if (since !== undefined) this.#sleepers.add(done);
    });
  }

  /** Waits for `promise`, or until the signal aborts. */
  until(promise: Promise<unknown>): Promise<void> {
    if (this.signal.aborted) return Promise.resolve();

    return new Promise((resolve) => {
      const done = () => {
        this.signal.removeEventListener('abort', done);
        resolve();
      };
      this.signal.addEventListener('abort', done, { once: true });
      promise.then(done, done);
    });
  }
}
