import { EventEmitter } from 'node:events';
import { runBatch } from './batch.js';
import type { BatchHooks, ItemFn } from './batch.js';
import type { CircuitBreaker } from './breaker.js';
import { beginWaiter, carryOn, carryOnTo, creditSuccesses } from './carry.js';
import { admit, prepare, queueCall, updateGate } from './admission.js';
import { ShuttingDownError } from './errors.js';
import { drainLimiter, listenToBreaker } from './interrupts.js';
import { readHeap } from './heap.js';
import type {
  DrainResult,
  LimiterEvents,
  LimiterOptions,
  LimiterStats,
  RunAllOptions,
  RunOptions,
} from './limiter-types.js';
import { formatBytes } from './limiter-types.js';
import { limitChanged } from './outcomes.js';
import { captured, newPromise, rejected } from './promises.js';
import { finishTask } from './settlement.js';
import { keepShapes } from './shapes.js';
import { LimiterState } from './state.js';
import { newTask } from './task.js';
import type { TaskContext } from './task.js';
import { functionOption, integerOption, numberOption } from './validate.js';
import { whenIdle, whenRoom } from './waiters.js';

/**
 * Runs async tasks with at most `limit` at once: exact, leak-free, with a bounded queue,
 * per-key limits served round robin, an optional circuit breaker that stops admission while
 * open, opt-in adaptive concurrency, timeouts that keep the slot until the task really ends,
 * and a `drain()` that hands back what never started.
 */
export class ConcurrencyLimiter extends EventEmitter<LimiterEvents> {
  readonly #s: LimiterState;
  readonly #hooks: BatchHooks;

  static {
    // A limiter with every option, kept with a batch of its own for the life of the process
    // (see shapes.ts): it never runs a task.
    const keeper = new ConcurrencyLimiter({
      concurrency: 1,
      perKey: { concurrency: 1 },
      breaker: {},
      adaptive: {},
      timeout: 1,
    });
    keepShapes(keeper.#s, keeper.#hooks);
  }

  constructor(options: number | LimiterOptions) {
    super();
    const s = new LimiterState(options, this);
    this.#s = s;
    this.#hooks = {
      begin: (node, key) => beginWaiter(s, node, key),
      end: (node, ok, result, count) => void finishTask(s, node, ok, result, count),
      carryOn: (node, ok, result, skipped) => carryOn(s, node, ok, result, skipped),
      carryOnTo: (node, ok, result, key) => carryOnTo(s, node, ok, result, key),
      credit: (skipped) => creditSuccesses(s, skipped),
      gate: s.gate,
      limit: () => s.current,
      closed: () => s.closed,
      enlist: (node, on) => {
        if (on) s.workerNodes.add(node);
        else s.workerNodes.delete(node);
      },
      timeout: () => s.timeout,
      run: (fn, runOptions) => this.run(fn, runOptions),
    };
    updateGate(s);
    listenToBreaker(s);
  }

  /** Tasks running, including timed-out ones that still hold their slot. */
  get active(): number {
    return this.#s.active;
  }

  /** Tasks waiting for a slot (not counting those parked outside a full queue). */
  get queued(): number {
    return this.#s.queued;
  }

  /** The current limit (the adaptive limit moves it). */
  get limit(): number {
    return this.#s.current;
  }

  /**
   * How many more tasks would start right now: `limit - active - queued` (never below 0), 0 while
   * the breaker is open or the limiter drains, at most the probes left while half-open.
   */
  get available(): number {
    return this.#s.available;
  }

  /** True while the breaker is open. */
  get isBroken(): boolean {
    return this.#s.breaker?.isBroken ?? false;
  }

  get breaker(): CircuitBreaker | undefined {
    return this.#s.breaker ?? undefined;
  }

  /** True once `drain()` was called: new tasks are refused. */
  get closed(): boolean {
    return this.#s.closed;
  }

  /** Sets the limit (within the adaptive min/max when adaptive). */
  setLimit(limit: number): void {
    integerOption('limit', limit, 1);
    const s = this.#s;
    const previous = s.current;
    if (s.adaptive !== null) s.adaptive.set(limit);
    s.current = s.adaptive?.limit ?? limit;
    limitChanged(s, previous, 'manual');
  }

  /** Runs `fn` when a slot is free; resolves or rejects with its result. */
  run<T>(fn: (ctx: TaskContext) => T | PromiseLike<T>, options?: RunOptions): Promise<T> {
    const s = this.#s;
    if (typeof fn !== 'function') functionOption('fn', fn);
    if (s.closed) return rejected(new ShuttingDownError());

    const promise = newPromise<T>();
    const resolve = captured;
    if (queueCall(s, fn, resolve, options)) return promise;

    const task = newTask(fn);
    task.resolve = resolve;
    if (options !== undefined || s.timeout > 0) {
      if (!prepare(s, task, options ?? {})) return promise;
    }
    admit(s, task, options?.key);

    return promise;
  }

  /**
   * Runs `fn` over `items` (an array, iterable or async iterable), pulling items only as slots
   * free up, with at most `limit` in flight. Resolves to the results in input order; rejects on
   * the first failure and then pulls nothing more.
   */
  runAll<I, T>(
    items: Iterable<I> | AsyncIterable<I>,
    fn: (item: I, ctx: TaskContext) => T | PromiseLike<T>,
    options: RunAllOptions<I> = {},
  ): Promise<T[]> {
    return runBatch(
      this.#hooks,
      items,
      fn as ItemFn,
      options as RunAllOptions<unknown>,
      false,
    ) as Promise<T[]>;
  }

  /** Like `runAll`, but never rejects for a task: one `PromiseSettledResult` per item, in order. */
  runAllSettled<I, T>(
    items: Iterable<I> | AsyncIterable<I>,
    fn: (item: I, ctx: TaskContext) => T | PromiseLike<T>,
    options: RunAllOptions<I> = {},
  ): Promise<PromiseSettledResult<T>[]> {
    return runBatch(
      this.#hooks,
      items,
      fn as ItemFn,
      options as RunAllOptions<unknown>,
      true,
    ) as Promise<PromiseSettledResult<T>[]>;
  }

  /** Resolves when nothing runs and nothing waits. */
  onIdle(): Promise<void> {
    return whenIdle(this.#s);
  }

  /**
   * Resolves when `available > 0`: await it before `run()` for backpressure. Also resolves once
   * the limiter drains (a `run()` then rejects with ShuttingDownError), so a loop never hangs.
   */
  onRoom(): Promise<void> {
    return whenRoom(this.#s);
  }

  /**
   * Stops intake, hands back every task that has not started (their `run()` rejects with
   * `ShuttingDownError`), waits for the running ones and, `timeout` ms after the call, tells
   * those still running to stop through their signals (their `run()` rejects with an
   * `AbortedError` at once; they keep their slot until they end). Idempotent.
   */
  drain(options: { timeout?: number } = {}): Promise<DrainResult> {
    const s = this.#s;
    if (s.drainPromise !== null) return s.drainPromise;

    const timeout =
      options.timeout === undefined ? undefined : numberOption('timeout', options.timeout, 0);

    return drainLimiter(s, timeout);
  }

  getMemoryStats(): LimiterStats {
    const s = this.#s;
    const heap = readHeap();

    return {
      activePromises: s.active,
      queuedPromises: s.queued,
      waitingForRoom: s.parked.size,
      totalProcessed: s.processed,
      totalFailed: s.failed,
      failureRate: s.processed === 0 ? 0 : s.failed / s.processed,
      timedOut: s.timedOut,
      totalTimedOut: s.totalTimedOut,
      totalRejected: s.rejected,
      totalAborted: s.aborted,
      limit: s.current,
      keys: s.keys?.size ?? 0,
      breaker: s.breaker?.state ?? 'none',
      heapUsed: formatBytes(heap.used),
      heapTotal: formatBytes(heap.total),
      heapUsedBytes: heap.used,
      heapTotalBytes: heap.total,
      queueWaitMs: s.queueWait.snapshot(),
      runTimeMs: s.runTime.snapshot(),
    };
  }
}
