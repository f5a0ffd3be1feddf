/**
 * The embedded SQLite outbox store (better-sqlite3): WAL mode, a busy timeout, one writer at a
 * time. Each claim is one IMMEDIATE transaction that leases the events and dead-letters the
 * unreadable ones (see `claim.ts`); each acknowledgement is one more (see `acks.ts`). Wake-ups
 * are in-process: an `enqueue` through this process reaches the store at once; dispatchers in
 * other processes sharing the file find new events by polling.
 */
import Database from 'better-sqlite3';
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
import { StoreUnavailableError, isSqliteUnavailableError } from '../errors.js';
import {
  checkInteger,
  resolveCommonOptions,
  type CommonStoreOptions,
  type ResolvedCommonOptions,
} from '../options.js';
import { callSafely, subscribeWake } from '../wake.js';
import { SqliteAcks } from './acks.js';
import { SqliteClaimer } from './claim.js';
import type { SqliteContext } from './context.js';
import { migrateSqlite } from './migrations.js';
import { sqliteWakeKey } from './names.js';
import * as operator from './operator.js';

export interface SqliteStoreOptions extends CommonStoreOptions {
  /** The database file (created when missing), or `:memory:`. Ignored when `database` is set. */
  filename?: string;
  /**
   * An open better-sqlite3 database to use (for instance the one the service writes its
   * business data to). The store never closes a database it was given, nor changes its pragmas.
   */
  database?: Database.Database;
  /**
   * How long a statement waits for another connection's write lock, in milliseconds. The wait
   * blocks the event loop (better-sqlite3 is synchronous). Default 5000.
   */
  busyTimeoutMs?: number;
  /** The clock, in milliseconds since the epoch (tests inject one). Default `Date.now`. */
  now?: () => number;
}

export class SqliteStore implements OutboxStore {
  readonly kind = 'sqlite';
  readonly options: Readonly<ResolvedCommonOptions>;

  readonly #db: Database.Database;
  readonly #ownsDb: boolean;
  readonly #table: string;
  readonly #target: string;
  readonly #now: () => number;
  readonly #listeners = new Set<() => void>();
  readonly #statements = new Map<string, Database.Statement>();
  #unsubscribeLocal: (() => void) | undefined;
  #closed = false;
  readonly #context: SqliteContext;
  readonly #claimer: SqliteClaimer;
  readonly #acks: SqliteAcks;

  constructor(options: SqliteStoreOptions) {
    this.options = resolveCommonOptions(options);
    this.#table = this.options.table;
    this.#now = options.now ?? Date.now;
    const busyTimeoutMs = checkInteger('busyTimeoutMs', options.busyTimeoutMs ?? 5000, 0);

    if (options.database !== undefined) {
      this.#db = options.database;
      this.#ownsDb = false;
    } else if (typeof options.filename === 'string' && options.filename !== '') {
      this.#target = options.filename;
      try {
        this.#db = new Database(options.filename, { timeout: busyTimeoutMs });
      } catch (error) {
        throw this.#wrap(error);
      }

      if (!this.#db.memory) this.#db.pragma('journal_mode = WAL');
      this.#db.pragma('synchronous = NORMAL');
      this.#db.pragma(`busy_timeout = ${busyTimeoutMs}`);
      this.#ownsDb = true;
    } else {
      throw new TypeError('SqliteStore needs a filename or a database; got neither');
    }

    this.#target = this.#db.name;
    this.#context = {
      db: this.#db,
      table: this.#table,
      options: this.options,
      now: this.#now,
      run: (operation) => this.#run(operation),
      statement: (name, text, mode) => this.#statement(name, text, mode),
      prepare: (text) => this.#db.prepare(text),
    };
    this.#claimer = new SqliteClaimer(this.#context);
    this.#acks = new SqliteAcks(this.#context);
  }

  /** The key under which in-process `enqueue` calls wake this store. */
  get wakeKey(): string {
    return sqliteWakeKey(this.#db, this.#table);
  }

  async migrate(): Promise<void> {
    this.#run(() => migrateSqlite(this.#db, this.#table));
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
    const result = this.#acks.release(token, ids);
    if (result.applied.length > 0) this.#wakeAll();

    return result;
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

    return () => {
      this.#listeners.delete(listener);
    };
  }

  async ping(): Promise<void> {
    this.#run(() => this.#db.prepare('SELECT 1').get());
  }

  async close(): Promise<void> {
    if (this.#closed) return;

    this.#closed = true;
    this.#listeners.clear();
    this.#unsubscribeLocal?.();
    this.#statements.clear();
    if (this.#ownsDb && this.#db.open) this.#db.close();
  }

  #wakeAll(): void {
    for (const listener of [...this.#listeners]) callSafely(listener);
  }

  /**
   * A prepared statement, made once per name. `mode` makes it return rows as arrays (`raw`) or
   * only their first column (`pluck`), which spares an object per row.
   */
  #statement(name: string, text: () => string, mode?: 'raw' | 'pluck'): Database.Statement {
    let statement = this.#statements.get(name);
    if (statement === undefined) {
      const prepared = this.#run(() => this.#db.prepare(text()));
      if (mode === 'raw') prepared.raw(true);
      if (mode === 'pluck') prepared.pluck(true);
      this.#statements.set(name, prepared);
      statement = prepared;
    }

    return statement;
  }

  #run<T>(operation: () => T): T {
    try {
      return operation();
    } catch (error) {
      throw this.#wrap(error);
    }
  }

  #wrap(error: unknown): unknown {
    if (isSqliteUnavailableError(error)) {
      return new StoreUnavailableError('sqlite', this.#target, error);
    }

    return error;
  }
}
