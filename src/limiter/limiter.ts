import { EventEmitter } from 'node:events';
import { AdaptiveLimit } from './adaptive.js';
import type { LimitChangeReason } from './adaptive.js';
import { runBatch } from './batch.js';
import type { BatchHooks, ItemFn } from './batch.js';
import { CircuitBreaker } from './breaker.js';
import type { BreakerEvents } from './breaker-types.js';
import { systemClock } from './clock.js';
import type { Clock } from './clock.js';
import { Deadlines } from './deadlines.js';
import { AbortedError, QueueFullError, ShuttingDownError, TaskTimeoutError } from './errors.js';
import { Histogram } from './histogram.js';
import { KeyedQueue } from './keyed-queue.js';
import type { KeyState } from './keyed-queue.js';
import { readHeap } from './heap.js';
import type {
  DrainResult,
  LimiterEvents,
  LimiterOptions,
  LimiterStats,
  OverflowPolicy,
  RunAllOptions,
  RunOptions,
} from './limiter-types.js';
import { formatBytes } from './limiter-types.js';
import { defaultClassify } from './outcome.js';
import type { Classifier, Outcome } from './outcome.js';
import {
  DEADLINE,
  PARKED,
  PERMIT,
  PROBE,
  QUEUED,
  RECORDED,
  RUNNING,
  SAMPLED,
  SETTLED,
  TaskExtra,
  TaskList,
  TIMED,
  TIMED_OUT,
  WAITER,
  newTask,
} from './task.js';
import type { Stamp, Task, TaskContext } from './task.js';
import {
  choiceOption,
  functionOption,
  integerOption,
  numberOption,
  objectOption,
} from './validate.js';

// `new Promise(captureResolve)` hands its resolve function over without a closure per task.
let captured: ((value: unknown) => void) | null = null;
function captureResolve(resolve: (value: unknown) => void): void {
  captured = resolve;
}

let refusal: unknown;
function catchRefusal(error: unknown): void {
  refusal = error;
}

function rejected(error: unknown): Promise<never> {
  return Promise.reject(error);
}

/** Settles a task's caller: a run() promise gets a rejection, a runAll worker the error itself. */
function refuse(task: Task, error: unknown): void {
  const resolve = task.resolve;
  task.resolve = null;
  if (resolve === null) return;

  resolve((task.flags & WAITER) !== 0 ? error : rejected(error));
}

let hooksFor: (limiter: ConcurrencyLimiter) => BatchHooks;

function noop(): void {}

/** One slot's loop of run() tasks (see ConcurrencyLimiter.#runner). */
interface Runner {
  task: Task | null;
  started: number;
  ok: (value: unknown) => void;
  fail: (error: unknown) => void;
}

/** Calls the runner's task and wires its settlement to the runner, always asynchronously. */
function launch(runner: Runner): void {
  const task = runner.task as Task;
  let pending: unknown;
  try {
    pending = (task.fn as (ctx: TaskContext) => unknown)(task);
  } catch (error) {
    // Settled on a later microtask, so a synchronous throw never recurses into the next task.
    rejected(error).then(undefined, runner.fail);

    return;
  }
  if (pending instanceof Promise) pending.then(runner.ok, runner.fail);
  else Promise.resolve(pending).then(runner.ok, runner.fail);
}

/**
 * Runs async tasks with at most `limit` at once: exact, leak-free, with a bounded queue,
 * per-key limits served round robin, an optional circuit breaker that stops admission while
 * open, opt-in adaptive concurrency, timeouts that keep the slot until the task really ends,
 * and a `drain()` that hands back what never started.
 */
export class ConcurrencyLimiter extends EventEmitter<LimiterEvents> {
  static {
    hooksFor = (limiter) => ({
      begin: (node, key) => limiter.#beginWaiter(node, key),
      end: (node, ok, result, count) => limiter.#finish(node, ok, result, count),
      carryOn: (node, ok, result, skipped) => limiter.#carryOn(node, ok, result, skipped),
      carryOnTo: (node, ok, result, key) => limiter.#carryOnTo(node, ok, result, key),
      credit: (skipped) => limiter.#credit(skipped),
      gate: limiter.#gate,
      limit: () => limiter.#current,
      closed: () => limiter.#closed,
      enlist: (node, on) => {
        if (on) limiter.#workerNodes.add(node);
        else limiter.#workerNodes.delete(node);
      },
      timeout: () => limiter.#timeout,
      run: (fn, options) => limiter.run(fn, options),
    });
  }

  #current: number;
  readonly #adaptive: AdaptiveLimit | null;
  readonly #maxQueued: number;
  readonly #overflow: OverflowPolicy;
  readonly #keys: KeyedQueue | null;
  readonly #timeout: number;
  readonly #breaker: CircuitBreaker | null;
  readonly #rejectWhileOpen: boolean;
  readonly #classify: Classifier;
  readonly #clock: Clock;
  /** Time one task in this many; adapts between 1 and #maxSampleEvery to the run times. */
  #sampleEvery = 1;
  readonly #maxSampleEvery: number;
  /** No keys, no adaptive limit: runAll workers may pass the gate (see #updateGate). */
  readonly #plain: boolean;
  #sampleCountdown = 1;

  readonly #queue = new TaskList();
  readonly #parked = new TaskList();
  /**
   * Running run() tasks, but those waiting for a shared deadline (in #deadlines). runAll
   * workers' nodes are in #workerNodes instead.
   */
  readonly #running = new TaskList();
  readonly #deadlines: Deadlines;
  readonly #workerNodes = new Set<Task>();
  #active = 0;
  #queued = 0;
  #closed = false;
  #drain: Promise<DrainResult> | null = null;
  #idleWaiters: Array<() => void> | null = null;
  #roomWaiters: Array<() => void> | null = null;
  readonly #hooks: BatchHooks;
  /** Whether a runAll worker may keep its slot between items without asking (see #carryOn). */
  readonly #gate = { carry: false };
  /** The queue time of tasks queued in the current synchronous burst (one clock read each). */
  #stamp: Stamp | null = null;
  /** The start time (or -1) of the task #takeOver last started. */
  #handOffStarted = -1;

  #processed = 0;
  #failed = 0;
  #timedOut = 0;
  #totalTimedOut = 0;
  #rejected = 0;
  #aborted = 0;
  readonly #queueWait = new Histogram();
  readonly #runTime = new Histogram();

  constructor(options: number | LimiterOptions) {
    super();
    const config: LimiterOptions = typeof options === 'number' ? { concurrency: options } : options;
    objectOption('options', config);
    const concurrency = integerOption('concurrency', config.concurrency, 1);
    this.#maxQueued = integerOption('maxQueued', config.maxQueued ?? Infinity, 0, true);
    this.#overflow = choiceOption('overflow', config.overflow ?? 'wait', [
      'wait',
      'reject',
      'drop-oldest',
    ]);
    this.#keys = null;
    if (config.perKey !== undefined) {
      objectOption('perKey', config.perKey);
      this.#keys = new KeyedQueue(
        integerOption('perKey.concurrency', config.perKey.concurrency, 1),
        integerOption('perKey.maxKeys', config.perKey.maxKeys ?? 10_000, 1),
      );
    }
    this.#timeout = numberOption('timeout', config.timeout ?? 0, 0);
    if (config.clock !== undefined) objectOption('clock', config.clock);
    this.#clock = config.clock ?? systemClock;
    this.#deadlines = new Deadlines(this.#clock, this.#timeout, (task, ms) => {
      task.flags &= ~DEADLINE;
      this.#running.push(task);
      this.#onTimeout(task, ms);
    });
    this.#breaker = null;
    if (config.breaker instanceof CircuitBreaker) this.#breaker = config.breaker;
    else if (config.breaker !== undefined && config.breaker !== false) {
      this.#breaker = new CircuitBreaker({ clock: this.#clock, ...config.breaker });
    }
    this.#rejectWhileOpen =
      choiceOption('whileOpen', config.whileOpen ?? 'wait', ['wait', 'reject']) === 'reject';
    if (config.classify !== undefined) functionOption('classify', config.classify);
    this.#classify = config.classify ?? defaultClassify;
    this.#maxSampleEvery = integerOption('sampleEvery', config.sampleEvery ?? 256, 1);
    this.#adaptive = null;
    if (config.adaptive !== undefined && config.adaptive !== false) {
      this.#adaptive = new AdaptiveLimit(concurrency, config.adaptive);
    }
    this.#current = this.#adaptive?.limit ?? concurrency;
    this.#hooks = hooksFor(this);
    this.#plain = this.#keys === null && this.#adaptive === null;
    this.#updateGate();
    if (this.#breaker !== null) {
      this.#breaker.on('circuit-breaker:opened', this.#onOpened);
      this.#breaker.on('circuit-breaker:half-open', this.#onHalfOpen);
      this.#breaker.on('circuit-breaker:closed', this.#onClosed);
    }
  }

  /** Tasks running, including timed-out ones that still hold their slot. */
  get active(): number {
    return this.#active;
  }

  /** Tasks waiting for a slot (not counting those parked outside a full queue). */
  get queued(): number {
    return this.#queued;
  }

  /** The current limit (the adaptive limit moves it). */
  get limit(): number {
    return this.#current;
  }

  /**
   * How many more tasks would start right now: `limit - active - queued` (never below 0), 0 while
   * the breaker is open or the limiter drains, at most the probes left while half-open.
   */
  get available(): number {
    if (this.#closed) return 0;

    const free = Math.max(0, this.#current - this.#active - this.#queued - this.#parked.size);

    return this.#breaker === null ? free : Math.min(free, this.#breaker.probesAvailable);
  }

  /** True while the breaker is open. */
  get isBroken(): boolean {
    return this.#breaker?.isBroken ?? false;
  }

  get breaker(): CircuitBreaker | undefined {
    return this.#breaker ?? undefined;
  }

  /** True once `drain()` was called: new tasks are refused. */
  get closed(): boolean {
    return this.#closed;
  }

  /** Sets the limit (within the adaptive min/max when adaptive). */
  setLimit(limit: number): void {
    integerOption('limit', limit, 1);
    const previous = this.#current;
    if (this.#adaptive !== null) this.#adaptive.set(limit);
    this.#current = this.#adaptive?.limit ?? limit;
    this.#limitChanged(previous, 'manual');
  }

  /** Runs `fn` when a slot is free; resolves or rejects with its result. */
  run<T>(fn: (ctx: TaskContext) => T | PromiseLike<T>, options?: RunOptions): Promise<T> {
    if (typeof fn !== 'function') functionOption('fn', fn);
    if (this.#closed) return rejected(new ShuttingDownError());

    const task = newTask(fn);
    const promise = new Promise(captureResolve) as Promise<T>;
    task.resolve = captured;
    if (options !== undefined || this.#timeout > 0) {
      if (!this.#prepare(task, options ?? {})) return promise;
    }
    this.#admit(task, options?.key);

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
    if (this.#isIdle()) return Promise.resolve();

    return new Promise((resolve) => (this.#idleWaiters ??= []).push(resolve));
  }

  /**
   * Resolves when `available > 0`: await it before `run()` for backpressure. Also resolves once
   * the limiter drains (a `run()` then rejects with ShuttingDownError), so a loop never hangs.
   */
  onRoom(): Promise<void> {
    if (this.available > 0 || this.#closed) return Promise.resolve();

    return new Promise((resolve) => (this.#roomWaiters ??= []).push(resolve));
  }

  /**
   * Stops intake, hands back every task that has not started (their `run()` rejects with
   * `ShuttingDownError`), waits for the running ones and, `timeout` ms after the call, tells
   * those still running to stop through their signals (their `run()` rejects with an
   * `AbortedError` at once; they keep their slot until they end). Idempotent.
   */
  drain(options: { timeout?: number } = {}): Promise<DrainResult> {
    if (this.#drain !== null) return this.#drain;

    const timeout =
      options.timeout === undefined ? undefined : numberOption('timeout', options.timeout, 0);
    this.#closed = true;
    this.#gate.carry = false;
    const unstarted: unknown[] = [];
    const handBack = (task: Task): void => {
      this.#unlink(task);
      if (task.x !== null && task.x.item !== undefined) unstarted.push(task.x.item);
      this.#detach(task);
      refuse(task, new ShuttingDownError());
    };
    while (this.#parked.head !== null) handBack(this.#parked.head);
    if (this.#keys === null) {
      while (this.#queue.head !== null) handBack(this.#queue.head);
    } else {
      for (const lane of [...this.#keys.lanes()]) {
        while (lane.list.head !== null) handBack(lane.list.head);
      }
    }
    const processedBefore = this.#processed;
    this.#drain = new Promise<DrainResult>((resolve) => {
      let timer: unknown;
      const done = (aborted: number): void => {
        if (timer !== undefined) this.#clock.clearTimeout(timer);
        this.#detachBreaker();
        resolve({ unstarted, aborted, completed: this.#processed - processedBefore });
      };
      void this.onIdle().then(() => done(0));
      if (timeout === undefined) return;

      timer = this.#clock.setTimeout(() => {
        timer = undefined;
        if (this.#active === 0) return;

        done(this.#abortRunning());
      }, timeout);
    });
    this.#notify();

    return this.#drain;
  }

  getMemoryStats(): LimiterStats {
    const heap = readHeap();

    return {
      activePromises: this.#active,
      queuedPromises: this.#queued,
      waitingForRoom: this.#parked.size,
      totalProcessed: this.#processed,
      totalFailed: this.#failed,
      failureRate: this.#processed === 0 ? 0 : this.#failed / this.#processed,
      timedOut: this.#timedOut,
      totalTimedOut: this.#totalTimedOut,
      totalRejected: this.#rejected,
      totalAborted: this.#aborted,
      limit: this.#current,
      keys: this.#keys?.size ?? 0,
      breaker: this.#breaker?.state ?? 'none',
      heapUsed: formatBytes(heap.used),
      heapTotal: formatBytes(heap.total),
      heapUsedBytes: heap.used,
      heapTotalBytes: heap.total,
      queueWaitMs: this.#queueWait.snapshot(),
      runTimeMs: this.#runTime.snapshot(),
    };
  }

  // ---- admission -------------------------------------------------------------------------

  /** Applies run() options; false if the task was settled already (aborted signal). */
  #prepare(task: Task, options: RunOptions): boolean {
    let timeout = options.timeout;
    if (timeout === undefined || timeout === this.#timeout) {
      // The limiter's own timeout: a flag, no per-task state.
      if (this.#timeout > 0) task.flags |= TIMED;
      timeout = 0;
    } else {
      timeout = numberOption('timeout', timeout, 0);
    }
    const signal = options.signal;
    if (timeout === 0 && signal === undefined && options.item === undefined) return true;

    const extra = new TaskExtra();
    task.x = extra;
    extra.item = options.item;
    extra.timeoutMs = timeout;
    if (signal === undefined) return true;

    if (signal.aborted) {
      this.#aborted += 1;
      refuse(task, new AbortedError('task aborted before it started', { cause: signal.reason }));

      return false;
    }
    extra.signal = signal;
    extra.onAbort = () => this.#onAbort(task);
    signal.addEventListener('abort', extra.onAbort, { once: true });

    return true;
  }

  #admit(task: Task, key: string | undefined): void {
    let lane: KeyState | null = null;
    if (this.#keys !== null) {
      lane = this.#keys.lane(key);
      if (lane === null) {
        this.#refuseNew(
          task,
          new QueueFullError(`too many live keys (${this.#keys.maxKeys})`, 'keys'),
        );

        return;
      }
      task.key = lane;
    }
    if (
      this.#active < this.#current &&
      (lane === null ? this.#queued === 0 : lane.list.size === 0 && lane.active < lane.cap)
    ) {
      const permit = this.#breaker === null ? PERMIT : this.#permit();
      if (permit !== 0) {
        if (lane !== null) this.#keys?.startedDirect(lane);
        this.#start(task, permit);

        return;
      }
    }
    if (this.#rejectWhileOpen && this.#breaker !== null && this.#breaker.probesAvailable === 0) {
      this.#refuseNew(task, this.#breaker.openError());

      return;
    }
    this.#enqueue(task, lane);
  }

  /** A runAll worker asks for a slot: true = started, false = queued, an Error = refused. */
  #beginWaiter(node: Task, key: string | undefined): boolean | Error {
    if (this.#closed) return new ShuttingDownError();

    node.resolve = null;
    node.flags = WAITER;
    // The fast path of #admit, inlined for the unkeyed case.
    if (this.#keys === null && this.#queued === 0 && this.#active < this.#current) {
      const permit = this.#breaker === null ? PERMIT : this.#permit();
      if (permit !== 0) {
        this.#start(node, permit);

        return true;
      }
    }
    // A refusal during admission arrives through node.resolve: catch it without a closure.
    refusal = undefined;
    node.resolve = catchRefusal;
    this.#admit(node, key);
    if ((node.flags & RUNNING) !== 0) return true;
    if (node.resolve === null) return refusal as Error;

    return false;
  }

  #refuseNew(task: Task, error: Error): void {
    this.#rejected += 1;
    if (task.key !== null) this.#keys?.forgetIfIdle(task.key);
    task.key = null;
    this.#detach(task);
    refuse(task, error);
  }

  #enqueue(task: Task, lane: KeyState | null): void {
    if (this.#queued >= this.#maxQueued) {
      if (this.#overflow === 'reject' || (this.#overflow === 'drop-oldest' && this.#queued === 0)) {
        this.#refuseNew(task, new QueueFullError(`the queue is full (${this.#maxQueued} waiting)`));

        return;
      }
      if (this.#overflow === 'drop-oldest') {
        this.#dropOldest();
      } else {
        task.flags |= PARKED;
        if (lane !== null) lane.parked += 1;
        this.#parked.push(task);

        return;
      }
    }
    this.#push(task, lane);
  }

  #push(task: Task, lane: KeyState | null): void {
    task.flags |= QUEUED;
    this.#gate.carry = false;
    task.stamp = this.#stamp ?? this.#newStamp();
    if (lane === null) this.#queue.push(task);
    else this.#keys?.push(task, lane);
    this.#queued += 1;
  }

  #dropOldest(): void {
    const victim =
      this.#keys === null ? this.#queue.head : (this.#keys.busiest()?.list.head ?? null);
    if (victim === null) return;

    this.#unlink(victim);
    this.#rejected += 1;
    this.#detach(victim);
    refuse(victim, new QueueFullError('dropped from a full queue by a newer task', 'dropped'));
  }

  /** Removes a waiting (queued or parked) task from its list. */
  #unlink(task: Task): void {
    if ((task.flags & PARKED) !== 0) {
      task.flags &= ~PARKED;
      this.#parked.remove(task);
      if (task.key !== null) {
        task.key.parked -= 1;
        this.#keys?.forgetIfIdle(task.key);
      }

      return;
    }
    task.flags &= ~QUEUED;
    this.#queued -= 1;
    if (task.key === null) this.#queue.remove(task);
    else this.#keys?.remove(task, task.key);
    if (this.#queued === 0) this.#updateGate();
  }

  /** #carryOn for per-key limits: see BatchHooks.carryOnTo. */
  #carryOnTo(node: Task, ok: boolean, result: unknown, key: string | undefined): boolean {
    const breaker = this.#breaker;
    const keys = this.#keys;
    if (
      keys === null ||
      this.#queued !== 0 ||
      this.#closed ||
      (breaker !== null && breaker.state !== 'closed') ||
      (node.x as TaskExtra).controller !== undefined
    ) {
      this.#finish(node, ok, result);

      return false;
    }
    this.#count(node, node.flags, ok, result);
    const from = node.key as KeyState;
    const to = from.key === key ? from : keys.lane(key);
    if (
      to === null ||
      this.#active > this.#current ||
      (breaker !== null && breaker.state !== 'closed') ||
      (to !== from && (to.list.size > 0 || to.active >= to.cap))
    ) {
      if (to !== null && to !== from) keys.forgetIfIdle(to);
      this.#finish(node, true, undefined, false);

      return false;
    }
    if (to !== from) {
      keys.startedDirect(to);
      node.key = to;
      keys.finished(from);
    }
    node.flags = WAITER | RUNNING | PERMIT;
    if (--this.#sampleCountdown <= 0) {
      this.#sampleCountdown = this.#sampleEvery;
      node.flags |= SAMPLED;
      (node.x as TaskExtra).startedAt = this.#clock.now();
      this.#queueWait.record(0, this.#sampleEvery);
    }

    return true;
  }

  /** Counts `count` successes of runAll items that passed the gate. */
  #credit(count: number): void {
    if (count === 0) return;

    this.#processed += count;
    this.#sampleCountdown -= count;
    this.#breaker?.recordSuccesses(count);
  }

  #newStamp(): Stamp {
    const stamp = { at: this.#clock.now() };
    this.#stamp = stamp;
    queueMicrotask(this.#clearStamp);

    return stamp;
  }

  #clearStamp = (): void => {
    this.#stamp = null;
  };

  #updateGate(): void {
    // A lowered limit never lets a worker carry on: the slot must go back so that `active`
    // falls to the new limit.
    this.#gate.carry =
      this.#plain &&
      this.#queued === 0 &&
      !this.#closed &&
      this.#active <= this.#current &&
      (this.#breaker === null || this.#breaker.state === 'closed');
  }

  #permit(): number {
    const permit = (this.#breaker as CircuitBreaker).acquire();

    return permit === 1 ? PERMIT : permit === 2 ? PROBE : 0;
  }

  /** Starts as many waiting tasks as the limit, the keys and the breaker allow. */
  #pump(): void {
    while (this.#queued > 0 && this.#active < this.#current) {
      const keys = this.#keys;
      const next = keys === null ? this.#queue.head : keys.peek();
      if (next === null) break;

      const permit = this.#breaker === null ? PERMIT : this.#permit();
      if (permit === 0) break;

      if (keys === null) this.#queue.shift();
      else keys.take();
      next.flags &= ~QUEUED;
      this.#queued -= 1;
      if (this.#queued === 0) this.#updateGate();
      this.#start(next, permit);
    }
    while (this.#parked.head !== null && this.#queued < this.#maxQueued) {
      const task = this.#parked.head;
      const key = task.key?.key;
      this.#unlink(task);
      task.key = null;
      this.#admit(task, key);
    }
  }

  // ---- running ---------------------------------------------------------------------------

  #start(task: Task, permit: number): void {
    const started = this.#activate(task, permit);
    if ((task.flags & WAITER) !== 0) {
      const resolve = task.resolve;
      task.resolve = null;
      resolve?.(undefined);

      return;
    }
    this.#runner(task, started);
  }

  /** Marks a task running in a slot; returns its start time if it is timed, else -1. */
  #activate(task: Task, permit: number): number {
    this.#active += 1;
    task.flags |= RUNNING | permit;
    let started = -1;
    if (--this.#sampleCountdown <= 0) {
      this.#sampleCountdown = this.#sampleEvery;
      task.flags |= SAMPLED;
      started = this.#clock.now();
      const stamp = task.stamp;
      this.#queueWait.record(stamp === null ? 0 : started - stamp.at, this.#sampleEvery);
      if (task.x !== null) task.x.startedAt = started;
    }
    task.stamp = null;
    const extra = task.x;
    if ((task.flags & TIMED) !== 0 || (extra !== null && extra.timeoutMs > 0)) {
      this.#startClock(task, extra);
    } else if ((task.flags & WAITER) === 0) {
      this.#running.push(task);
    }

    return started;
  }

  /** Starts a running task's timeout: on the shared deadline list if it can, else a timer. */
  #startClock(task: Task, extra: TaskExtra | null): void {
    const ms = extra !== null && extra.timeoutMs > 0 ? extra.timeoutMs : this.#timeout;
    if (this.#deadlines.accepts(ms)) {
      task.flags |= DEADLINE;
      this.#deadlines.add(task);

      return;
    }
    this.#running.push(task);
    const own = (task.x ??= new TaskExtra());
    own.timeoutMs = ms;
    own.timer = this.#clock.setTimeout(() => {
      own.timer = undefined;
      this.#onTimeout(task, ms);
    }, ms);
  }

  /**
   * Runs run() tasks in one slot: when a task settles and another waits that may take the slot,
   * the slot passes straight to it, and the same runner runs it. The runner's two callbacks are
   * made once per runner, not per task (an `await` per task would allocate about twice as much).
   */
  #runner(first: Task, started: number): void {
    const runner: Runner = { task: first, started, ok: noop, fail: noop };
    const settle = (ok: boolean, result: unknown): void => {
      const next = this.#finish(runner.task as Task, ok, result, true, runner.started, true);
      runner.task = next;
      if (next === null) return;

      runner.started = this.#handOffStarted;
      launch(runner);
    };
    runner.ok = (value) => settle(true, value);
    runner.fail = (error) => settle(false, error);
    launch(runner);
  }

  /**
   * A task ended: counts it (unless `count` is false), cleans up and releases its slot, or, with
   * `handOff`, passes the slot to the next run() task allowed to start and returns it.
   */
  #finish(
    task: Task,
    ok: boolean,
    result: unknown,
    count = true,
    started = -1,
    handOff = false,
  ): Task | null {
    const flags = task.flags;
    if ((flags & DEADLINE) !== 0) this.#deadlines.remove(task);
    else if ((flags & WAITER) === 0) this.#running.remove(task);
    if (task.key !== null) this.#keys?.finished(task.key);
    const extra = task.x;
    if (extra !== null && (extra.timer !== undefined || extra.onAbort !== undefined)) {
      this.#clearExtra(task, extra);
    }
    if ((flags & TIMED_OUT) !== 0) this.#timedOut -= 1;
    // Counted while the task still holds its slot: the adaptive limit sees it in flight.
    if (count) this.#count(task, flags, ok, result, started);
    else if ((flags & RECORDED) === 0) this.#record(flags, 'ignore');
    if ((flags & WAITER) !== 0) {
      task.flags = WAITER;
      task.key = null;
      if (extra !== null && extra.controller !== undefined) {
        extra.controller = undefined;
        extra.reason = undefined;
      }
    } else {
      task.fn = null;
      task.resolve = null;
      task.x = null;
      task.key = null;
    }
    if (handOff && this.#queued > 0) {
      const next = this.#takeOver();
      if (next !== null) return next;
    }
    this.#active -= 1;
    if (this.#queued > 0 || this.#parked.head !== null) this.#pump();
    this.#notify();

    return null;
  }

  /**
   * Hands the slot of a task that just ended to the next waiting run() task, if the limit, its
   * key and the breaker allow it to start; that task is then running. Null otherwise.
   */
  #takeOver(): Task | null {
    if (this.#active > this.#current) return null;

    const keys = this.#keys;
    const next = keys === null ? this.#queue.head : keys.peek();
    if (next === null || (next.flags & WAITER) !== 0) return null;

    const permit = this.#breaker === null ? PERMIT : this.#permit();
    if (permit === 0) return null;

    if (keys === null) this.#queue.shift();
    else keys.take();
    next.flags &= ~QUEUED;
    this.#queued -= 1;
    if (this.#queued === 0) this.#updateGate();
    this.#active -= 1;
    this.#handOffStarted = this.#activate(next, permit);
    if (this.#parked.head !== null) this.#pump();
    if (this.#roomWaiters !== null) this.#notify();

    return next;
  }

  /** Counts a finished task: totals, timing, its caller's promise, breaker and adaptive limit. */
  #count(task: Task, flags: number, ok: boolean, result: unknown, started = -1): void {
    if ((flags & SAMPLED) !== 0) {
      const now = this.#clock.now();
      this.#timeRun(now - (started >= 0 ? started : (task.x?.startedAt ?? now)));
    }
    this.#processed += 1;
    let outcome: Outcome = 'ignore';
    if ((flags & SETTLED) === 0) {
      if (ok) outcome = 'success';
      else {
        this.#failed += 1;
        outcome = this.#classifySafely(result);
      }
      const resolve = task.resolve;
      if (resolve !== null) resolve(ok ? result : rejected(result));
    }
    if ((flags & RECORDED) === 0) this.#record(flags, outcome);
  }

  /**
   * A runAll worker's item ended and the worker has another: when nobody else waits, the node
   * keeps its slot for the next item (the slot is never free in between, so nobody could have
   * taken it), which spares a release and an acquire per item. Returns true if it kept it.
   */
  #carryOn(node: Task, ok: boolean, result: unknown, skipped: number): boolean {
    // `skipped` earlier items of this node carried on without asking (while the gate was open).
    this.#credit(skipped);
    // The common case in as few steps as possible: a success, nothing to time or record.
    if (
      ok &&
      this.#gate.carry &&
      node.flags === (WAITER | RUNNING | PERMIT) &&
      (node.x as TaskExtra).controller === undefined
    ) {
      this.#credit(1);
      if (--this.#sampleCountdown > 0) return true;

      this.#sampleCountdown = this.#sampleEvery;
      node.flags |= SAMPLED;
      (node.x as TaskExtra).startedAt = this.#clock.now();
      this.#queueWait.record(0, this.#sampleEvery);

      return true;
    }
    const breaker = this.#breaker;
    if (
      this.#queued !== 0 ||
      this.#keys !== null ||
      this.#closed ||
      (breaker !== null && breaker.state !== 'closed') ||
      (node.x as TaskExtra).controller !== undefined
    ) {
      this.#finish(node, ok, result);

      return false;
    }
    this.#count(node, node.flags, ok, result);
    // Counting may have opened the breaker or lowered the limit.
    if (this.#active > this.#current || (breaker !== null && breaker.state !== 'closed')) {
      this.#finish(node, true, undefined, false);

      return false;
    }
    node.flags = WAITER | RUNNING | PERMIT;
    if (--this.#sampleCountdown <= 0) {
      this.#sampleCountdown = this.#sampleEvery;
      node.flags |= SAMPLED;
      (node.x as TaskExtra).startedAt = this.#clock.now();
      this.#queueWait.record(0, this.#sampleEvery);
    }

    return true;
  }

  #clearExtra(task: Task, extra: TaskExtra): void {
    if (extra.timer !== undefined) {
      this.#clock.clearTimeout(extra.timer);
      extra.timer = undefined;
    }
    this.#detach(task);
  }

  #detach(task: Task): void {
    const extra = task.x;
    if (extra === null || extra.onAbort === undefined) return;

    extra.signal?.removeEventListener('abort', extra.onAbort);
    extra.onAbort = undefined;
  }

  #classifySafely(error: unknown): Outcome {
    try {
      return this.#classify(error);
    } catch {
      return 'failure';
    }
  }

  #timeRun(ms: number): void {
    // Each sample stands for the tasks skipped since the last one. Short tasks are timed less
    // often (a clock read costs about as much as a no-op task), long ones every time.
    this.#runTime.record(ms, this.#sampleEvery);
    if (ms < 0.05) this.#sampleEvery = Math.min(this.#maxSampleEvery, this.#sampleEvery * 2);
    else if (ms > 0.5 && this.#sampleEvery > 1) this.#sampleEvery >>= 1;
    if (this.#adaptive?.onRunTime(ms, this.#active) === true) {
      this.#limitChanged(this.#current, 'latency');
    }
  }

  /** Counts an outcome for the breaker and the adaptive limit. */
  #record(flags: number, outcome: Outcome): void {
    if (this.#breaker !== null) {
      const permit = (flags & PROBE) !== 0 ? 2 : (flags & PERMIT) !== 0 ? 1 : 0;
      if (permit !== 0) this.#breaker.release(permit, outcome);
    }
    const adaptive = this.#adaptive;
    if (adaptive === null) return;

    const previous = this.#current;
    if (outcome === 'success') {
      if (adaptive.onSuccess(this.#active)) this.#limitChanged(previous, 'increase');
    } else if (outcome === 'overload') {
      if (adaptive.onOverload(this.#active)) this.#limitChanged(previous, 'overload');
    } else {
      adaptive.onNeutral();
    }
  }

  #limitChanged(previous: number, reason: LimitChangeReason): void {
    this.#current = this.#adaptive?.limit ?? this.#current;
    this.#updateGate();
    if (this.#current === previous) return;

    this.#emitSafely('limit:changed', { limit: this.#current, previous, reason });
    if (this.#current > previous) this.#pump();
  }

  #onTimeout(task: Task, timeoutMs: number): void {
    if ((task.flags & (RUNNING | SETTLED)) !== RUNNING) return;

    task.flags |= TIMED_OUT | SETTLED | RECORDED;
    this.#timedOut += 1;
    this.#totalTimedOut += 1;
    this.#failed += 1;
    const error = new TaskTimeoutError(timeoutMs);
    task.abort(error);
    refuse(task, error);
    this.#record(task.flags, this.#classifySafely(error));
    this.#emitSafely('task:timeout', {
      timeoutMs,
      timedOut: this.#timedOut,
      item: task.x?.item,
    });
  }

  #onAbort(task: Task): void {
    const extra = task.x as TaskExtra;
    extra.onAbort = undefined;
    const reason = extra.signal?.reason;
    if ((task.flags & (QUEUED | PARKED)) !== 0) {
      this.#unlink(task);
      this.#aborted += 1;
      refuse(task, new AbortedError('task aborted while waiting', { cause: reason }));
      this.#pump();
      this.#notify();

      return;
    }
    if ((task.flags & (RUNNING | SETTLED)) !== RUNNING) return;

    task.flags |= SETTLED;
    this.#aborted += 1;
    task.abort(reason);
    refuse(task, new AbortedError('task aborted while running', { cause: reason }));
  }

  /** Tells every running task to stop (drain deadline); returns how many there were. */
  #abortRunning(): number {
    let count = 0;
    const reason = new ShuttingDownError('the drain deadline passed while the task ran');
    for (const node of this.#workerNodes) {
      if ((node.flags & RUNNING) === 0) continue;

      count += 1;
      node.abort(reason);
    }
    for (const list of [this.#running, this.#deadlines.list]) {
      for (let task = list.head; task !== null; task = task.next) {
        count += 1;
        if ((task.flags & SETTLED) !== 0) continue;

        task.abort(reason);
        task.flags |= SETTLED;
        this.#aborted += 1;
        refuse(task, new AbortedError('task aborted at the drain deadline', { cause: reason }));
      }
    }

    return count;
  }

  // ---- waiters and events ----------------------------------------------------------------

  #isIdle(): boolean {
    return this.#active === 0 && this.#queued === 0 && this.#parked.head === null;
  }

  /** Wakes idle and room waiters whose condition holds. */
  #notify(): void {
    if (this.#active === 0 && this.#isIdle()) {
      const waiters = this.#idleWaiters;
      this.#idleWaiters = null;
      if (waiters !== null) for (const resolve of waiters) resolve();
      this.#emitSafely('idle');
    }
    if (this.#roomWaiters !== null && (this.available > 0 || this.#closed)) {
      const waiters = this.#roomWaiters;
      this.#roomWaiters = null;
      for (const resolve of waiters) resolve();
    }
  }

  #emitSafely<K extends keyof LimiterEvents>(name: K, ...args: LimiterEvents[K]): void {
    if (this.listenerCount(name) === 0) return;

    try {
      (this.emit as (name: K, ...args: LimiterEvents[K]) => boolean)(name, ...args);
    } catch (error) {
      // A throwing listener must not break the limiter; surface it as an uncaught exception.
      process.nextTick(() => {
        throw error;
      });
    }
  }

  #onOpened = (event: BreakerEvents['circuit-breaker:opened'][0]): void => {
    this.#updateGate();
    this.#emitSafely('circuit-breaker:opened', event);
    if (!this.#rejectWhileOpen) return;

    const error = (this.#breaker as CircuitBreaker).openError();
    const refuseWaiting = (task: Task): void => {
      this.#unlink(task);
      this.#rejected += 1;
      this.#detach(task);
      refuse(task, error);
    };
    while (this.#parked.head !== null) refuseWaiting(this.#parked.head);
    if (this.#keys === null) {
      while (this.#queue.head !== null) refuseWaiting(this.#queue.head);
    } else {
      for (const lane of [...this.#keys.lanes()]) {
        while (lane.list.head !== null) refuseWaiting(lane.list.head);
      }
    }
    this.#notify();
  };

  #onHalfOpen = (event: BreakerEvents['circuit-breaker:half-open'][0]): void => {
    this.#updateGate();
    this.#emitSafely('circuit-breaker:half-open', event);
    this.#pump();
    this.#notify();
  };

  #onClosed = (event: BreakerEvents['circuit-breaker:closed'][0]): void => {
    this.#updateGate();
    this.#emitSafely('circuit-breaker:closed', event);
    this.#pump();
    this.#notify();
  };

  #detachBreaker(): void {
    this.#breaker?.off('circuit-breaker:opened', this.#onOpened);
    this.#breaker?.off('circuit-breaker:half-open', this.#onHalfOpen);
    this.#breaker?.off('circuit-breaker:closed', this.#onClosed);
  }
}
