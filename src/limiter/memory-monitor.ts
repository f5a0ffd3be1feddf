import { EventEmitter } from 'node:events';
import { systemClock } from './clock.js';
import type { Clock, TimerHandle } from './clock.js';
import { readHeap } from './heap.js';
import type { HeapReading } from './heap.js';
import type { LimiterStats } from './limiter-types.js';
import { formatBytes } from './limiter-types.js';
import { functionOption, numberOption, objectOption } from './validate.js';

export interface MemoryMonitorOptions {
  /** Milliseconds between readings. Default 10_000. */
  interval?: number;
  /** `memory:high` fires when used / limit is at or above this ratio (0 to 1). Default 0.9. */
  threshold?: number;
  /** Reads the heap. Default: `process.memoryUsage()` against V8's heap size limit. */
  readHeap?: () => HeapReading;
  /** Statistics to attach to the event, for example `() => limiter.getMemoryStats()`. */
  stats?: () => LimiterStats;
  /** Time source for the interval. Default: the system clock. */
  clock?: Clock;
}

export interface MemoryEvent {
  /** Bytes of heap in use. */
  heapUsed: number;
  /** The heap size limit, bytes. */
  heapLimit: number;
  /** heapUsed / heapLimit. */
  ratio: number;
  /** The same figures, readable: `1.7GB of 2GB (85%)`. */
  summary: string;
  stats: LimiterStats | undefined;
}

export interface MemoryMonitorEvents {
  /** The heap is at or above the threshold (fires at every reading while it stays there). */
  'memory:high': [MemoryEvent];
  /** The heap fell back below the threshold after a `memory:high`. */
  'memory:normal': [MemoryEvent];
}

/** Reads heap usage at an interval and says when it crosses a threshold. Never logs. */
export class MemoryMonitor extends EventEmitter<MemoryMonitorEvents> {
  readonly interval: number;
  readonly threshold: number;
  readonly #readHeap: () => HeapReading;
  readonly #stats: (() => LimiterStats) | undefined;
  readonly #clock: Clock;
  #timer: TimerHandle | undefined;
  #high = false;

  constructor(options: MemoryMonitorOptions = {}) {
    super();
    objectOption('options', options);
    this.interval = numberOption('interval', options.interval ?? 10_000, 1);
    this.threshold = numberOption('threshold', options.threshold ?? 0.9, 0, 1);
    if (options.readHeap !== undefined) functionOption('readHeap', options.readHeap);
    if (options.stats !== undefined) functionOption('stats', options.stats);
    if (options.clock !== undefined) objectOption('clock', options.clock);
    this.#readHeap = options.readHeap ?? readHeap;
    this.#stats = options.stats;
    this.#clock = options.clock ?? systemClock;
  }

  get running(): boolean {
    return this.#timer !== undefined;
  }

  /** Starts reading every `interval` ms (the timer never holds the process open). Idempotent. */
  start(): void {
    if (this.#timer !== undefined) return;

    this.#schedule();
  }

  /** Stops reading. Idempotent. */
  stop(): void {
    if (this.#timer === undefined) return;

    this.#clock.clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  /** Reads the heap now, emits if needed, and returns the reading. */
  check(): MemoryEvent {
    const heap = this.#readHeap();
    const ratio = heap.limit > 0 ? heap.used / heap.limit : 0;
    const event: MemoryEvent = {
      heapUsed: heap.used,
      heapLimit: heap.limit,
      ratio,
      summary:
        `${formatBytes(heap.used)} of ${formatBytes(heap.limit)} ` +
        `(${Math.round(ratio * 100)}%)`,
      stats: this.#stats?.(),
    };
    if (ratio >= this.threshold) {
      this.#high = true;
      this.emit('memory:high', event);
    } else if (this.#high) {
      this.#high = false;
      this.emit('memory:normal', event);
    }

    return event;
  }

  #schedule(): void {
    this.#timer = this.#clock.setTimeout(() => {
      this.#schedule();
      this.check();
    }, this.interval);
  }
}
