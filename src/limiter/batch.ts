import { AbortedError, ShuttingDownError } from './errors.js';
import type { RunAllOptions, RunOptions } from './limiter-types.js';
import { PERMIT, RUNNING, Task, TaskExtra, WAITER } from './task.js';
import type { TaskContext } from './task.js';
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

const NONE = Symbol('none');
const CARRIED = WAITER | RUNNING | PERMIT;

interface Pulled {
  index: number;
  value: unknown;
}

/**
 * One runAll/runAllSettled call: a handful of worker loops (at most `limit`) pull items one at a
 * time, so nothing is read ahead of a free slot and nothing about an item is kept once its
 * result is stored. Each worker reuses one task node for all its items.
 */
class Batch {
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
    else void plainWorker(this);
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

/**
 * The worker for a synchronous source without keys, written with two callbacks made once
 * instead of an `await` per item (which allocates about twice as much). `step()` runs items
 * until one is pending, and the callbacks call it again when that one settles.
 */
class SyncWorker {
  readonly node = new Task(null);
  readonly extra = new TaskExtra();
  holding = false;
  sinceGrow = 0;
  skipped = 0;
  index = 0;
  finished = false;
  readonly onOk = (value: unknown): void => this.#settled(true, value);
  readonly onFail = (error: unknown): void => this.#settled(false, error);
  /** Called by the limiter, possibly deep inside its own work: resume on a microtask. */
  readonly onStart = (refusal: unknown): void => {
    this.refusal = refusal;
    queueMicrotask(this.onResume);
  };
  readonly onResume = (): void => this.#started(this.refusal);
  refusal: unknown = undefined;

  constructor(readonly batch: Batch) {
    this.node.flags = WAITER;
    this.node.x = this.extra;
    batch.hooks.enlist(this.node, true);
  }

  /** Pulls and runs items until one is pending (or none is left). */
  step(): void {
    const { batch, node } = this;
    const hooks = batch.hooks;
    try {
      for (;;) {
        let item: unknown;
        let key: string | undefined;
        if (this.hasAhead) {
          item = this.ahead;
          key = this.aheadKey;
          this.index = this.aheadIndex;
          this.hasAhead = false;
          this.ahead = undefined;
        } else {
          item = batch.pull();
          if (item === NONE) break;

          this.index = batch.nextIndex - 1;
          key = batch.keyOf === null ? undefined : batch.keyOf(item);
        }
        if (!this.holding) {
          this.extra.item = item;
          const begun = hooks.begin(node, key);
          if (begun === false) {
            // Wait for a slot: onStart resumes with the same item.
            node.resolve = this.onStart;
            this.pendingItem = item;

            return;
          }
          if (begun !== true) {
            if (!batch.record(this.index, false, begun) || begun instanceof ShuttingDownError) {
              break;
            }

            continue;
          }
          this.holding = true;
        }
        if (batch.stopped) break;

        if (this.#call(item)) return;
      }
    } catch (error) {
      batch.fail(error);
    }
    this.#finish();
  }

  pendingItem: unknown = undefined;
  /** With keys: the next item, pulled early to learn its key (see #after). */
  hasAhead = false;
  ahead: unknown = undefined;
  aheadKey: string | undefined = undefined;
  aheadIndex = 0;

  /** Runs one item; true if it is pending (a callback resumes), false if it settled at once. */
  #call(item: unknown): boolean {
    let pending: unknown;
    try {
      pending = this.batch.fn(item, this.node);
    } catch (error) {
      return !this.#after(false, error);
    }
    if (pending instanceof Promise) pending.then(this.onOk, this.onFail);
    else Promise.resolve(pending).then(this.onOk, this.onFail);

    return true;
  }

  #settled(ok: boolean, result: unknown): void {
    if (this.#after(ok, result)) this.step();
    else this.#finish();
  }

  #started(refusal: unknown): void {
    const { batch } = this;
    this.refusal = undefined;
    if (refusal !== undefined) {
      if (!batch.record(this.index, false, refusal) || refusal instanceof ShuttingDownError) {
        this.#finish();

        return;
      }
      this.step();

      return;
    }
    this.holding = true;
    const item = this.pendingItem;
    this.pendingItem = undefined;
    if (batch.stopped) {
      this.#finish();

      return;
    }
    try {
      if (this.#call(item)) return;
    } catch (error) {
      batch.fail(error);
      this.#finish();

      return;
    }
    this.step();
  }

  /** Counts an item's end and stores its result; false if the batch stopped. */
  #after(ok: boolean, result: unknown): boolean {
    const { batch, node, extra } = this;
    const hooks = batch.hooks;
    const index = this.index;
    if (batch.keyOf !== null) {
      // Per-key limits: look one item ahead, so that the slot can move to that item's key.
      const next = batch.pull();
      if (next === NONE) {
        hooks.end(node, ok, result);
        this.holding = false;
      } else {
        this.hasAhead = true;
        this.ahead = next;
        this.aheadIndex = batch.nextIndex - 1;
        this.aheadKey = batch.keyOf(next);
        this.holding = hooks.carryOnTo(node, ok, result, this.aheadKey);
      }
    } else if (
      ok &&
      hooks.gate.carry &&
      node.flags === CARRIED &&
      this.sinceGrow !== 15 &&
      extra.controller === undefined
    ) {
      this.skipped += 1;
    } else {
      this.holding = hooks.carryOn(node, ok, result, this.skipped);
      this.skipped = 0;
    }
    if (ok && !batch.settled && !batch.stopped) batch.results[index] = result;
    else if (!batch.record(index, ok, result)) return false;

    if (++this.sinceGrow === 16 || !this.holding) {
      this.sinceGrow = 0;
      batch.maybeGrow();
    }

    return true;
  }

  #finish(): void {
    if (this.finished) return;

    this.finished = true;
    const hooks = this.batch.hooks;
    if (this.skipped > 0) hooks.credit(this.skipped);
    this.skipped = 0;
    if (this.holding) hooks.end(this.node, true, undefined, false);
    this.holding = false;
    this.extra.item = undefined;
    hooks.enlist(this.node, false);
    this.batch.workerDone();
  }
}

async function plainWorker(batch: Batch): Promise<void> {
  const { hooks, fn } = batch;
  const node = new Task(null);
  node.flags = WAITER;
  const extra = new TaskExtra();
  node.x = extra;
  // Only a synchronous source may keep a slot between items: an async one may take a while.
  const sync = batch.asyncIterator === null;
  const array = batch.array;
  const results = batch.results;
  const plainResults = !batch.settled;
  const gate = hooks.gate;
  let holding = false;
  let sinceGrow = 0;
  let skipped = 0;
  hooks.enlist(node, true);
  try {
    for (;;) {
      let item: unknown;
      let index = batch.nextIndex;
      if (array !== null) {
        // The hot path, inlined: an array source.
        if (index >= array.length || batch.stopped) break;

        batch.nextIndex = index + 1;
        item = array[index];
      } else {
        item = batch.pull();
        index = batch.nextIndex - 1;
      }
      if (!sync && item !== NONE) {
        const pulled = (await item) as Pulled;
        item = pulled.value;
        index = pulled.index;
      }
      if (item === NONE) break;

      if (!holding) {
        extra.item = item;
        let refusal: unknown;
        const begun = hooks.begin(node, batch.keyOf === null ? undefined : batch.keyOf(item));
        if (begun === false) {
          refusal = await new Promise<unknown>((resolve) => (node.resolve = resolve));
        } else if (begun !== true) {
          refusal = begun;
        }
        if (refusal !== undefined) {
          if (!batch.record(index, false, refusal) || refusal instanceof ShuttingDownError) break;

          continue;
        }
      }
      holding = true;
      if (batch.stopped) break;

      let ok = true;
      let result: unknown;
      try {
        result = await fn(item, node);
      } catch (error) {
        ok = false;
        result = error;
      }
      if (sync) {
        // Through the gate while nothing else waits, asking the limiter once every 16 items
        // (for the counts and the timing samples).
        if (
          ok &&
          gate.carry &&
          node.flags === CARRIED &&
          sinceGrow !== 15 &&
          extra.controller === undefined
        ) {
          skipped += 1;
        } else {
          holding = hooks.carryOn(node, ok, result, skipped);
          skipped = 0;
        }
      } else {
        hooks.end(node, ok, result);
        holding = false;
      }
      if (ok && plainResults && !batch.stopped) results[index] = result;
      else if (!batch.record(index, ok, result)) break;

      if (++sinceGrow === 16 || !holding) {
        sinceGrow = 0;
        batch.maybeGrow();
      }
    }
  } catch (error) {
    batch.fail(error);
  } finally {
    if (skipped > 0) hooks.credit(skipped);
    if (holding) hooks.end(node, true, undefined, false);
    extra.item = undefined;
    hooks.enlist(node, false);
    batch.workerDone();
  }
}

async function routedWorker(batch: Batch): Promise<void> {
  const { hooks, fn } = batch;
  try {
    for (;;) {
      let item = batch.pull();
      let index = batch.nextIndex - 1;
      if (batch.asyncIterator !== null && item !== NONE) {
        const pulled = (await item) as Pulled;
        item = pulled.value;
        index = pulled.index;
      }
      if (item === NONE) break;

      const options: RunOptions = { ...batch.runOptions, item };
      if (batch.keyOf !== null) options.key = batch.keyOf(item);
      let ok = true;
      let result: unknown;
      try {
        result = await hooks.run((ctx) => fn(item, ctx), options);
      } catch (error) {
        ok = false;
        result = error;
      }
      if (!batch.record(index, ok, result) || result instanceof ShuttingDownError) break;

      batch.maybeGrow();
    }
  } catch (error) {
    batch.fail(error);
  } finally {
    batch.workerDone();
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
