import type { AdaptiveOptions, LimitChangeReason } from './adaptive.js';
import type { CircuitBreaker } from './breaker.js';
import type { BreakerEvents, BreakerState, CircuitBreakerOptions } from './breaker-types.js';
import type { Clock } from './clock.js';
import type { Percentiles } from './histogram.js';
import type { Classifier } from './outcome.js';

export type OverflowPolicy = 'wait' | 'reject' | 'drop-oldest';

export interface PerKeyOptions {
  /** At most this many tasks of one key run at once (within the global limit). */
  concurrency: number;
  /**
   * At most this many keys are live (running or waiting) at once; idle keys are forgotten
   * (the last 256 idle ones are kept as spares). A task of a new key beyond it is rejected with
   * a QueueFullError (reason `keys`). Default 10_000.
   */
  maxKeys?: number;
}

export interface LimiterOptions {
  /** Tasks that may run at once; with `adaptive`, the initial limit. An integer >= 1. */
  concurrency: number;
  /** Tasks that may wait for a slot. Default Infinity. */
  maxQueued?: number;
  /**
   * What `run()` does when `maxQueued` tasks already wait: `wait` parks the task outside the
   * queue until there is room (pair it with `onRoom()` for real backpressure), `reject` rejects
   * it with a `QueueFullError`, `drop-oldest` rejects the oldest waiting task instead (with
   * per-key limits: the oldest of the key with most waiting). Default `wait`.
   */
  overflow?: OverflowPolicy;
  /** Per-key limits, served round robin across keys. Default: none. */
  perKey?: PerKeyOptions;
  /**
   * Default timeout of each task, milliseconds from its start (rounded up to a whole
   * millisecond); the tasks that share it share one timer. Default: none.
   */
  timeout?: number;
  /** A breaker (shared or not) or the options of a new one. Default: none. */
  breaker?: CircuitBreaker | CircuitBreakerOptions | false;
  /**
   * While the breaker is open (or half-open without a probe left): `wait` keeps tasks queued,
   * `reject` rejects queued and new tasks with a `CircuitOpenError`. Default `wait`.
   */
  whileOpen?: 'wait' | 'reject';
  /** Adaptive concurrency (AIMD), opt-in. Default: off. */
  adaptive?: AdaptiveOptions | false;
  /** How a rejection counts for the breaker and the adaptive limit. Default `defaultClassify`. */
  classify?: Classifier;
  /**
   * At most one task in this many is timed for the run-time and queue-wait percentiles. The
   * interval adapts to the rate of tasks: fewer are timed while timed tasks end less than 50 µs
   * apart (a clock read costs about as much as a no-op task), more while they end over 0.5 ms
   * apart, up to every task; each sample counts for the tasks it stands for. 1 times every task.
   * Default 256.
   */
  sampleEvery?: number;
  /** Time source for timeouts, drain deadlines and statistics. Default: the system clock. */
  clock?: Clock;
}

export interface RunOptions {
  /** Aborting it removes a waiting task, or tells a running one to stop (through `ctx.signal`). */
  signal?: AbortSignal;
  /** The task's key for per-key limits. */
  key?: string;
  /**
   * Milliseconds the task may run (rounded up to a whole millisecond): then its signal aborts,
   * `run()` rejects with a `TaskTimeoutError`, and its slot stays taken until it really settles.
   * 0: none. Default: the limiter's.
   */
  timeout?: number;
  /** Anything: handed back by `drain()` if the task never started. */
  item?: unknown;
}

export interface RunAllOptions<I> {
  /** Aborting it stops pulling items and tells running ones to stop. */
  signal?: AbortSignal;
  /** The key of an item, for per-key limits. */
  key?: (item: I) => string | undefined;
  /** Milliseconds each item's task may run (see `RunOptions.timeout`). */
  timeout?: number;
}

export interface DrainResult {
  /** The `item` of every task that never started (their `run()` rejected: ShuttingDownError). */
  unstarted: unknown[];
  /** Tasks still running at the deadline, told to stop through their signals. */
  aborted: number;
  /** Tasks that finished while draining. */
  completed: number;
}

export interface TaskTimeoutEvent {
  timeoutMs: number;
  /** Timed-out tasks still running (holding their slot). */
  timedOut: number;
  item: unknown;
}

export interface LimitChangedEvent {
  limit: number;
  previous: number;
  reason: LimitChangeReason;
}

export interface LimiterEvents extends BreakerEvents {
  'limit:changed': [LimitChangedEvent];
  'task:timeout': [TaskTimeoutEvent];
  /** Nothing runs and nothing waits. */
  idle: [];
}

export interface LimiterStats {
  /** Tasks running (including timed-out ones still holding a slot). */
  activePromises: number;
  /** Tasks waiting for a slot. */
  queuedPromises: number;
  /** Tasks parked outside a full queue (overflow `wait`). */
  waitingForRoom: number;
  totalProcessed: number;
  totalFailed: number;
  /** totalFailed / totalProcessed, 0 to 1. */
  failureRate: number;
  /** Timed-out tasks still running. */
  timedOut: number;
  totalTimedOut: number;
  /** Tasks refused (queue full, breaker open) or dropped. */
  totalRejected: number;
  /** Tasks aborted through their signal or by drain. */
  totalAborted: number;
  limit: number;
  /** Live keys (per-key limits only, else 0). */
  keys: number;
  breaker: BreakerState | 'none';
  heapUsed: string;
  heapTotal: string;
  heapUsedBytes: number;
  heapTotalBytes: number;
  /** Time from queueing to start, milliseconds (sampled; tasks that never waited count as 0). */
  queueWaitMs: Percentiles;
  /** Time from start to settle, milliseconds (sampled). */
  runTimeMs: Percentiles;
}

/** Formats bytes as a short readable figure: `512B`, `45MB`, `1.5GB`. */
export function formatBytes(bytes: number): string {
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let value = bytes;
  let unit = 0;
  while (Math.abs(value) >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  const digits = value >= 10 || unit === 0 ? 0 : 1;

  return `${value.toFixed(digits)}${units[unit]}`;
}
