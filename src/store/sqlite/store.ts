/**
 * The embedded SQLite outbox store (better-sqlite3): WAL mode, a busy timeout, one writer at a
 * time. Each claim is one IMMEDIATE transaction that leases the events and dead-letters the
 * unreadable ones. Wake-ups are in-process: an `enqueue` through this process reaches the store
 * at once; dispatchers in other processes sharing the file find new events by polling.
 */
import { randomUUID } from 'node:crypto';
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
  RejectedRow,
} from '../contract.js';
import type { OutboxEvent } from '../../event.js';
import { decodeRow, type RawEventRow } from '../decode.js';
import { StoreUnavailableError, isSqliteUnavailableError } from '../errors.js';
import {
  backoffDelay,
  checkClaimOptions,
  checkInteger,
  resolveCommonOptions,
  type CommonStoreOptions,
  type ResolvedCommonOptions,
} from '../options.js';
import { accumulateStats, emptyStats, leniently, splitRefused } from '../shared.js';
import { callSafely, subscribeWake } from '../wake.js';
import { migrateSqlite } from './migrations.js';
import { sqliteWakeKey } from './names.js';
import * as sql from './sql.js';

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

interface SqliteEventRow {
  id: number;
  type: string;
  key: string | null;
  payload: unknown;
  headers: unknown;
  created_at: number;
  available_at: number;
  attempts: number;
  last_error: string | null;
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
  }

  /** The key under which in-process `enqueue` calls wake this store. */
  get wakeKey(): string {
    return sqliteWakeKey(this.#db, this.#table);
  }

  async migrate(): Promise<void> {
    this.#run(() => migrateSqlite(this.#db, this.#table));
  }

  async claim(options: ClaimOptions): Promise<Claim> {
    checkClaimOptions(options);

    const token = randomUUID();
    const now = this.#now();
    const leaseUntil = now + options.leaseMs;
    const types = options.types;
    if (types !== undefined && types.length === 0) {
      return { token, events: [], leaseExpiresAt: new Date(leaseUntil), rejected: [] };
    }

    const paused = this.#statement('paused', () => `SELECT type FROM "${this.#table}_paused"`);
    const params: Record<string, unknown> = { now, limit: options.limit, token, leaseUntil };
    if (types !== undefined) params['types'] = JSON.stringify(types);
    const pick = () => {
      const exclude = [
        ...(options.excludeTypes ?? []),
        ...(paused.all() as { type: string }[]).map((row) => row.type),
      ];
      if (exclude.length > 0) params['exclude'] = JSON.stringify(exclude);

      const name = `claim_${Number(types !== undefined)}${Number(exclude.length > 0)}`;

      return this.#statement(name, () =>
        sql.claimSql(this.#table, {
          policy: this.options.deadKeyPolicy,
          types: types !== undefined,
          excludeTypes: exclude.length > 0,
        }),
      );
    };
    const reject = this.#statement(
      'reject',
      () => `UPDATE "${this.#table}" SET state = 'dead', dead_at = @now, last_error = @reason,
        attempts = attempts - @giveBack, lease_token = NULL, lease_expires_at = NULL
        WHERE id = @id`,
    );
    const run = this.#db.transaction(() => {
      const rows = (pick().all(params) as SqliteEventRow[]).sort((a, b) => a.id - b.id);
      const events: OutboxEvent[] = [];
      const rejected: RejectedRow[] = [];
      for (const row of rows) {
        const id = String(row.id);
        if (row.attempts > this.options.maxAttempts) {
          const reason =
            `dead-lettered at claim: claimed ${row.attempts - 1} times without an ` +
            'acknowledgement (its dispatcher crashed or stalled each time)';
          reject.run({ now, reason, id: row.id, giveBack: 1 });
          rejected.push({ id, reason });
          continue;
        }

        const decoded = decodeRow(toRaw(row), this.options.maxPayloadBytes);
        if (decoded.ok) {
          events.push(decoded.event);
          continue;
        }

        reject.run({ now, reason: decoded.reason, id: row.id, giveBack: 0 });
        rejected.push({ id, reason: decoded.reason });
      }

      return { events, rejected };
    });
    const { events, rejected } = this.#run(() => run.immediate());

    return { token, events, leaseExpiresAt: new Date(leaseUntil), rejected };
  }

  async complete(token: string, ids: readonly string[]): Promise<AckResult> {
    const text =
      this.options.retentionMs > 0
        ? `UPDATE "${this.#table}" AS o SET state = 'delivered', delivered_at = @now,
             lease_token = NULL, lease_expires_at = NULL
           WHERE o.id IN (SELECT value FROM json_each(@ids)) AND ${sql.LEASED_BY} RETURNING id`
        : `DELETE FROM "${this.#table}" AS o
           WHERE o.id IN (SELECT value FROM json_each(@ids)) AND ${sql.LEASED_BY} RETURNING id`;

    return this.#ack('complete', text, token, ids, {});
  }

  async fail(token: string, failures: readonly FailedAttempt[]): Promise<AckResult> {
    const now = this.#now();
    const find = this.#statement(
      'fail_find',
      () => `SELECT o.id, o.attempts FROM "${this.#table}" o WHERE o.id = @id AND ${sql.LEASED_BY}`,
    );
    const update = this.#statement(
      'fail_update',
      () => `UPDATE "${this.#table}" SET state = @state, dead_at = @deadAt,
        available_at = COALESCE(@retryAt, available_at), last_error = @error,
        lease_token = NULL, lease_expires_at = NULL WHERE id = @id`,
    );
    const run = this.#db.transaction(() => {
      const applied: { id: string }[] = [];
      const dead: string[] = [];
      for (const failure of failures) {
        const row = find.get({ id: Number(failure.id), token, now }) as
          { id: number; attempts: number } | undefined;
        if (row === undefined) continue;

        const exhausted = row.attempts >= this.options.maxAttempts;
        const retryAt =
          failure.retryAt?.getTime() ??
          now +
            backoffDelay(row.attempts, {
              baseMs: this.options.retryBaseMs,
              maxMs: this.options.retryMaxMs,
            });
        update.run({
          id: row.id,
          state: exhausted ? 'dead' : 'pending',
          deadAt: exhausted ? now : null,
          retryAt: exhausted ? null : retryAt,
          error: failure.error,
        });
        applied.push({ id: failure.id });
        if (exhausted) dead.push(failure.id);
      }

      return { applied, dead };
    });
    const { applied, dead } = this.#run(() => run.immediate());

    return {
      ...splitRefused(
        failures.map((failure) => failure.id),
        applied,
      ),
      deadLettered: dead,
    };
  }

  async deadLetter(token: string, items: readonly DeadLetterItem[]): Promise<AckResult> {
    const now = this.#now();
    const update = this.#statement(
      'dead_letter',
      () => `UPDATE "${this.#table}" AS o SET state = 'dead', dead_at = @now,
        last_error = @reason, lease_token = NULL, lease_expires_at = NULL
        WHERE o.id = @id AND ${sql.LEASED_BY} RETURNING id`,
    );
    const run = this.#db.transaction(() =>
      items.flatMap(
        (item) =>
          update.all({ id: Number(item.id), token, now, reason: item.reason }) as { id: number }[],
      ),
    );
    const rows = this.#run(() => run.immediate()).map((row) => ({ id: String(row.id) }));

    return splitRefused(
      items.map((item) => item.id),
      rows,
    );
  }

  async release(token: string, ids: readonly string[]): Promise<AckResult> {
    const text = `UPDATE "${this.#table}" AS o SET attempts = MAX(o.attempts - 1, 0),
        lease_token = NULL, lease_expires_at = NULL
      WHERE o.id IN (SELECT value FROM json_each(@ids)) AND ${sql.LEASED_BY} RETURNING id`;
    const result = await this.#ack('release', text, token, ids, {});
    if (result.applied.length > 0) this.#wakeAll();

    return result;
  }

  async extendLease(token: string, ids: readonly string[], leaseMs: number): Promise<AckResult> {
    checkInteger('leaseMs', leaseMs, 1);

    const text = `UPDATE "${this.#table}" AS o SET lease_expires_at = @now + @leaseMs
      WHERE o.id IN (SELECT value FROM json_each(@ids)) AND ${sql.LEASED_BY} RETURNING id`;

    return this.#ack('extend', text, token, ids, { leaseMs });
  }

  async listDead(options: ListDeadOptions = {}): Promise<DeadEvent[]> {
    const limit = checkInteger('limit', options.limit ?? 100, 1, 10_000);
    const list = this.#statement(
      'list_dead',
      () => `SELECT ${sql.COLUMNS}, o.dead_at FROM "${this.#table}" o
        WHERE o.state = 'dead' AND o.dead_at IS NOT NULL AND (@type IS NULL OR o.type = @type)
          AND (@after IS NULL OR o.id > @after)
        ORDER BY o.id LIMIT @limit`,
    );
    const rows = this.#run(
      () =>
        list.all({
          type: options.type ?? null,
          after: options.afterId === undefined ? null : Number(options.afterId),
          limit,
        }) as (SqliteEventRow & { dead_at: number })[],
    );

    return rows.map((row) => ({ ...leniently(toRaw(row)), deadAt: new Date(row.dead_at) }));
  }

  async requeueDead(selection: DeadSelection): Promise<number> {
    const set = `UPDATE "${this.#table}" SET state = 'pending', attempts = 0,
      available_at = @now, dead_at = NULL, lease_token = NULL, lease_expires_at = NULL
      WHERE state = 'dead'`;
    const now = this.#now();
    let changes: number;
    if ('ids' in selection) {
      const ids = JSON.stringify(selection.ids.map(Number));
      changes = this.#run(
        () =>
          this.#db.prepare(`${set} AND id IN (SELECT value FROM json_each(@ids))`).run({ now, ids })
            .changes,
      );
    } else if ('type' in selection) {
      changes = this.#run(
        () =>
          this.#db.prepare(`${set} AND type = @type`).run({ now, type: selection.type }).changes,
      );
    } else if (selection.all === true) {
      changes = this.#run(() => this.#db.prepare(set).run({ now }).changes);
    } else {
      throw new TypeError('requeueDead needs { ids }, { type } or { all: true }');
    }

    if (changes > 0) this.#wakeAll();

    return changes;
  }

  async purgeDelivered(options: PurgeOptions = {}): Promise<number> {
    const batchSize = checkInteger('batchSize', options.batchSize ?? 1000, 1);
    const maxBatches =
      options.maxBatches === undefined
        ? Infinity
        : checkInteger('maxBatches', options.maxBatches, 1);
    const purge = this.#statement(
      'purge',
      () => `DELETE FROM "${this.#table}" WHERE id IN (
        SELECT id FROM "${this.#table}"
        WHERE state = 'delivered' AND delivered_at <= @before LIMIT @batchSize)`,
    );
    let total = 0;
    for (let batch = 0; batch < maxBatches; batch += 1) {
      const before = this.#now() - this.options.retentionMs;
      const count = this.#run(() => purge.run({ before, batchSize }).changes);
      total += count;
      if (count < batchSize) break;

      // Let other work (and other connections) in between two batches.
      await new Promise((resolve) => setImmediate(resolve));
    }

    return total;
  }

  async setPaused(type: string, paused: boolean): Promise<void> {
    const table = `"${this.#table}_paused"`;
    if (paused) {
      this.#run(() =>
        this.#db
          .prepare(`INSERT INTO ${table} (type, paused_at) VALUES (?, ?) ON CONFLICT DO NOTHING`)
          .run(type, this.#now()),
      );

      return;
    }

    this.#run(() => this.#db.prepare(`DELETE FROM ${table} WHERE type = ?`).run(type));
    this.#wakeAll();
  }

  async listPaused(): Promise<string[]> {
    const rows = this.#run(
      () =>
        this.#db.prepare(`SELECT type FROM "${this.#table}_paused" ORDER BY type`).all() as {
          type: string;
        }[],
    );

    return rows.map((row) => row.type);
  }

  async stats(): Promise<OutboxStats> {
    const now = this.#now();
    const rows = this.#run(
      () =>
        this.#statement('stats', () => sql.statsSql(this.#table)).all({ now }) as {
          type: string;
          pending: number;
          in_flight: number;
          scheduled: number;
          dead: number;
          oldest: number | null;
        }[],
    );
    const stats = emptyStats();
    for (const row of rows) {
      accumulateStats(stats, row.type, {
        pending: row.pending,
        inFlight: row.in_flight,
        scheduled: row.scheduled,
        dead: row.dead,
        oldestPendingAgeMs: row.oldest === null ? 0 : Math.max(0, now - row.oldest),
      });
    }

    if (this.options.deadKeyPolicy === 'hold' && stats.dead > 0) {
      const held = this.#run(
        () => this.#statement('held', () => sql.heldKeysSql(this.#table)).get() as { held: number },
      );
      stats.heldKeys = held.held;
    }

    return stats;
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

  #statement(name: string, text: () => string): Database.Statement {
    let statement = this.#statements.get(name);
    if (statement === undefined) {
      statement = this.#run(() => this.#db.prepare(text()));
      this.#statements.set(name, statement);
    }

    return statement;
  }

  async #ack(
    name: string,
    text: string,
    token: string,
    ids: readonly string[],
    extra: Record<string, unknown>,
  ): Promise<AckResult> {
    if (ids.length === 0) return { applied: [], refused: [] };

    const statement = this.#statement(name, () => text);
    const rows = this.#run(
      () =>
        statement.all({
          ids: JSON.stringify(ids.map(Number)),
          token,
          now: this.#now(),
          ...extra,
        }) as { id: number }[],
    );

    return splitRefused(
      ids,
      rows.map((row) => ({ id: String(row.id) })),
    );
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

function toRaw(row: SqliteEventRow): RawEventRow {
  return {
    id: String(row.id),
    type: row.type,
    key: row.key,
    payload: row.payload,
    headers: row.headers,
    createdAt: new Date(row.created_at),
    availableAt: new Date(row.available_at),
    attempts: row.attempts,
    lastError: row.last_error,
  };
}
