/**
 * A small in-process counting semaphore with abortable waiters, served in arrival order. The
 * coordination parts use it as the local limit while Redis is unreachable.
 */
export class LocalSemaphore {
  #active = 0;
  readonly #waiters: Array<{ resolve: () => void; reject: (error: unknown) => void }> = [];

  constructor(readonly limit: number) {}

  /** Permits held now. */
  get active(): number {
    return this.#active;
  }

  /** Callers waiting for a permit. */
  get waiting(): number {
    return this.#waiters.length;
  }

  /** Resolves once a permit is held; rejects with the signal's reason if it aborts first. */
  acquire(signal?: AbortSignal): Promise<void> {
    signal?.throwIfAborted();
    if (this.#active < this.limit) {
      this.#active += 1;

      return Promise.resolve();
    }

    return new Promise<void>((resolve, reject) => {
      const waiter = {
        resolve: () => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        },
        reject,
      };
      const onAbort = (): void => {
        const index = this.#waiters.indexOf(waiter);
        if (index >= 0) {
          this.#waiters.splice(index, 1);
        }

        reject(signal?.reason);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.#waiters.push(waiter);
    });
  }

  /** Gives a permit back, handing it to the oldest waiter if there is one. */
  release(): void {
    const next = this.#waiters.shift();
    if (next) {
      next.resolve();

      return;
    }

    this.#active = Math.max(0, this.#active - 1);
  }
}
