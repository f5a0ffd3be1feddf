import type { AckResult, DeadLetterItem, FailedAttempt, OutboxStore } from '../store/contract.js';

/** Acknowledgements of one claim token waiting to be written. */
interface Pending {
  complete: string[];
  fail: FailedAttempt[];
  dead: DeadLetterItem[];
  release: string[];
}

export type AckOperation = 'complete' | 'fail' | 'deadLetter' | 'release';

export interface AckBufferOptions {
  /** The longest wait before pending acknowledgements are written, in milliseconds. */
  flushMs: number;
  /** Pending acknowledgements that trigger a write at once. */
  maxPending: number;
  /** The first delay before a failed write is tried again, in milliseconds. */
  retryMinMs: number;
  /** The longest delay between two tries of a failed write, in milliseconds. */
  retryMaxMs: number;
  /** Called after each write the store answered. */
  onResult?: (operation: AckOperation, token: string, result: AckResult) => void;
  /** Called when a write failed; the acknowledgements stay pending and are tried again. */
  onError?: (operation: AckOperation, error: unknown) => void;
  /** Called after a write succeeded that follows a failed one. */
  onRecovered?: (operation: AckOperation) => void;
}

/**
 * Collects the outcomes of publishes and writes them to the store in batches: one `complete`
 * (or `fail`, `deadLetter`, `release`) call per claim token for many ids. A write happens when
 * `flushSoon()` is called (a batch ended), when `maxPending` outcomes wait, or `flushMs` after
 * the first one. Writes never overlap; a failed write keeps its items and is tried again with
 * backoff, so a database outage delays acknowledgements but loses none.
 */
export class AckBuffer {
  private pending = new Map<string, Pending>();
  private count = 0;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private again = false;
  private failing = false;
  private retryDelay: number;

  constructor(
    private readonly store: OutboxStore,
    private readonly options: AckBufferOptions,
  ) {
    this.retryDelay = options.retryMinMs;
  }

  /** Outcomes not yet written. */
  get size(): number {
    return this.count;
  }

  complete(token: string, id: string): void {
    this.entry(token).complete.push(id);
    this.added();
  }

  fail(token: string, attempt: FailedAttempt): void {
    this.entry(token).fail.push(attempt);
    this.added();
  }

  deadLetter(token: string, item: DeadLetterItem): void {
    this.entry(token).dead.push(item);
    this.added();
  }

  release(token: string, id: string): void {
    this.entry(token).release.push(id);
    this.added();
  }

  /** Writes what is pending as soon as the current write (if any) is done. */
  flushSoon(): void {
    if (this.count === 0 || this.failing) return;

    this.clearTimer();
    // A failure is reported through onError and retried by the timer.
    void this.flush().catch(() => undefined);
  }

  /**
   * Writes everything pending, including what arrives during the write. Resolves when nothing is
   * pending, or rejects after the store failed (the items stay pending).
   */
  async flush(): Promise<void> {
    if (this.running !== undefined) {
      this.again = true;

      return this.running;
    }

    this.clearTimer();
    this.running = this.drain().finally(() => {
      this.running = undefined;
    });

    return this.running;
  }

  /**
   * Tries to write everything until it succeeds or `deadline` (epoch ms) passes. Returns how many
   * outcomes are still pending (0 when all were written).
   */
  async flushUntil(deadline: number): Promise<number> {
    for (;;) {
      try {
        await this.flush();
        if (this.count === 0) return 0;
      } catch {
        // Tried again below, until the deadline.
      }

      const left = deadline - Date.now();
      if (left <= 0) return this.count;

      await new Promise((resolve) => setTimeout(resolve, Math.min(this.retryDelay, left)));
    }
  }

  /** Stops the timer; pending outcomes stay until the next `flush`. */
  close(): void {
    this.clearTimer();
  }

  private entry(token: string): Pending {
    let entry = this.pending.get(token);
    if (entry === undefined) {
      entry = { complete: [], fail: [], dead: [], release: [] };
      this.pending.set(token, entry);
    }

    return entry;
  }

  private added(): void {
    this.count += 1;
    if (this.failing) return;

    if (this.count >= this.options.maxPending) {
      this.flushSoon();
    } else if (this.timer === undefined && this.running === undefined) {
      this.timer = setTimeout(() => {
        this.timer = undefined;
        void this.flush().catch(() => undefined);
      }, this.options.flushMs);
      this.timer.unref();
    } else if (this.running !== undefined) {
      this.again = true;
    }
  }

  private clearTimer(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
  }

  private async drain(): Promise<void> {
    do {
      this.again = false;
      const batch = this.pending;
      this.pending = new Map();
      this.count = 0;
      try {
        await this.write(batch);
      } catch (error) {
        this.requeue(batch);
        this.scheduleRetry();
        throw error;
      }
    } while (this.again && this.count > 0);
  }

  /**
   * Writes one batch: per token one call per kind of acknowledgement. A token's releases go
   * before its fails, and its fails are sent only once the releases are written: when an event of
   * a run of a key failed and the run's later events are handed back in the same batch, the
   * failed event becomes claimable again only after the later ones are no longer leased (on
   * SQLite another process could otherwise claim it in between, while they are still leased). A
   * failed release keeps the fails pending too.
   */
  private async write(batch: Map<string, Pending>): Promise<void> {
    const calls: Promise<void>[] = [];
    for (const [token, entry] of batch) {
      if (entry.complete.length > 0) calls.push(this.send('complete', token, entry));

      const released = entry.release.length > 0 ? this.send('release', token, entry) : undefined;
      if (released !== undefined) calls.push(released);

      if (entry.fail.length > 0) {
        calls.push(
          released === undefined
            ? this.send('fail', token, entry)
            : released.then(() => this.send('fail', token, entry)),
        );
      }
      if (entry.dead.length > 0) calls.push(this.send('deadLetter', token, entry));
    }

    const results = await Promise.allSettled(calls);
    const failed = results.find((result) => result.status === 'rejected');
    if (failed !== undefined) {
      this.failing = true;
      throw failed.reason;
    }
  }

  /** Writes the token's pending acknowledgements of one kind; clears them once applied. */
  private async send(operation: AckOperation, token: string, entry: Pending): Promise<void> {
    let result: AckResult;
    try {
      result = await this.call(operation, token, entry);
    } catch (error) {
      this.options.onError?.(operation, error);
      throw error;
    }

    clear(entry, operation);
    this.options.onResult?.(operation, token, result);
    if (this.failing) {
      this.failing = false;
      this.retryDelay = this.options.retryMinMs;
      this.options.onRecovered?.(operation);
    }
  }

  private call(operation: AckOperation, token: string, entry: Pending): Promise<AckResult> {
    switch (operation) {
      case 'complete':
        return this.store.complete(token, entry.complete);
      case 'release':
        return this.store.release(token, entry.release);
      case 'fail':
        return this.store.fail(token, entry.fail);
      case 'deadLetter':
        return this.store.deadLetter(token, entry.dead);
    }
  }

  /** Puts back what a failed write did not apply (the applied parts were cleared). */
  private requeue(batch: Map<string, Pending>): void {
    for (const [token, entry] of batch) {
      const target = this.entry(token);
      target.complete.push(...entry.complete);
      target.fail.push(...entry.fail);
      target.dead.push(...entry.dead);
      target.release.push(...entry.release);
      this.count +=
        entry.complete.length + entry.fail.length + entry.dead.length + entry.release.length;
    }
  }

  private scheduleRetry(): void {
    this.clearTimer();
    const delay = this.retryDelay;
    this.retryDelay = Math.min(this.options.retryMaxMs, this.retryDelay * 2);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.flush().catch(() => undefined);
    }, delay);
    this.timer.unref();
  }
}

/** Drops the acknowledgements of one kind the store has applied. */
function clear(entry: Pending, operation: AckOperation): void {
  switch (operation) {
    case 'complete':
      entry.complete = [];
      break;
    case 'release':
      entry.release = [];
      break;
    case 'fail':
      entry.fail = [];
      break;
    case 'deadLetter':
      entry.dead = [];
      break;
  }
}
