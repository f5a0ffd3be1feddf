import { AbortedError, ShuttingDownError } from './errors.js';
import type { RunAllOptions, RunOptions } from './limiter-types.js';
import { asyncWorker, NONE, routedWorker, SyncWorker } from './batch-workers.js';
import type { Task, TaskContext } from './task.js';
import { functionOption, numberOption, objectOption } from './validate.js';

/** What a batch needs from its limiter (kept private to the package). */
export interface BatchHooks {
  /** Takes a slot for `node`: true = started, false = queued (await its resolve), Error = no. */
  begin(node: Task, key: string | undefined): boolean | Error;
  /** The node's task ended; `count` false releases the slot without counting an outcome. */
  end(node: Task, ok: boolean, result: unknown, count?: boolean): void;
  /**
   * Like `end`, but the node may keep its slot for its next item: true if it did. `skipped`
   * items before this one carried on through the gate without asking.
   */
  carryOn(node: Task, ok: boolean, result: unknown, skipped: number): boolean;
  /**
   * Like `carryOn`, for per-key limits: the node keeps its slot and moves to the lane of `key`
   * (its next item's) if that lane may start a task now. True if it did.
   */
  carryOnTo(node: Task, ok: boolean, result: unknown, key: string | undefined): boolean;
  /** Counts items that carried on through the gate as processed. */
  credit(skipped: number): void;
  /** Open while a worker may keep its slot after a success without asking (see carryOn). */
  readonly gate: { readonly carry: boolean };
  limit(): number;
  closed(): boolean;
  /** Registers (true) or forgets (false) a worker's node, so a drain deadline can reach it. */
  enlist(node: Task, on: boolean): void;
  timeout(): number;
  run(fn: (ctx: TaskContext) => unknown, options: RunOptions): Promise<unknown>;
}

export type ItemFn = (item: unknown, ctx: TaskContext) => unknown;

export interface Pulled {
  index: number;
  value: unknown;
}

/**
 * One runAll/runAllSettled call: a handful of worker loops (at most `limit`) pull items one at a
 * time, so nothing is read ahead of a free slot and nothing about an item is kept once its
 * result is stored. Each worker reuses one task node for all its items.
 */
export class Batch {
  readonly results: unknown[];
  readonly array: ArrayLike<unknown> | null = null;
  readonly iterator: Iterator<unknown> | null = null;
  readonly asyncIterator: AsyncIterator<unknown> | null = null;
  nextIndex = 0;
  /** Items in the input, once known. */
  count = Infinity;
  exhausted = false;
  stopped = false;
  workers = 0;
  resolve!: (results: unknown[]) => void;
  reject!: (error: unknown) => void;
  signal: AbortSignal | undefined;
  onAbort: (() => void) | undefined;

  constructor(
    items: Iterable<unknown> | AsyncIterable<unknown>,
    readonly hooks: BatchHooks,
    readonly fn: ItemFn,
    readonly keyOf: ((item: unknown) => string | undefined) | null,
    readonly settled: boolean,
    readonly runOptions: RunOptions | null,
  ) {
    if (Array.isArray(items)) {
      this.array = items;
      this.count = items.length;
      this.results = new Array<unknown>(items.length);
    } else {
      this.results = [];
      if (typeof (items as AsyncIterable<unknown>)[Symbol.asyncIterator] === 'function') {
        this.asyncIterator = (items as AsyncIterable<unknown>)[Symbol.asyncIterator]();
      } else if (typeof (items as Iterable<unknown>)[Symbol.iterator] === 'function') {
        this.iterator = (items as Iterable<unknown>)[Symbol.iterator]();
      } else {
        throw new TypeError('items must be an array, an iterable or an async iterable');
      }
    }
  }

  spawn(): void {
    this.workers += 1;
    if (this.runOptions !== null) void routedWorker(this);
    else if (this.asyncIterator === null) new SyncWorker(this).step();
    else void asyncWorker(this);
  }

  /** The next item, NONE when there is none, or a promise of either (async iterables). */
  pull(): unknown {
    if (this.stopped || this.exhausted) return NONE;

    const index = this.nextIndex;
    if (this.array !== null) {
      if (index >= this.array.length) return NONE;

      this.nextIndex = index + 1;

      return this.array[index];
    }
    if (this.iterator !== null) {
      const step = this.iterator.next();
      if (step.done === true) {
        this.exhausted = true;
        this.count = index;

        return NONE;
      }
      this.nextIndex = index + 1;

      return step.value;
    }

    return this.#pullAsync(index);
  }

  async #pullAsync(index: number): Promise<Pulled> {
    this.nextIndex = index + 1;
    const step = await (this.asyncIterator as AsyncIterator<unknown>).next();
    if (step.done === true) {
      this.exhausted = true;
      this.count = Math.min(this.count, index);

      return { index, value: NONE };
    }

    return { index, value: this.stopped ? NONE : step.value };
  }

  /** Stores a result; false if the batch stopped (first failure of runAll, or earlier stop). */
  record(index: number, ok: boolean, result: unknown): boolean {
    if (this.stopped) return false;
    if (this.settled) {
      this.results[index] = ok
        ? { status: 'fulfilled', value: result }
        : { status: 'rejected', reason: result };

      return true;
    }
    if (ok) {
      this.results[index] = result;

      return true;
    }
    this.fail(result);

    return false;
  }

  fail(error: unknown): void {
    if (this.stopped) return;

    this.stopped = true;
    this.#unlisten();
    this.reject(error);
  }

  /** A worker exits; the last one settles the batch and closes an unfinished iterator. */
  workerDone(): void {
    this.workers -= 1;
    if (this.workers > 0) return;

    if (this.stopped) {
      if (!this.exhausted) this.#closeIterator();

      return;
    }
    this.stopped = true;
    this.#unlisten();
    const length = Math.min(this.count, this.nextIndex);
    if (this.results.length !== length) this.results.length = length;
    this.resolve(this.results);
  }

  /** Adds workers if the limit was raised (one per item left, at most). */
  maybeGrow(): void {
    const limit = this.hooks.limit();
    while (this.workers < limit && !this.stopped && !this.exhausted) {
      if (this.array !== null && this.nextIndex + this.workers >= this.array.length) return;

      this.spawn();
    }
  }

  #unlisten(): void {
    if (this.onAbort !== undefined) this.signal?.removeEventListener('abort', this.onAbort);
    this.onAbort = undefined;
  }

  #closeIterator(): void {
    try {
      const closing = (this.iterator ?? this.asyncIterator)?.return?.();
      if (closing instanceof Promise) closing.catch(() => undefined);
    } catch {
      // The caller's iterator failed to close; the batch has settled already.
    }
  }
}

/** runAll / runAllSettled. */
export function runBatch(
  hooks: BatchHooks,
  items: Iterable<unknown> | AsyncIterable<unknown>,
  fn: ItemFn,
  options: RunAllOptions<unknown>,
  settled: boolean,
): Promise<unknown[]> {
  functionOption('fn', fn);
  objectOption('options', options);
  if (options.key !== undefined) functionOption('options.key', options.key);
  const timeout = numberOption('options.timeout', options.timeout ?? hooks.timeout(), 0);
  if (hooks.closed()) return Promise.reject(new ShuttingDownError());

  const signal = options.signal;
  if (signal?.aborted === true) {
    return Promise.reject(
      new AbortedError('runAll aborted before it started', { cause: signal.reason }),
    );
  }
  const routed = timeout > 0 || signal !== undefined;
  const runOptions: RunOptions | null = routed ? { timeout, signal } : null;
  const batch = new Batch(items, hooks, fn, options.key ?? null, settled, runOptions);
  const promise = new Promise<unknown[]>((resolve, reject) => {
    batch.resolve = resolve;
    batch.reject = reject;
  });
  if (signal !== undefined) {
    batch.signal = signal;
    batch.onAbort = () => batch.fail(new AbortedError('runAll aborted', { cause: signal.reason }));
    signal.addEventListener('abort', batch.onAbort, { once: true });
  }
  const workers = Math.min(hooks.limit(), batch.count);
  if (workers === 0) {
    batch.workers = 1;
    batch.workerDone();
  }
  for (let spawned = 0; spawned < workers; spawned += 1) batch.spawn();

  return promise;
}
