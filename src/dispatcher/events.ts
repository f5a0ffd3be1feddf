import type { OutboxEvent } from '../event.js';
import type { PublishFailureKind } from '../publisher/contract.js';
import type { OutboxStats } from '../store/contract.js';
import type {
  BreakerClosedEvent,
  BreakerHalfOpenEvent,
  BreakerOpenedEvent,
  LimiterStats,
  MemoryEvent,
} from '../limiter/index.js';

/** The dispatcher's life: `idle` → `starting` → `running` → `stopping` → `stopped`. */
export type DispatcherState = 'idle' | 'starting' | 'running' | 'stopping' | 'stopped';

/** What became of one publish. */
export type EventOutcome =
  | { kind: 'delivered'; durationMs: number }
  | {
      kind: 'retry';
      durationMs: number;
      error: string;
      failure: PublishFailureKind;
      retryAt: Date;
    }
  | { kind: 'dead'; durationMs: number; reason: string }
  | { kind: 'unstarted'; reason: string };

/** What `getStatus()` returns: cheap, read from memory, no database query. */
export interface DispatcherStatus {
  state: DispatcherState;
  startedAt: Date | null;
  /** The limiter's statistics. */
  limiter: LimiterStats;
  breaker: { state: 'closed' | 'open' | 'half-open'; failureRate: number };
  /** The store's figures as last read (every `statsIntervalMs`), or `null` before the first. */
  store: OutboxStats | null;
  storeStatsAt: Date | null;
  /** `false` after a failed store call, until one succeeds. */
  storeReachable: boolean;
  /** Bytes. */
  memory: { heapUsed: number; heapTotal: number; rss: number; heapLimit: number };
  counters: DispatcherCounters;
  /** The paused event types, as last read. */
  paused: string[];
}

export interface DispatcherCounters {
  /** Events claimed. */
  claimed: number;
  /** Events delivered and completed. */
  delivered: number;
  /** Failed attempts scheduled for a retry. */
  retried: number;
  /** Events dead-lettered by this dispatcher (permanent failure, attempts used up, unreadable). */
  deadLettered: number;
  /** Claimed events handed back without an attempt (shutdown, per-type limit, open breaker). */
  released: number;
  /** Acknowledgements the store refused because the lease had passed to someone else. */
  refused: number;
}

export interface DeliveredPayload {
  event: OutboxEvent;
  durationMs: number;
  publisher: string;
}

export interface RetryPayload {
  event: OutboxEvent;
  error: string;
  retryAt: Date;
  kind: PublishFailureKind;
}

export interface DeadPayload {
  event: OutboxEvent | { id: string };
  reason: string;
}

export interface BatchDonePayload {
  total: number;
  succeeded: number;
  failed: number;
  durationMs: number;
  /** Events per second over the batch. */
  throughput: number;
}

/** The typed events of `OutboxDispatcher`; every payload is one object. */
export interface DispatcherEventMap {
  'event:delivered': [DeliveredPayload];
  'event:retry': [RetryPayload];
  'event:dead': [DeadPayload];
  'batch:claimed': [{ count: number; token: string }];
  'batch:done': [BatchDonePayload];
  'circuit-breaker:opened': [BreakerOpenedEvent];
  'circuit-breaker:half-open': [BreakerHalfOpenEvent];
  'circuit-breaker:closed': [BreakerClosedEvent];
  'memory:high': [MemoryEvent];
  'store:error': [{ error: Error; operation: string }];
  'store:recovered': [{ operation: string; downMs: number }];
  state: [{ from: DispatcherState; to: DispatcherState }];
  /** Only when the claim loop itself fails (a bug); never for a listener's throw. */
  error: [Error];
}

/** Emits one of the dispatcher's typed events: how its parts report without holding it. */
export type Emit = <K extends keyof DispatcherEventMap>(
  name: K,
  ...args: DispatcherEventMap[K]
) => void;
