/**
 * The PostgreSQL outbox store: claims with `FOR UPDATE SKIP LOCKED` and a lease, in one
 * statement, holding no transaction open while events are published (see `claim.ts`); each
 * acknowledgement is one statement (see `acks.ts`).
 */
import pg from 'pg';
import type {
  AckResult,
  Claim,
  ClaimOptions,
  DeadEvent,
  DeadLetterItem,
  DeadSelection,
  FailedAttempt,
  ListDeadOptions,
  OutboxStats,
  OutboxStore,
  PurgeOptions,
} from '../contract.js';
import { StoreUnavailableError, isPgConnectionError } from '../errors.js';
import {
  checkIdentifier,
  checkInteger,
  resolveCommonOptions,
  type CommonStoreOptions,
  type ResolvedCommonOptions,
} from '../options.js';
import { callSafely, subscribeWake } from '../wake.js';
import { PostgresAcks } from './acks.js';
import { PostgresClaimer } from './claim.js';
import type { PgContext } from './context.js';
import { WakeListener } from './listener.js';
import { migratePostgres, wakeChannel, type PgNames } from './migrations.js';
import * as operator from './operator.js';
import { ownPoolConfig } from './pool-config.js';
import { clientConfig, describeTarget } from './rows.js';

export interface PostgresStoreOptions extends CommonStoreOptions {
  /** A `pg` pool to use. The store never ends a pool it was given. */
  pool?: pg.Pool;
  /** A connection string (`postgres://user:password@host:5432/db`), when no pool is given. */
  connectionString?: string;
  /**
   * Connections of the pool the store creates from `connectionString`. Default 10. That pool's
   * sessions run with `jit = off` and `plan_cache_mode = force_generic_plan` (see
   * docs/store.md) unless the connection string sets `options` itself.
   */
  poolSize?: number;
  /**
   * Whether the pool the store creates waits for each of its own commits to reach the disk
   * (claims, acknowledgements, retries, dead letters, operator actions). Default `false`: its
   * sessions run with `synchronous_commit = off`, which saves a WAL flush per claim and per
   * acknowledgement. Nothing is lost on a database crash: the events were written by the
   * producers' own, durable transactions; what the crash may undo is the last fraction of a
   * second of the store's bookkeeping, so some events come back and are delivered again (at
   * least once, as after a dispatcher crash). Set `true` to keep such repeats to the minimum.
   */
  synchronousCommit?: boolean;
  /** The schema of the outbox tables. Default `public`. */
  schema?: string;
  /**
   * Listen for the insert notifications of the outbox (one dedicated connection). Set `false`
   * behind a pooler in transaction mode (PgBouncer), where LISTEN cannot work: the dispatcher
   * then relies on polling alone. Default `true`.
   */
  notify?: boolean;
  /** First delay before the listening connection reconnects, in milliseconds. Default 100. */
  reconnectMinMs?: number;
  /** Longest delay between reconnection attempts, in milliseconds. Default 5000. */
  reconnectMaxMs?: number;
}

export class PostgresStore implements OutboxStore {
  readonly kind = 'postgres';
  readonly options: Readonly<ResolvedCommonOptions & { schema: string; notify: boolean }>;

  readonly #pool: pg.Pool;
  readonly #ownsPool: boolean;
  readonly #names: PgNames;
  readonly #target: string;
  readonly #listeners = new Set<() => void>();
  readonly #reconnect: { min: number; max: number };
  #listener: WakeListener | undefined;
  #unsubscribeLocal: (() => void) | undefined;
  #closed = false;
  readonly #context: operator.OperatorContext;
  readonly #claimer: PostgresClaimer;
  readonly #acks: PostgresAcks;

  constructor(options: PostgresStoreOptions) {
    const common = resolveCommonOptions(options);
    const schema = checkIdentifier('schema', options.schema ?? 'public');
    const notify = options.notify ?? true;
    if (typeof notify !== 'boolean') {
      throw new TypeError(`notify must be a boolean; got ${String(notify)}`);
    }

    this.#reconnect = {
      min: checkInteger('reconnectMinMs', options.reconnectMinMs ?? 100, 1),
      max: checkInteger('reconnectMaxMs', options.reconnectMaxMs ?? 5000, 1),
    };
    this.options = { ...common, schema, notify };
    this.#names = { schema, table: common.table };

    if (options.pool !== undefined) {
      this.#pool = options.pool;
      this.#ownsPool = false;
    } else if (typeof options.connectionString === 'string') {
      this.#pool = new pg.Pool(
        ownPoolConfig(
          options.connectionString,
          checkInteger('poolSize', options.poolSize ?? 10, 1),
          options.synchronousCommit === true,
        ),
      );
      // An idle connection dropped by a server restart must not crash the process.
      this.#pool.on('error', () => undefined);
      this.#ownsPool = true;
    } else {
      throw new TypeError('PostgresStore needs a pool or a connectionString; got neither');
    }

    this.#target = describeTarget(this.#pool);

    const names = this.#names;
    this.#context = {
      names,
      options: this.options,
      query: (config) => this.#run(() => this.#pool.query(config)),
    };
    const parts: PgContext = {
      pool: this.#pool,
      names,
      options: this.options,
      run: (operation) => this.#run(operation),
    };
    this.#acks = new PostgresAcks(parts);
    this.#claimer = new PostgresClaimer(parts, this.#acks);
  }

  /** Whether the LISTEN connection is subscribed right now (false with `notify: false`). */
  get listening(): boolean {
    return this.#listener?.listening ?? false;
  }

  /** The key under which in-process `enqueue` calls wake this store. */
  get wakeKey(): string {
    return `postgres:${this.#names.schema}.${this.#names.table}`;
  }

  async migrate(): Promise<void> {
    await this.#run(() => migratePostgres(this.#pool, this.#names));
  }

  async claim(options: ClaimOptions): Promise<Claim> {
    return this.#claimer.claim(options);
  }

  async complete(token: string, ids: readonly string[]): Promise<AckResult> {
    return this.#acks.complete(token, ids);
  }

  async fail(token: string, failures: readonly FailedAttempt[]): Promise<AckResult> {
    return this.#acks.fail(token, failures);
  }

  async deadLetter(token: string, items: readonly DeadLetterItem[]): Promise<AckResult> {
    return this.#acks.deadLetter(token, items);
  }

  async release(token: string, ids: readonly string[]): Promise<AckResult> {
    return this.#acks.release(token, ids);
  }

  async extendLease(token: string, ids: readonly string[], leaseMs: number): Promise<AckResult> {
    return this.#acks.extendLease(token, ids, leaseMs);
  }

  async listDead(options: ListDeadOptions = {}): Promise<DeadEvent[]> {
    return operator.listDead(this.#context, options);
  }

  async requeueDead(selection: DeadSelection): Promise<number> {
    const count = await operator.requeueDead(this.#context, selection);
    if (count > 0) this.#wakeAll();

    return count;
  }

  async purgeDelivered(options: PurgeOptions = {}): Promise<number> {
    return operator.purgeDelivered(this.#context, options);
  }

  async setPaused(type: string, paused: boolean): Promise<void> {
    await operator.setPaused(this.#context, type, paused);
    if (!paused) this.#wakeAll();
  }

  async listPaused(): Promise<string[]> {
    return operator.listPaused(this.#context);
  }

  async stats(): Promise<OutboxStats> {
    return operator.stats(this.#context);
  }

  onWake(listener: () => void): () => void {
    this.#listeners.add(listener);
    this.#unsubscribeLocal ??= subscribeWake(this.wakeKey, () => this.#wakeAll());
    if (this.options.notify && this.#listener === undefined && !this.#closed) {
      this.#listener = new WakeListener({
        client: clientConfig(this.#pool),
        channel: wakeChannel(this.#names),
        onWake: () => this.#wakeAll(),
        reconnectMinMs: this.#reconnect.min,
        reconnectMaxMs: this.#reconnect.max,
      });
    }

    return () => {
      this.#listeners.delete(listener);
    };
  }

  async ping(): Promise<void> {
    await this.#run(() => this.#pool.query('SELECT 1'));
  }

  async close(): Promise<void> {
    if (this.#closed) return;

    this.#closed = true;
    this.#listeners.clear();
    this.#unsubscribeLocal?.();
    await this.#listener?.close().catch(() => undefined);
    await this.#claimer.analyzing;
    if (this.#ownsPool) await this.#pool.end().catch(() => undefined);
  }

  #wakeAll(): void {
    for (const listener of [...this.#listeners]) callSafely(listener);
  }

  async #run<T>(operation: () => Promise<T>): Promise<T> {
    try {
      return await operation();
    } catch (error) {
      if (isPgConnectionError(error)) {
        throw new StoreUnavailableError('postgres', this.#target, error);
      }

      throw error;
    }
  }
}
