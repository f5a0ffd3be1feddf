import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

import { BREAKER_STATES, METRICS, PUBLISH_DURATION_BUCKETS } from './metric-names.js';
import { describeSharedLimits, type SharedLimitView } from './shared-limits.js';
import type { StoreFigures } from './store-figures.js';
import type { DeadView, DeliveredView, DispatcherSurface, RetryView } from './surface.js';

export interface MetricsOptions {
  dispatcher: DispatcherSurface;
  figures: StoreFigures;
  /** The publisher's name, for events whose payload does not carry it. Default `unknown`. */
  publisherName?: string;
  /** The shared limits to report on. Default: none. */
  sharedLimits?: () => SharedLimitView[];
  /** Also export prom-client's default process metrics (CPU, memory, event loop). Default true. */
  defaultMetrics?: boolean;
}

/** The endpoint's metrics in a registry of their own, and how to detach them. */
export interface DispatcherMetrics {
  readonly registry: Registry;
  /** Stops counting the dispatcher's events. */
  close(): void;
}

/**
 * Builds the metrics. Counters follow the dispatcher's events; gauges are filled at scrape time
 * from memory only (the dispatcher's status and the cached store figures), so a scrape never
 * reaches the database.
 */
export function createMetrics(options: MetricsOptions): DispatcherMetrics {
  const { dispatcher, figures } = options;
  const fallbackPublisher = options.publisherName ?? 'unknown';
  const registry = new Registry();
  if (options.defaultMetrics !== false) {
    collectDefaultMetrics({ register: registry });
  }

  const counter = (spec: { name: string; help: string; labels: readonly string[] }) =>
    new Counter({
      name: spec.name,
      help: spec.help,
      labelNames: [...spec.labels],
      registers: [registry],
    });
  const delivered = counter(METRICS.delivered);
  const retried = counter(METRICS.retried);
  const deadLettered = counter(METRICS.deadLettered);
  const duration = new Histogram({
    name: METRICS.publishDuration.name,
    help: METRICS.publishDuration.help,
    labelNames: [...METRICS.publishDuration.labels],
    buckets: PUBLISH_DURATION_BUCKETS,
    registers: [registry],
  });

  // Counted from events: cheap, and only while someone serves the metrics.
  const onDelivered = (payload: DeliveredView): void => {
    const publisher = payload.publisher ?? fallbackPublisher;
    delivered.inc({ type: payload.event.type, publisher });
    duration.observe({ publisher }, payload.durationMs / 1000);
  };
  const onRetry = (payload: RetryView): void => {
    retried.inc({ type: payload.event.type, publisher: fallbackPublisher });
  };
  const onDead = (payload: DeadView): void => {
    const type = payload.event.type ?? 'unreadable';
    deadLettered.inc({ type, publisher: fallbackPublisher });
  };
  dispatcher.on('event:delivered', onDelivered as (...args: never[]) => void);
  dispatcher.on('event:retry', onRetry as (...args: never[]) => void);
  dispatcher.on('event:dead', onDead as (...args: never[]) => void);

  registerStoreGauges(registry, figures);
  registerStatusGauges(registry, dispatcher);
  registerSharedLimitGauges(
    registry,
    options.sharedLimits ?? (() => describeSharedLimits(undefined)),
  );

  return {
    registry,
    close() {
      dispatcher.off('event:delivered', onDelivered as (...args: never[]) => void);
      dispatcher.off('event:retry', onRetry as (...args: never[]) => void);
      dispatcher.off('event:dead', onDead as (...args: never[]) => void);
    },
  };
}

type TypeFigure = 'pending' | 'inFlight' | 'scheduled' | 'dead' | 'oldestPendingAgeMs';

function registerStoreGauges(registry: Registry, figures: StoreFigures): void {
  const perType = (spec: { name: string; help: string }, field: TypeFigure, scale = 1) =>
    new Gauge({
      name: spec.name,
      help: spec.help,
      labelNames: ['type'],
      registers: [registry],
      collect() {
        this.reset();
        const { stats, types } = figures.snapshot;
        for (const type of types) {
          this.set({ type }, (stats?.byType[type]?.[field] ?? 0) * scale);
        }
      },
    });
  perType(METRICS.pending, 'pending');
  perType(METRICS.inFlight, 'inFlight');
  perType(METRICS.scheduled, 'scheduled');
  perType(METRICS.dead, 'dead');
  perType(METRICS.oldestPendingAge, 'oldestPendingAgeMs', 1 / 1000);
  gauge(registry, METRICS.lag, () => (figures.snapshot.stats?.oldestPendingAgeMs ?? 0) / 1000);
  gauge(registry, METRICS.storeUp, () => (figures.snapshot.error === null ? 1 : 0));
  gauge(registry, METRICS.storeStatsAge, () => {
    const at = figures.snapshot.at;

    return at === null ? 0 : (Date.now() - at.getTime()) / 1000;
  });
  new Gauge({
    name: METRICS.paused.name,
    help: METRICS.paused.help,
    labelNames: ['type'],
    registers: [registry],
    collect() {
      this.reset();
      for (const type of figures.snapshot.paused) {
        this.set({ type }, 1);
      }
    },
  });
}

function registerStatusGauges(registry: Registry, dispatcher: DispatcherSurface): void {
  const status = () => dispatcher.getStatus();
  gauge(registry, METRICS.limiterActive, () => status().limiter.activePromises ?? 0);
  gauge(registry, METRICS.limiterQueued, () => status().limiter.queuedPromises ?? 0);
  gauge(registry, METRICS.limiterLimit, () => status().limiter.limit ?? 0);
  gauge(registry, METRICS.heapUsed, () => status().memory.heapUsed);
  gauge(registry, METRICS.up, () => (status().state === 'running' ? 1 : 0));
  new Gauge({
    name: METRICS.breakerState.name,
    help: METRICS.breakerState.help,
    labelNames: ['state'],
    registers: [registry],
    collect() {
      const current = status().breaker.state;
      for (const state of BREAKER_STATES) {
        this.set({ state }, state === current ? 1 : 0);
      }
    },
  });
}

function registerSharedLimitGauges(registry: Registry, read: () => SharedLimitView[]): void {
  new Gauge({
    name: METRICS.sharedFallback.name,
    help: METRICS.sharedFallback.help,
    labelNames: [...METRICS.sharedFallback.labels],
    registers: [registry],
    collect() {
      this.reset();
      for (const { name, concurrency, rate } of read()) {
        if (concurrency) {
          this.set({ name, limit: 'concurrency' }, concurrency.mode === 'local' ? 1 : 0);
        }

        if (rate) {
          this.set({ name, limit: 'rate' }, rate.mode === 'local' ? 1 : 0);
        }
      }
    },
  });
  new Gauge({
    name: METRICS.sharedHeld.name,
    help: METRICS.sharedHeld.help,
    labelNames: [...METRICS.sharedHeld.labels],
    registers: [registry],
    collect() {
      this.reset();
      for (const { name, concurrency } of read()) {
        if (concurrency) {
          this.set({ name }, concurrency.held);
        }
      }
    },
  });
}

function gauge(
  registry: Registry,
  spec: { name: string; help: string },
  read: () => number,
): Gauge {
  return new Gauge({
    name: spec.name,
    help: spec.help,
    registers: [registry],
    collect() {
      this.set(read());
    },
  });
}
