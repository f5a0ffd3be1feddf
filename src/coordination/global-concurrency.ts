import { EventEmitter } from 'node:events';
import { Semaphore } from 'redis-semaphore';
import type { Redis } from 'ioredis';

import { checkName, checkPositiveInteger, type CoordinationEvents } from './events.js';
import { LocalSemaphore } from './local-semaphore.js';
import {
  describeError,
  isRedisUsable,
  resolveRedis,
  type RedisConnection,
} from './redis-connection.js';
import type { RedisSource } from './redis-connection.js';

export interface GlobalConcurrencyOptions {
  /** An ioredis client, or a `redis://` URL to open one (closed again by `close()`). */
  redis: RedisSource;
  /** The limit's name: every process using the same name (and Redis) shares its permits. */
  name: string;
  /** The most permits held at once across every process sharing the name. */
  limit: number;
  /**
   * How long a permit lasts without being extended, in milliseconds. Default 10 000. A holder
   * extends its permits every `0.8 × leaseMs`; a crashed holder's permits free up after at most
   * this long. Keep it well above the clock difference between the machines.
   */
  leaseMs?: number;
  /** How often a waiting caller asks Redis again, in milliseconds. Default 20. */
  retryIntervalMs?: number;
  /** The in-process limit applied while Redis is unreachable. Default: `limit`. */
  fallbackLimit?: number;
  /** Prefix of the Redis key (`semaphore:<prefix><name>`). Default `outbox:`. */
  keyPrefix?: string;
}

/** A held permit. `release()` is idempotent and never rejects. */
export interface Permit {
  /** `true` when the permit came from Redis, `false` when from the local fallback. */
  readonly shared: boolean;
  release(): Promise<void>;
}

/**
 * A concurrency limit shared by every process that uses the same Redis and name, built on
 * redis-semaphore's counting semaphore (a sorted set of leased holders). While Redis cannot be
 * reached, permits come from an in-process semaphore of `fallbackLimit` and a
 * `coordination:fallback` warning is emitted, so delivery goes on at the local limit.
 */
export class GlobalConcurrencyLimit extends EventEmitter<CoordinationEvents> {
  readonly name: string;
  readonly limit: number;
  readonly leaseMs: number;
  readonly #key: string;
  readonly #retryIntervalMs: number;
  readonly #connection: RedisConnection;
  readonly #local: LocalSemaphore;
  #sharedActive = 0;
  #mode: 'shared' | 'local' = 'shared';
  #closed = false;

  constructor(options: GlobalConcurrencyOptions) {
    super();
    this.name = checkName('name', options.name);
    this.limit = checkPositiveInteger('limit', options.limit);
    this.leaseMs = checkPositiveInteger('leaseMs', options.leaseMs ?? 10_000);
    this.#retryIntervalMs = checkPositiveInteger('retryIntervalMs', options.retryIntervalMs ?? 20);
    const fallbackLimit = checkPositiveInteger(
      'fallbackLimit',
      options.fallbackLimit ?? this.limit,
    );
    this.#key = `${options.keyPrefix ?? 'outbox:'}${this.name}`;
    this.#local = new LocalSemaphore(fallbackLimit);
    this.#connection = resolveRedis(options.redis, 'redis');
  }

  /** `shared` while permits come from Redis, `local` while the fallback applies. */
  get mode(): 'shared' | 'local' {
    return this.#mode;
  }

  /** Permits this process holds now (shared and local). */
  get active(): number {
    return this.#sharedActive + this.#local.active;
  }

  /** The Redis client in use. */
  get client(): Redis {
    return this.#connection.client;
  }

  /**
   * Waits for a permit. Rejects with the signal's reason when it aborts first. Falls back to the
   * local limit (and emits `coordination:fallback`) when Redis fails to answer.
   */
  async acquire(signal?: AbortSignal): Promise<Permit> {
    if (this.#closed) {
      throw new Error(`the shared concurrency limit "${this.name}" is closed`);
    }

    signal?.throwIfAborted();
    const client = this.#connection.client;
    if (!(await isRedisUsable(client))) {
      return this.#acquireLocal(new Error(`Redis is ${client.status}`), signal);
    }

    const semaphore = new Semaphore(client, this.#key, this.limit, {
      lockTimeout: this.leaseMs,
      acquireTimeout: Number.POSITIVE_INFINITY,
      retryInterval: this.#retryIntervalMs,
      refreshInterval: 0,
    });
    try {
      await semaphore.acquire(signal);
    } catch (error) {
      if (signal?.aborted) {
        throw signal.reason;
      }

      return this.#acquireLocal(error, signal);
    }

    this.#restored();

    return this.#sharedPermit(semaphore);
  }

  /** How many permits are held across every process, as Redis counts them (expired ones aside). */
  async globalActive(): Promise<number> {
    const now = Date.now();

    return this.#connection.client.zcount(`semaphore:${this.#key}`, now - this.leaseMs, '+inf');
  }

  /** Closes the Redis connection if this limit opened it. Held permits expire with their lease. */
  async close(): Promise<void> {
    this.#closed = true;
    await this.#connection.close();
  }

  #sharedPermit(semaphore: Semaphore): Permit {
    this.#sharedActive += 1;
    const timer = setInterval(() => this.#extend(semaphore, timer), Math.round(this.leaseMs * 0.8));
    timer.unref();
    let released = false;

    return {
      shared: true,
      release: async () => {
        if (released) {
          return;
        }

        released = true;
        clearInterval(timer);
        this.#sharedActive -= 1;
        // When Redis is gone the permit cannot be handed back: its lease ends it instead.
        await semaphore.release().catch(() => {});
      },
    };
  }

  #extend(semaphore: Semaphore, timer: NodeJS.Timeout): void {
    const renewal = new Semaphore(this.#connection.client, this.#key, this.limit, {
      identifier: semaphore.identifier,
      acquiredExternally: true,
      lockTimeout: this.leaseMs,
      refreshInterval: 0,
    });
    renewal.tryAcquire().then(
      (extended) => {
        if (!extended) {
          clearInterval(timer);
          this.emit('permit:lost', { name: this.name, error: 'the lease had already expired' });
        }
      },
      (error: unknown) => {
        // Keep trying at the next tick: Redis may answer again before the lease ends.
        this.emit('permit:lost', { name: this.name, error: describeError(error) });
      },
    );
  }

  async #acquireLocal(cause: unknown, signal?: AbortSignal): Promise<Permit> {
    if (this.#mode === 'shared') {
      this.#mode = 'local';
      this.emit('coordination:fallback', {
        name: this.name,
        limit: 'concurrency',
        error: describeError(cause),
      });
    }

    await this.#local.acquire(signal);
    let released = false;

    return {
      shared: false,
      release: async () => {
        if (released) {
          return;
        }

        released = true;
        this.#local.release();
      },
    };
  }

  #restored(): void {
    if (this.#mode === 'local') {
      this.#mode = 'shared';
      this.emit('coordination:restored', { name: this.name, limit: 'concurrency' });
    }
  }
}
