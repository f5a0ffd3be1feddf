import { EventEmitter } from 'node:events';

import type { OutboxEvent } from '../event.js';
import type { Publisher, PublishOptions } from '../publisher/contract.js';
import { checkName, checkPositiveInteger, type CoordinationEvents } from './events.js';
import { GlobalConcurrencyLimit, type Permit } from './global-concurrency.js';
import { GlobalRateLimit } from './global-rate.js';
import { resolveRedis, type RedisConnection, type RedisSource } from './redis-connection.js';

export interface GlobalLimitsOptions {
  /** An ioredis client, or a `redis://` URL to open one (closed again by `close()`). */
  redis: RedisSource;
  /** The most publishes in flight at once across every dispatcher. Default: no shared cap. */
  concurrency?: number;
  /** The most publishes per `rateIntervalMs` across every dispatcher. Default: no shared rate. */
  rate?: number;
  /** The rate's interval, in milliseconds (a whole number of seconds). Default 1000. */
  rateIntervalMs?: number;
  /**
   * What one limit covers: `publisher` (default) shares one budget among all events of this
   * publisher; `type` gives each event type its own budget of the same size.
   */
  scope?: 'publisher' | 'type';
  /** The name the budgets are shared under. Default: the publisher's `name`. */
  name?: string;
  /** A permit's lease, in milliseconds. Default 10 000 (see `GlobalConcurrencyOptions`). */
  leaseMs?: number;
  /** How often a waiting publish asks Redis again for a permit, in milliseconds. Default 20. */
  retryIntervalMs?: number;
  /** Limits applied in-process while Redis is unreachable. Default: the shared figures. */
  fallback?: { concurrency?: number; rate?: number };
}

/** A publisher whose publishes pass shared limits first; emits the coordination events. */
export interface LimitedPublisher extends Publisher, EventEmitter<CoordinationEvents> {
  /** The shared limits created so far, by scope key (the name, or `name:type`). */
  readonly limits: ReadonlyMap<string, SharedLimits>;
}

export interface SharedLimits {
  readonly concurrency: GlobalConcurrencyLimit | undefined;
  readonly rate: GlobalRateLimit | undefined;
}

/**
 * Wraps a publisher so that every publish first takes one unit of a rate budget and a permit of a
 * concurrency limit, both shared through Redis with every dispatcher that uses the same name.
 * The permit is held for the whole publish and handed back when it settles. `close()` closes the
 * wrapped publisher, then the Redis connection if it was opened from a URL.
 *
 * ```ts
 * const limited = withGlobalLimits(publisher, { redis: 'redis://127.0.0.1:6379', concurrency: 8 });
 * limited.on('coordination:fallback', ({ error }) => logger.warn({ error }, 'Redis unreachable'));
 * ```
 */
export function withGlobalLimits(
  publisher: Publisher,
  options: GlobalLimitsOptions,
): LimitedPublisher {
  const concurrency =
    options.concurrency === undefined
      ? undefined
      : checkPositiveInteger('concurrency', options.concurrency);
  const rate = options.rate === undefined ? undefined : checkPositiveInteger('rate', options.rate);
  if (concurrency === undefined && rate === undefined) {
    throw new TypeError('withGlobalLimits needs `concurrency`, `rate` or both, got neither');
  }

  const scope = options.scope ?? 'publisher';
  if (scope !== 'publisher' && scope !== 'type') {
    throw new TypeError(`scope must be "publisher" or "type", got ${JSON.stringify(scope)}`);
  }

  const name = checkName('name', options.name ?? publisher.name);
  const connection = resolveRedis(options.redis, 'redis');

  return new LimitedPublisherImpl(publisher, connection, {
    ...options,
    concurrency,
    rate,
    scope,
    name,
  });
}

type ResolvedOptions = GlobalLimitsOptions & { scope: 'publisher' | 'type'; name: string };

class LimitedPublisherImpl extends EventEmitter<CoordinationEvents> implements LimitedPublisher {
  readonly name: string;
  readonly limits = new Map<string, SharedLimits>();
  readonly #inner: Publisher;
  readonly #connection: RedisConnection;
  readonly #options: ResolvedOptions;
  #closed = false;

  constructor(inner: Publisher, connection: RedisConnection, options: ResolvedOptions) {
    super();
    this.name = inner.name;
    this.#inner = inner;
    this.#connection = connection;
    this.#options = options;
  }

  async publish(event: OutboxEvent, options: PublishOptions): Promise<void> {
    const limits = this.#limitsFor(event.type);
    await limits.rate?.acquire(options.signal);
    let permit: Permit | undefined;
    if (limits.concurrency) {
      permit = await limits.concurrency.acquire(options.signal);
    }

    try {
      await this.#inner.publish(event, options);
    } finally {
      await permit?.release();
    }
  }

  async check(signal?: AbortSignal): Promise<void> {
    await this.#inner.check?.(signal);
  }

  async close(): Promise<void> {
    if (this.#closed) {
      return;
    }

    this.#closed = true;
    try {
      await this.#inner.close();
    } finally {
      for (const limits of this.limits.values()) {
        await limits.concurrency?.close();
        await limits.rate?.close();
      }

      await this.#connection.close();
    }
  }

  #limitsFor(type: string): SharedLimits {
    const options = this.#options;
    const key = options.scope === 'type' ? `${options.name}:${type}` : options.name;
    const existing = this.limits.get(key);
    if (existing) {
      return existing;
    }

    // Event types become part of a Redis key; keep unusual characters out of it.
    const keyName = key.replace(/[^\w.:-]/g, '_').slice(0, 200);
    const client = this.#connection.client;
    const concurrency =
      options.concurrency === undefined
        ? undefined
        : new GlobalConcurrencyLimit({
            redis: client,
            name: keyName,
            limit: options.concurrency,
            leaseMs: options.leaseMs,
            retryIntervalMs: options.retryIntervalMs,
            fallbackLimit: options.fallback?.concurrency,
          });
    const rate =
      options.rate === undefined
        ? undefined
        : new GlobalRateLimit({
            redis: client,
            name: keyName,
            limit: options.rate,
            intervalMs: options.rateIntervalMs,
            fallbackLimit: options.fallback?.rate,
          });
    for (const source of [concurrency, rate]) {
      source?.on('coordination:fallback', (payload) => this.emit('coordination:fallback', payload));
      source?.on('coordination:restored', (payload) => this.emit('coordination:restored', payload));
      source?.on('permit:lost', (payload) => this.emit('permit:lost', payload));
    }

    const limits = { concurrency, rate };
    this.limits.set(key, limits);

    return limits;
  }
}
