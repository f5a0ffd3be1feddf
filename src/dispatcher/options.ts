import type { Logger } from 'pino';
import { DEFAULTS } from '../config/defaults.js';
import type { AdaptiveOptions, CircuitBreakerOptions } from '../limiter/index.js';
import type { Publisher } from '../publisher/contract.js';
import type { OutboxStore } from '../store/contract.js';

/** Options of `OutboxDispatcher`. Times are in milliseconds. */
export interface DispatcherOptions {
  /** Where events come from. The dispatcher does not close it: its owner does. */
  store: OutboxStore;
  /** Where events go. The dispatcher does not close it: its owner does. */
  publisher: Publisher;
  /** A pino logger; one line per batch at `info`, one per event at `debug`. Default: silent. */
  logger?: Logger;
  /** Most events published at once. Default 10. */
  concurrency?: number;
  /** Most events claimed per query (never more than the limiter has room for). Default 50. */
  batchSize?: number;
  /**
   * Events claimed beyond the free slots, to wait in the limiter's queue for the next free slot
   * (fewer, larger claims when publishes are quick). `0` claims only what starts at once. Each
   * queued event waits at most `ceil(prefetch / concurrency)` publishes, so `leaseMs` must be at
   * least `publishTimeoutMs × (2 + ceil(prefetch / concurrency))`. Default 0.
   */
  prefetch?: number;
  /**
   * Claim queries in flight at once, sharing the room (each for up to `batchSize` events). More
   * than one helps when claims are slow compared with publishes; it needs room for several
   * batches, that is a `prefetch` of at least `batchSize`. Default 1.
   */
  claimers?: number;
  /**
   * The most events of one ordering key a claim may hold: the key's next pending events, in id
   * order, published one after another under the claim's lease. When one of them is not
   * delivered, the later ones are handed back unpublished (their attempt not counted). Above 1,
   * fewer claims serve many events per key; the lease must then cover a whole run:
   * `leaseMs ≥ publishTimeoutMs × (claimPerKey + 1 + ceil(prefetch / concurrency))`. An integer
   * from 1 to 10000. Default 1.
   */
  claimPerKey?: number;
  /** Longest idle sleep between claims, in ms; the store's wake-ups cut it short. Default 5000. */
  pollIntervalMs?: number;
  /** First idle sleep after an empty claim, in ms; doubles up to `pollIntervalMs`. Default 20. */
  idleMinMs?: number;
  /**
   * Claim lease, in ms. Must be at least twice `publishTimeoutMs`: a publish always ends (or is
   * aborted) well before its lease, so leases are never extended. Default 30000.
   */
  leaseMs?: number;
  /** Longest publish before it is aborted and retried, in ms. Default 10000. */
  publishTimeoutMs?: number;
  /** Attempts before an event is dead-lettered; give the store the same. Default 10. */
  maxAttempts?: number;
  /** First retry delay before jitter, in ms. Default 1000. */
  retryBaseMs?: number;
  /** Longest retry delay, in ms. Default 300000. */
  retryMaxMs?: number;
  /** Limits per event type or glob pattern (`order.*`) inside `concurrency`. Default none. */
  typeConcurrency?: Readonly<Record<string, number>>;
  /** Claim only these event types (exact names). Default: all. */
  types?: readonly string[];
  /** How long `stop()` waits for the events in flight before aborting them, ms. Default 30000. */
  shutdownTimeoutMs?: number;
  /** Heap check period, in ms. Default 10000. */
  memoryCheckIntervalMs?: number;
  /** Heap use that emits `memory:high`, in percent of the heap limit. Default 90. */
  maxHeapPercent?: number;
  /** How often the store's figures are refreshed for `getStatus()`, in ms. Default 5000. */
  statsIntervalMs?: number;
  /** Longest wait before outcomes are written to the store, in ms. Default 10. */
  ackFlushMs?: number;
  /** Outcomes that trigger a write at once. Default 1000. */
  ackMaxPending?: number;
  /** Longest backoff between two tries while the store is unreachable, in ms. Default 5000. */
  storeRetryMaxMs?: number;
  /** The publisher's circuit breaker; `false` for none. Default: the limiter's defaults. */
  breaker?: CircuitBreakerOptions | false;
  /** AIMD adaptive concurrency, opt-in: `concurrency` is then the initial limit. Default off. */
  adaptive?: AdaptiveOptions | false;
  /** A source of numbers in [0, 1) for the retry jitter. Default `Math.random`. */
  random?: () => number;
}

export type ResolvedOptions = Required<
  Omit<DispatcherOptions, 'logger' | 'types' | 'breaker' | 'adaptive' | 'random'>
> &
  Pick<DispatcherOptions, 'types' | 'breaker' | 'adaptive' | 'random'>;

function integer(name: string, value: unknown, fallback: number, min: number, max = 1e12) {
  if (value === undefined) return fallback;

  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new RangeError(
      `${name} must be an integer from ${min} to ${max}, got ${JSON.stringify(value)}`,
    );
  }

  return value;
}

/** Checks the options; throws a TypeError or RangeError naming the option and the value. */
export function resolveOptions(options: DispatcherOptions): ResolvedOptions {
  if (typeof options !== 'object' || options === null) {
    throw new TypeError('OutboxDispatcher needs an options object with a store and a publisher');
  }

  if (typeof options.store?.claim !== 'function') {
    throw new TypeError('store must be an OutboxStore (an object with claim, complete, fail…)');
  }

  if (typeof options.publisher?.publish !== 'function') {
    throw new TypeError('publisher must be a Publisher (an object with publish and close)');
  }

  const resolved: ResolvedOptions = {
    store: options.store,
    publisher: options.publisher,
    concurrency: integer('concurrency', options.concurrency, DEFAULTS.concurrency, 1),
    batchSize: integer('batchSize', options.batchSize, DEFAULTS.batchSize, 1, 10_000),
    prefetch: integer('prefetch', options.prefetch, DEFAULTS.prefetch, 0, 10_000),
    claimers: integer('claimers', options.claimers, DEFAULTS.claimers, 1, 16),
    claimPerKey: integer('claimPerKey', options.claimPerKey, DEFAULTS.claimPerKey, 1, 10_000),
    pollIntervalMs: integer('pollIntervalMs', options.pollIntervalMs, DEFAULTS.pollIntervalMs, 1),
    idleMinMs: integer('idleMinMs', options.idleMinMs, DEFAULTS.idleMinMs, 1),
    leaseMs: integer('leaseMs', options.leaseMs, DEFAULTS.leaseMs, 1),
    publishTimeoutMs: integer(
      'publishTimeoutMs',
      options.publishTimeoutMs,
      DEFAULTS.publishTimeoutMs,
      1,
    ),
    maxAttempts: integer('maxAttempts', options.maxAttempts, DEFAULTS.maxAttempts, 1),
    retryBaseMs: integer('retryBaseMs', options.retryBaseMs, DEFAULTS.retryBaseMs, 1),
    retryMaxMs: integer('retryMaxMs', options.retryMaxMs, DEFAULTS.retryMaxMs, 1),
    typeConcurrency: options.typeConcurrency ?? {},
    shutdownTimeoutMs: integer(
      'shutdownTimeoutMs',
      options.shutdownTimeoutMs,
      DEFAULTS.shutdownTimeoutMs,
      0,
    ),
    memoryCheckIntervalMs: integer(
      'memoryCheckIntervalMs',
      options.memoryCheckIntervalMs,
      DEFAULTS.memoryCheckIntervalMs,
      1,
    ),
    maxHeapPercent: integer(
      'maxHeapPercent',
      options.maxHeapPercent,
      DEFAULTS.maxHeapPercent,
      1,
      100,
    ),
    statsIntervalMs: integer(
      'statsIntervalMs',
      options.statsIntervalMs,
      DEFAULTS.statsIntervalMs,
      1,
    ),
    ackFlushMs: integer('ackFlushMs', options.ackFlushMs, DEFAULTS.ackFlushMs, 0),
    ackMaxPending: integer('ackMaxPending', options.ackMaxPending, 1000, 1),
    storeRetryMaxMs: integer('storeRetryMaxMs', options.storeRetryMaxMs, 5000, 1),
    types: options.types,
    breaker: options.breaker,
    adaptive: options.adaptive,
    random: options.random,
  };

  const waits = leaseWaits(resolved);
  if (resolved.leaseMs < waits * resolved.publishTimeoutMs) {
    const runs = resolved.claimPerKey > 1 ? ` and claimPerKey ${resolved.claimPerKey}` : '';
    throw new RangeError(
      `leaseMs must be at least ${waits} × publishTimeoutMs (${resolved.publishTimeoutMs}) with ` +
        `prefetch ${resolved.prefetch}${runs}, got ${resolved.leaseMs}: a claimed event must ` +
        'always be published (or aborted) before its lease ends',
    );
  }

  return resolved;
}

/**
 * How many publish timeouts a lease must outlast: the event's own publish, one for the
 * acknowledgement, the publishes queued ahead of it (`prefetch`), and those of the earlier
 * events of its run (`claimPerKey`).
 */
export function leaseWaits(options: {
  prefetch: number;
  concurrency: number;
  claimPerKey: number;
}): number {
  return options.claimPerKey + 1 + Math.ceil(options.prefetch / options.concurrency);
}
