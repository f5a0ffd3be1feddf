import { ShuttingDownError } from './errors.js';
import type { Batch, Pulled } from './batch.js';
import type { RunOptions } from './limiter-types.js';
import { PERMIT, RUNNING, TaskExtra, WAITER, newWorkerNode, signalOf } from './task.js';
import type { TaskContext } from './task.js';

/** What `Batch.pull()` returns when there is no item (left). */
export const NONE = Symbol('none');

/** The flags of a worker node that holds a slot and may pass the gate. */
const CARRIED = WAITER | RUNNING | PERMIT;

/**
 * The worker for a synchronous source without keys, written with two callbacks made once
 * instead of an `await` per item (which allocates about twice as much). `step()` runs items
 * until one is pending, and the callbacks call it again when that one settles.
 */
export class SyncWorker implements TaskContext {
  readonly node = newWorkerNode();
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

  /** The `ctx` of the item it runs: the signal of its node. */
  get signal(): AbortSignal {
    return signalOf(this.node);
  }

  constructor(readonly batch: Batch) {
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
      pending = this.batch.fn(item, this);
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

/** The worker for an async iterable: one awaited pull and one awaited item at a time. */
export async function asyncWorker(batch: Batch): Promise<void> {
  const { hooks, fn } = batch;
  const node = newWorkerNode();
  const extra = new TaskExtra();
  node.x = extra;
  const ctx: TaskContext = {
    get signal() {
      return signalOf(node);
    },
  };
  let holding = false;
  hooks.enlist(node, true);
  try {
    for (;;) {
      const next = batch.pull();
      if (next === NONE) break;

      const { index, value: item } = (await next) as Pulled;
      if (item === NONE) break;

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
      holding = true;
      if (batch.stopped) break;

      let ok = true;
      let result: unknown;
      try {
        result = await fn(item, ctx);
      } catch (error) {
        ok = false;
        result = error;
      }
      // The slot goes back between items: the next pull may take a while.
      hooks.end(node, ok, result);
      holding = false;
      if (!batch.record(index, ok, result)) break;

      batch.maybeGrow();
    }
  } catch (error) {
    batch.fail(error);
  } finally {
    if (holding) hooks.end(node, true, undefined, false);
    extra.item = undefined;
    hooks.enlist(node, false);
    batch.workerDone();
  }
}

/** The worker for batches with a timeout or a signal: each item goes through `run()`. */
export async function routedWorker(batch: Batch): Promise<void> {
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
