import { EventEmitter } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { RateLimiterMemory, RateLimiterRedis, RateLimiterRes } from 'rate-limiter-flexible';

import { checkName, checkPositiveInteger, type CoordinationEvents } from './events.js';
import {
  describeError,
  isRedisUsable,
  resolveRedis,
  type RedisConnection,
} from './redis-connection.js';
import type { RedisSource } from './redis-connection.js';

export interface GlobalRateOptions {
  /** An ioredis client, or a `redis://` URL to open one (closed again by `close()`). */
  redis: RedisSource;
  /** The limit's name: every process using the same name (and Redis) shares the budget. */
  name: string;
  /** The most publishes per interval across every process sharing the name. */
  limit: number;
  /** The interval, in milliseconds: a whole number of seconds. Default 1000. */
  intervalMs?: number;
  /** The in-process budget per interval while Redis is unreachable. Default: `limit`. */
  fallbackLimit?: number;
  /** Prefix of the Redis key. Default `outbox:rate:`. */
  keyPrefix?: string;
}

/**
 * A rate limit shared through Redis by every process using the same name: a fixed-window counter
 * (rate-limiter-flexible's `RateLimiterRedis`, one atomic INCR per call). Callers over the budget
 * wait for the next window. A fixed window may let up to twice the budget through across a window
 * boundary; pick the interval with that in mind. While Redis cannot be reached an in-process
 * counter of `fallbackLimit` applies and `coordination:fallback` is emitted.
 */
export class GlobalRateLimit extends EventEmitter<CoordinationEvents> {
  readonly name: string;
  readonly limit: number;
  readonly intervalMs: number;
  readonly #connection: RedisConnection;
  readonly #shared: RateLimiterRedis;
  readonly #local: RateLimiterMemory;
  #mode: 'shared' | 'local' = 'shared';
  #closed = false;

  constructor(options: GlobalRateOptions) {
    super();
    this.name = checkName('name', options.name);
    this.limit = checkPositiveInteger('limit', options.limit);
    this.intervalMs = checkPositiveInteger('intervalMs', options.intervalMs ?? 1000);
    if (this.intervalMs % 1000 !== 0) {
      throw new RangeError(
        `intervalMs must be a whole number of seconds (a multiple of 1000), got ${this.intervalMs}`,
      );
    }

    const fallbackLimit = checkPositiveInteger(
      'fallbackLimit',
      options.fallbackLimit ?? this.limit,
    );
    this.#connection = resolveRedis(options.redis, 'redis');
    const duration = this.intervalMs / 1000;
    this.#shared = new RateLimiterRedis({
      storeClient: this.#connection.client,
      keyPrefix: `${options.keyPrefix ?? 'outbox:rate:'}${this.name}`,
      points: this.limit,
      duration,
      rejectIfRedisNotReady: true,
    });
    this.#local = new RateLimiterMemory({ points: fallbackLimit, duration });
  }

  /** `shared` while Redis counts, `local` while the fallback applies. */
  get mode(): 'shared' | 'local' {
    return this.#mode;
  }

  /**
   * Waits until one more publish fits in the budget. Rejects with the signal's reason when it
   * aborts first.
   */
  async acquire(signal?: AbortSignal): Promise<void> {
    for (;;) {
      if (this.#closed) {
        throw new Error(`the shared rate limit "${this.name}" is closed`);
      }

      signal?.throwIfAborted();
      const waitMs = await this.#consume();
      if (waitMs === 0) {
        return;
      }

      await sleep(waitMs, undefined, signal ? { signal } : undefined).catch((error: unknown) => {
        throw signal?.aborted ? signal.reason : error;
      });
    }
  }

  /** Closes the Redis connection if this limit opened it. */
  async close(): Promise<void> {
    this.#closed = true;
    await this.#connection.close();
  }

  /** Takes one point; returns 0 when taken, else how long to wait before asking again. */
  async #consume(): Promise<number> {
    const client = this.#connection.client;
    if (!(await isRedisUsable(client))) {
      this.#fallBack(undefined, client.status);

      return this.#consumeLocal();
    }

    try {
      await this.#shared.consume('all');
    } catch (outcome) {
      if (outcome instanceof RateLimiterRes) {
        this.#restored();

        return Math.max(1, outcome.msBeforeNext);
      }

      this.#fallBack(outcome, client.status);

      return this.#consumeLocal();
    }

    this.#restored();

    return 0;
  }

  async #consumeLocal(): Promise<number> {
    try {
      await this.#local.consume('all');
    } catch (outcome) {
      return outcome instanceof RateLimiterRes ? Math.max(1, outcome.msBeforeNext) : 10;
    }

    return 0;
  }

  #fallBack(cause: unknown, status: string): void {
    if (this.#mode === 'shared') {
      this.#mode = 'local';
      const error = cause instanceof Error ? describeError(cause) : `Redis is ${status}`;
      this.emit('coordination:fallback', { name: this.name, limit: 'rate', error });
    }
  }

  #restored(): void {
    if (this.#mode === 'local') {
      this.#mode = 'shared';
      this.emit('coordination:restored', { name: this.name, limit: 'rate' });
    }
  }
}
