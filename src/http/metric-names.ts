/**
 * Every metric the endpoint exports: name, help text (with the unit) and labels, defined once.
 * Names follow Prometheus conventions: `_total` for counters, base units (seconds, bytes).
 */
export const METRICS = {
  delivered: {
    name: 'outbox_events_delivered_total',
    help: 'Events published and confirmed by the destination, by event type and publisher.',
    labels: ['type', 'publisher'],
  },
  retried: {
    name: 'outbox_events_retried_total',
    help: 'Failed publish attempts scheduled for a retry, by event type and publisher.',
    labels: ['type', 'publisher'],
  },
  deadLettered: {
    name: 'outbox_events_dead_lettered_total',
    help: 'Events dead-lettered by this dispatcher, by event type and publisher.',
    labels: ['type', 'publisher'],
  },
  publishDuration: {
    name: 'outbox_publish_duration_seconds',
    help: 'Time from the start of a publish to its confirmation, in seconds, by publisher.',
    labels: ['publisher'],
  },
  pending: {
    name: 'outbox_events_pending',
    help: 'Events available for delivery and not leased, by event type (paused types included).',
    labels: ['type'],
  },
  inFlight: {
    name: 'outbox_events_in_flight',
    help: 'Events leased by a dispatcher, by event type.',
    labels: ['type'],
  },
  scheduled: {
    name: 'outbox_events_scheduled',
    help: 'Events waiting for a later delivery time (retries, scheduled events), by event type.',
    labels: ['type'],
  },
  dead: {
    name: 'outbox_events_dead',
    help: 'Dead-lettered events waiting for an operator, by event type.',
    labels: ['type'],
  },
  oldestPendingAge: {
    name: 'outbox_oldest_pending_age_seconds',
    help: 'Age of the oldest pending event, in seconds, by event type.',
    labels: ['type'],
  },
  lag: {
    name: 'outbox_lag_seconds',
    help: 'Age of the oldest pending event of any type, in seconds; 0 when none is pending.',
    labels: [],
  },
  storeUp: {
    name: 'outbox_store_up',
    help: '1 when the last read of the outbox figures succeeded, else 0.',
    labels: [],
  },
  storeStatsAge: {
    name: 'outbox_store_stats_age_seconds',
    help: 'How old the exported outbox figures are, in seconds.',
    labels: [],
  },
  paused: {
    name: 'outbox_type_paused',
    help: '1 for each event type whose delivery is paused.',
    labels: ['type'],
  },
  limiterActive: {
    name: 'outbox_limiter_active',
    help: 'Publishes running in the limiter now.',
    labels: [],
  },
  limiterQueued: {
    name: 'outbox_limiter_queued',
    help: 'Publishes waiting in the limiter now.',
    labels: [],
  },
  limiterLimit: {
    name: 'outbox_limiter_limit',
    help: "The limiter's current concurrency limit (the adaptive limit moves it).",
    labels: [],
  },
  breakerState: {
    name: 'outbox_circuit_breaker_state',
    help: 'The circuit breaker state: 1 for the current state, 0 for the others.',
    labels: ['state'],
  },
  heapUsed: {
    name: 'outbox_heap_used_bytes',
    help: 'V8 heap in use, in bytes, as the dispatcher last read it.',
    labels: [],
  },
  sharedFallback: {
    name: 'outbox_shared_limit_fallback',
    help: '1 while a limit shared through Redis applies only locally (Redis unreachable), else 0.',
    labels: ['name', 'limit'],
  },
  sharedHeld: {
    name: 'outbox_shared_permits_held',
    help: 'Permits of a shared concurrency limit this process holds now.',
    labels: ['name'],
  },
  up: {
    name: 'outbox_dispatcher_running',
    help: '1 while the dispatcher is running, else 0.',
    labels: [],
  },
} as const;

/** Buckets of the publish duration histogram, in seconds. */
export const PUBLISH_DURATION_BUCKETS = [
  0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30,
];

/** The breaker states, in the order of the `state` label values. */
export const BREAKER_STATES = ['closed', 'half-open', 'open'] as const;
