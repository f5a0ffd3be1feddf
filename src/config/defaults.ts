/**
 * Every default of the service, in one typed place. The dispatcher, the CLI and the settings
 * table (`settings.ts`) all read them from here, so a default is changed once.
 */
export const DEFAULTS = {
  /** The outbox table. */
  table: 'outbox',
  /** The schema of the outbox table (PostgreSQL). */
  schema: 'public',
  /** Whether to wake on the database's insert notifications. */
  notify: true,
  /** Where events are published. */
  publisherUrl: 'stdout:',
  /** The longest sleep between two claims while the outbox is empty, in milliseconds. */
  pollIntervalMs: 5_000,
  /** The most events claimed by one query. */
  batchSize: 50,
  /** Events claimed beyond the free slots, waiting in the limiter's queue. */
  prefetch: 0,
  /** Claim queries in flight at once. */
  claimers: 1,
  /** The most events of one ordering key a claim may hold, published one after another. */
  claimPerKey: 1,
  /** The most events published at the same time by one dispatcher. */
  concurrency: 10,
  /** How long a claim lasts before another dispatcher may take the event, in milliseconds. */
  leaseMs: 30_000,
  /** Attempts before an event is dead-lettered. */
  maxAttempts: 10,
  /** The first retry delay (before jitter), in milliseconds; it doubles with each attempt. */
  retryBaseMs: 1_000,
  /** The longest retry delay, in milliseconds. */
  retryMaxMs: 300_000,
  /** How long one publish may take before it is aborted and retried, in milliseconds. */
  publishTimeoutMs: 10_000,
  /** How long `stop()` waits for the events in flight before aborting them, in milliseconds. */
  shutdownTimeoutMs: 30_000,
  /** How often the heap is checked, in milliseconds. */
  memoryCheckIntervalMs: 10_000,
  /** Heap use (percent of the heap limit) above which `memory:high` is emitted. */
  maxHeapPercent: 90,
  /** How long delivered events are kept before they are purged, in milliseconds (0: at once). */
  retentionMs: 0,
  /** How often the store's figures are refreshed for the status, in milliseconds. */
  statsIntervalMs: 5_000,
  /** The longest wait before completed acknowledgements are written, in milliseconds. */
  ackFlushMs: 10,
  /** The first idle sleep after an empty claim, in milliseconds; it doubles up to the poll. */
  idleMinMs: 20,
  /** The interface the HTTP server listens on. */
  httpHost: '127.0.0.1',
  /** The log level. */
  logLevel: 'info',
} as const;
