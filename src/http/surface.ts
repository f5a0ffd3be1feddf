import type { OutboxStats } from '../store/contract.js';

/**
 * What the HTTP endpoint reads from a dispatcher: a structural subset of `OutboxDispatcher`, so
 * the endpoint also serves anything shaped like it (a test double, a future dispatcher).
 */
export interface DispatcherSurface {
  /** Synchronous and cheap: read from memory, no database query. */
  getStatus(): DispatcherStatusView;
  on(event: DispatcherEventName, listener: (...args: never[]) => void): unknown;
  off(event: DispatcherEventName, listener: (...args: never[]) => void): unknown;
}

/** The dispatcher events the metrics count. */
export type DispatcherEventName = 'event:delivered' | 'event:retry' | 'event:dead';

/** The part of `DispatcherStatus` the endpoint reads. */
export interface DispatcherStatusView {
  state: string;
  startedAt: Date | null;
  /** The limiter's statistics; the endpoint reads the numeric fields it knows. */
  limiter: LimiterView;
  breaker: { state: 'closed' | 'open' | 'half-open'; failureRate: number };
  store: OutboxStats | null;
  storeStatsAt: Date | null;
  storeReachable: boolean;
  memory: { heapUsed: number; heapTotal: number; rss: number; heapLimit: number };
  counters: { delivered: number; retried: number; deadLettered: number } & object;
  paused: string[];
}

/** The limiter figures shown and exported; absent ones count as 0. */
export interface LimiterView {
  activePromises?: number;
  queuedPromises?: number;
  limit?: number;
}

/** Payloads of the counted events, as far as the metrics read them. */
export interface DeliveredView {
  event: { type: string };
  durationMs: number;
  publisher?: string;
}

export interface RetryView {
  event: { type: string };
}

export interface DeadView {
  event: { type?: string; id: string };
}
