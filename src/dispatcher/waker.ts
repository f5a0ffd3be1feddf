/**
 * The loop's sleeps: each ends at its time, at `stop()` (the signal), or, when wakeable, at a
 * wake-up (a store notification, an acknowledgement that may unblock a key). A wake-up that
 * arrives while the loop is busy is remembered, so that the next sleep is skipped.
 */
export class Waker {
  #woken = false;
  #wakeup: (() => void) | undefined;

  constructor(private readonly signal: AbortSignal) {}

  /** Whether a wake-up arrived since the last `reset()`. */
  get woken(): boolean {
    return this.#woken;
  }

  reset(): void {
    this.#woken = false;
  }

  wake(): void {
    this.#woken = true;
    this.#wakeup?.();
  }

  /** Sleeps `ms`, or until the signal aborts; a wake-up cuts it short when `wakeable`. */
  sleep(ms: number, wakeable: boolean): Promise<void> {
    if (this.signal.aborted || (wakeable && this.#woken)) return Promise.resolve();

    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.signal.removeEventListener('abort', done);
        if (this.#wakeup === done) this.#wakeup = undefined;
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.signal.addEventListener('abort', done, { once: true });
      if (wakeable) this.#wakeup = done;
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
