import type { EventEmitter } from 'node:events';
import { AdaptiveLimit } from './adaptive.js';
import { CircuitBreaker } from './breaker.js';
import type {
  BreakerClosedEvent,
  BreakerHalfOpenEvent,
  BreakerOpenedEvent,
} from './breaker-types.js';
import { systemClock } from './clock.js';
import type { Clock } from './clock.js';
import { Deadlines } from './deadlines.js';
import { Histogram } from './histogram.js';
import { expireTask, onClosed, onHalfOpen, onOpened } from './interrupts.js';
import { KeyedQueue } from './keyed-queue.js';
import type {
  DrainResult,
  LimiterEvents,
  LimiterOptions,
  OverflowPolicy,
} from './limiter-types.js';
import { defaultClassify } from './outcome.js';
import { RunnerList } from './promises.js';
import type { Classifier } from './outcome.js';
import { TIMED, TaskList } from './task.js';
import { TaskQueue } from './task-queue.js';
import type { SignalWatch } from './signals.js';
import type { Stamp, Task } from './task.js';
import {
  choiceOption,
  functionOption,
  integerOption,
  numberOption,
  objectOption,
} from './validate.js';

/**
 * Everything a `ConcurrencyLimiter` knows: its validated options, its queues and its counters.
 * The limiter's parts (admission, settlement, runAll, interruptions, waiters) are functions
 * over one of these, so each can live in a file of its own; only `ConcurrencyLimiter` is public.
 */
export class LimiterState {
  current: number;
  readonly adaptive: AdaptiveLimit | null = null;
  readonly maxQueued: number;
  readonly overflow: OverflowPolicy;
  readonly keys: KeyedQueue | null = null;
  /** The limiter's default timeout, milliseconds (0: none). */
  readonly timeout: number;
  readonly breaker: CircuitBreaker | null = null;
  readonly rejectWhileOpen: boolean;
  readonly classify: Classifier;
  readonly clock: Clock;
  /** Time one task in this many; adapts between 1 and maxSampleEvery to the run times. */
  sampleEvery = 1;
  readonly maxSampleEvery: number;
  /** No keys, no adaptive limit: runAll workers may pass the gate (see updateGate). */
  readonly plain: boolean;
  sampleCountdown = 1;
  /** When the last timed task ended, clock ms. */
  lastSampleAt = -Infinity;

  /** Waiting tasks without per-key limits (with them, the lanes of `keys`). */
  readonly queue: TaskQueue;
  /** Tasks waiting for room in a full queue (overflow `wait`). */
  readonly parked = new TaskList();
  /** The runners of run() tasks; runAll workers' nodes are in `workerNodes` instead. */
  readonly runners = new RunnerList();
  readonly deadlines: Deadlines;
  readonly workerNodes = new Set<Task>();
  /** The callers' signals of waiting and running tasks, each with its one listener. */
  signals: WeakMap<AbortSignal, SignalWatch> | null = null;
  active = 0;
  queued = 0;
  closed = false;
  drainPromise: Promise<DrainResult> | null = null;
  idleWaiters: Array<() => void> | null = null;
  roomWaiters: Array<() => void> | null = null;
  /** Whether a runAll worker may keep its slot between items without asking (see carryOn). */
  readonly gate = { carry: false };
  /** The queue time of tasks queued in the current synchronous burst (one clock read each). */
  burstStamp: Stamp | null = null;
  /** Ends the current burst (queued as a microtask when a burst starts). */
  readonly clearStamp = (): void => {
    this.burstStamp = null;
  };
  /** The limiter's listeners on its breaker's transitions. */
  readonly breakerListeners = {
    opened: (event: BreakerOpenedEvent): void => onOpened(this, event),
    halfOpen: (event: BreakerHalfOpenEvent): void => onHalfOpen(this, event),
    closed: (event: BreakerClosedEvent): void => onClosed(this, event),
  };
  /**
   * The start time of the task takeOver last started, clock ms; below 0 or NaN if untimed (NaN
   * at first: a number that is not an integer, so its layout never changes; see shapes.ts).
   */
  handOffStarted = Number.NaN;

  processed = 0;
  failed = 0;
  timedOut = 0;
  totalTimedOut = 0;
  rejected = 0;
  aborted = 0;
  readonly queueWait = new Histogram();
  readonly runTime = new Histogram();

  /**
   * @param options the limiter's options, validated here.
   * @param emitter the limiter itself, which emits the events.
   */
  constructor(
    options: number | LimiterOptions,
    readonly emitter: EventEmitter<LimiterEvents>,
  ) {
    const config: LimiterOptions = typeof options === 'number' ? { concurrency: options } : options;
    objectOption('options', config);
    const concurrency = integerOption('concurrency', config.concurrency, 1);
    this.maxQueued = integerOption('maxQueued', config.maxQueued ?? Infinity, 0, true);
    this.overflow = choiceOption('overflow', config.overflow ?? 'wait', [
      'wait',
      'reject',
      'drop-oldest',
    ]);
    this.timeout = numberOption('timeout', config.timeout ?? 0, 0);
    // A call queued without a node gets the limiter's timeout as a flag when it gets one.
    const callFlags = this.timeout > 0 ? TIMED : 0;
    this.queue = new TaskQueue(callFlags, null, 16);
    if (config.perKey !== undefined) {
      objectOption('perKey', config.perKey);
      this.keys = new KeyedQueue(
        integerOption('perKey.concurrency', config.perKey.concurrency, 1),
        integerOption('perKey.maxKeys', config.perKey.maxKeys ?? 10_000, 1),
        callFlags,
      );
    }
    if (config.clock !== undefined) objectOption('clock', config.clock);
    this.clock = config.clock ?? systemClock;
    this.deadlines = new Deadlines(this.clock, this.timeout, (task, ms) =>
      expireTask(this, task, ms),
    );
    if (config.breaker instanceof CircuitBreaker) this.breaker = config.breaker;
    else if (config.breaker !== undefined && config.breaker !== false) {
      this.breaker = new CircuitBreaker({ clock: this.clock, ...config.breaker });
    }
    this.rejectWhileOpen =
      choiceOption('whileOpen', config.whileOpen ?? 'wait', ['wait', 'reject']) === 'reject';
    if (config.classify !== undefined) functionOption('classify', config.classify);
    this.classify = config.classify ?? defaultClassify;
    this.maxSampleEvery = integerOption('sampleEvery', config.sampleEvery ?? 256, 1);
    if (config.adaptive !== undefined && config.adaptive !== false) {
      this.adaptive = new AdaptiveLimit(concurrency, config.adaptive);
    }
    this.current = this.adaptive?.limit ?? concurrency;
    this.plain = this.keys === null && this.adaptive === null;
  }

  /** `limit - active - queued` (never below 0), 0 while draining, capped by the probes left. */
  get available(): number {
    if (this.closed) return 0;

    const free = Math.max(0, this.current - this.active - this.queued - this.parked.size);

    return this.breaker === null ? free : Math.min(free, this.breaker.probesAvailable);
  }
}
