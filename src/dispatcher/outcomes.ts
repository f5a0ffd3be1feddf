import { performance } from 'node:perf_hooks';
import type { Logger } from 'pino';
import type { OutboxEvent } from '../event.js';
import type { LimiterStats } from '../limiter/index.js';
import type { AckResult, RejectedRow } from '../store/contract.js';
import type { AckBuffer, AckOperation } from './acks.js';
import type { DispatcherCounters, DispatcherEventMap, Emit, EventOutcome } from './events.js';

type Listens = (name: keyof DispatcherEventMap) => boolean;

/** The events of one claim, counted until the last one has an outcome. */
export interface Batch {
  token: string;
  total: number;
  remaining: number;
  succeeded: number;
  failed: number;
  startedAt: number;
}

/**
 * Records outcomes: queues each acknowledgement in the buffer, counts it, tells listeners, logs
 * one line per batch at `info` (and one per event at `debug`), and flushes at a batch's end.
 */
export class Outcomes {
  readonly counters: DispatcherCounters = {
    claimed: 0,
    delivered: 0,
    retried: 0,
    deadLettered: 0,
    released: 0,
    refused: 0,
  };

  constructor(
    private readonly acks: AckBuffer,
    private readonly logger: Logger,
    private readonly emit: Emit,
    private readonly publisherName: string,
    private readonly limiterStats: () => LimiterStats,
    private readonly listens: Listens,
  ) {}

  /**
   * Whether the duration of a delivery is read: by a listener of `event:delivered` or by the
   * debug log. When not, a delivered event is recorded without reading the clock.
   */
  get timed(): boolean {
    return this.listens('event:delivered') || this.logger.isLevelEnabled('debug');
  }

  /** Starts counting a claim's events. */
  batch(token: string, total: number): Batch {
    this.counters.claimed += total;
    this.emit('batch:claimed', { count: total, token });

    return {
      token,
      total,
      remaining: total,
      succeeded: 0,
      failed: 0,
      startedAt: performance.now(),
    };
  }

  /** Rows the store dead-lettered at claim because they could not be read. */
  rejected(rows: readonly RejectedRow[]): void {
    for (const row of rows) {
      this.counters.deadLettered += 1;
      this.emit('event:dead', { event: { id: row.id }, reason: row.reason });
      this.logger.warn({ id: row.id, reason: row.reason }, 'unreadable event dead-lettered');
    }
  }

  /**
   * Records a delivered event whose publish started at `started` (`performance.now()` clock):
   * `record` with a delivered outcome, whose duration is only measured when `timed`.
   */
  delivered(event: OutboxEvent, batch: Batch, started: number): void {
    this.#delivered(event, batch, this.timed ? performance.now() - started : undefined);
    this.#settled(batch);
  }

  /** Queues the outcome's acknowledgement, counts it, tells listeners. */
  record(event: OutboxEvent, batch: Batch, outcome: EventOutcome): void {
    const { token } = batch;
    switch (outcome.kind) {
      case 'delivered':
        this.#delivered(event, batch, outcome.durationMs);
        break;
      case 'retry':
        this.acks.fail(token, { id: event.id, error: outcome.error, retryAt: outcome.retryAt });
        this.counters.retried += 1;
        batch.failed += 1;
        this.emit('event:retry', {
          event,
          error: outcome.error,
          retryAt: outcome.retryAt,
          kind: outcome.failure,
        });
        this.logger.debug(
          { id: event.id, type: event.type, error: outcome.error, retryAt: outcome.retryAt },
          'publish failed; retry scheduled',
        );
        break;
      case 'dead':
        this.acks.deadLetter(token, { id: event.id, reason: outcome.reason });
        this.counters.deadLettered += 1;
        batch.failed += 1;
        this.emit('event:dead', { event, reason: outcome.reason });
        this.logger.debug({ id: event.id, type: event.type, reason: outcome.reason }, 'dead');
        break;
      case 'unstarted':
        this.acks.release(token, event.id);
        this.counters.released += 1;
        this.logger.debug({ id: event.id, reason: outcome.reason }, 'released unstarted');
        break;
    }

    this.#settled(batch);
  }

  /** Queues a delivered event's acknowledgement and counts it; tells listeners its duration. */
  #delivered(event: OutboxEvent, batch: Batch, durationMs: number | undefined): void {
    this.acks.complete(batch.token, event.id);
    this.counters.delivered += 1;
    batch.succeeded += 1;
    if (durationMs === undefined) return;

    this.emit('event:delivered', { event, durationMs, publisher: this.publisherName });
    this.logger.debug({ id: event.id, type: event.type, ms: durationMs }, 'delivered');
  }

  /** One more event of the batch has its outcome; the last one ends the batch. */
  #settled(batch: Batch): void {
    batch.remaining -= 1;
    if (batch.remaining === 0) this.batchDone(batch);
  }

  private batchDone(batch: Batch): void {
    this.acks.flushSoon();
    const durationMs = performance.now() - batch.startedAt;
    const done = {
      total: batch.total,
      succeeded: batch.succeeded,
      failed: batch.failed,
      durationMs: Math.round(durationMs * 100) / 100,
      throughput: Math.round((batch.total * 1000) / Math.max(durationMs, 0.001)),
    };
    this.emit('batch:done', done);
    if (this.logger.isLevelEnabled('info')) {
      const stats = this.limiterStats();
      this.logger.info(
        {
          ...done,
          limiter: {
            active: stats.activePromises,
            queued: stats.queuedPromises,
            limit: stats.limit,
            processed: stats.totalProcessed,
            failureRate: stats.failureRate,
          },
        },
        'batch done',
      );
    }
  }

  /** Counts what the store refused; true when it applied something (a key may be free). */
  acknowledged(operation: AckOperation, token: string, result: AckResult): boolean {
    if (result.refused.length > 0) {
      this.counters.refused += result.refused.length;
      this.logger.warn(
        { operation, token, refused: result.refused.length },
        'the store refused acknowledgements: the lease had passed on; the events will be retried',
      );
    }

    return result.applied.length > 0;
  }
}
