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
import { decodeRow } from '../decode.js';
import { StoreUnavailableError, isSqliteUnavailableError } from '../errors.js';
import {
  backoffDelay,
  checkClaimOptions,
  checkInteger,
  resolveCommonOptions,
  type CommonStoreOptions,
  type ResolvedCommonOptions,
} from '../options.js';
import { splitRefused } from '../shared.js';
import { callSafely, subscribeWake } from '../wake.js';
import { migrateSqlite } from './migrations.js';
import { sqliteWakeKey } from './names.js';
import * as operator from './operator.js';
import { claimRowToRaw, type SqliteClaimRow } from './rows.js';
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

/** The bound parameters of a claim statement. */
interface ClaimParams {
  now: number;
  limit: number;
  token: string;
  leaseUntil: number;
  types?: string;
  exclude?: string;
}

type ClaimTransaction = Database.Transaction<
  (
    params: ClaimParams,
    excluded: readonly string[] | undefined,
    perKey: number,
    types: readonly string[] | undefined,
  ) => {
    events: OutboxEvent[];
    rejected: RejectedRow[];
  }
>;

type AckTransaction = Database.Transaction<
  (statement: Database.Statement, bound: Record<string, unknown>, expected: number) => void
>;

/** Thrown inside an acknowledgement's transaction to roll it back: not every id applied. */
const NOT_ALL_APPLIED = Symbol('not every id applied');

/**
 * Splits the requested ids into those the database applied and those it refused. When it
 * applied as many rows as there were ids, every id was applied (a repeated id would leave fewer).
 */
function splitApplied(ids: readonly string[], applied: readonly number[]): AckResult {
  if (applied.length === ids.length) return { applied: [...ids], refused: [] };

  const done = new Set(applied.map(String));

  return {
    applied: ids.filter((id) => done.has(id)),
    refused: ids.filter((id) => !done.has(id)),
  };
}

function isSortedById(rows: readonly SqliteClaimRow[]): boolean {
  for (let n = 1; n < rows.length; n += 1) {
    if ((rows[n - 1] as SqliteClaimRow)[0] > (rows[n] as SqliteClaimRow)[0]) return false;
  }

  return true;
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
  #claimTransaction: ClaimTransaction | undefined;
  #ackTransaction: AckTransaction | undefined;
  #unsubscribeLocal: (() => void) | undefined;
  #closed = false;
  readonly #context: operator.OperatorContext;

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
      table: this.#table,
      options: this.options,
      now: this.#now,
      run: (operation) => this.#run(operation),
      statement: (name, text) => this.#statement(name, text),
      prepare: (text) => this.#db.prepare(text),
    };
  }

  /** The key under which in-process `enqueue` calls wake this store. */
  get wakeKey(): string {
    return sqliteWakeKey(this.#db, this.#table);
  }

  async migrate(): Promise<void> {
    this.#run(() => migrateSqlite(this.#db, this.#table));
  }

  async claim(options: ClaimOptions): Promise<Claim> {
    const perKey = checkClaimOptions(options);

    const token = randomUUID();
    const now = this.#now();
    const leaseUntil = now + options.leaseMs;
    const types = options.types;
    if (types !== undefined && types.length === 0) {
      return { token, events: [], leaseExpiresAt: new Date(leaseUntil), rejected: [] };
    }

    const params: ClaimParams = { now, limit: options.limit, token, leaseUntil };
    if (types !== undefined) params.types = JSON.stringify(types);
    this.#claimTransaction ??= this.#db.transaction(
      (
        p: ClaimParams,
        excluded: readonly string[] | undefined,
        runs: number,
        only: readonly string[] | undefined,
      ) => this.#claimRows(p, excluded, runs, only),
    );
    const run = this.#claimTransaction;
    const { events, rejected } = this.#run(() =>
      run.immediate(params, options.excludeTypes, perKey, types),
    );

    return { token, events, leaseExpiresAt: new Date(leaseUntil), rejected };
  }

  /**
   * The body of the claim transaction: picks the rows (with their runs when `perKey` is above
   * 1), leases them, then decodes or dead-letters each.
   */
  #claimRows(
    params: ClaimParams,
    excluded: readonly string[] | undefined,
    perKey: number,
    types: readonly string[] | undefined,
  ): { events: OutboxEvent[]; rejected: RejectedRow[] } {
    const paused = this.#statement(
      'paused',
      () => `SELECT type FROM "${this.#table}_paused"`,
      'pluck',
    );
    const pausedTypes = paused.all() as string[];
    const exclude =
      excluded === undefined || excluded.length === 0 ? pausedTypes : [...excluded, ...pausedTypes];
    if (exclude.length > 0) params.exclude = JSON.stringify(exclude);

    const variant = `${Number(params.types !== undefined)}${Number(exclude.length > 0)}`;
    const statement = this.#statement(
      `claim_${variant}`,
      () =>
        sql.claimSql(this.#table, {
          policy: this.options.deadKeyPolicy,
          types: params.types !== undefined,
          excludeTypes: exclude.length > 0,
        }),
      'raw',
    );
    const rows =
      perKey === 1
        ? (statement.all(params) as SqliteClaimRow[])
        : this.#pickRuns(statement, params, perKey, types, exclude);
    if (rows.length === 0) return { events: [], rejected: [] };

    const lease = this.#statement('lease', () => sql.leaseSql(this.#table));
    lease.run({
      ids: JSON.stringify(rows.map((row) => row[0])),
      token: params.token,
      leaseUntil: params.leaseUntil,
    });
    // Events go out in id order; the pick is in availability order.
    if (!isSortedById(rows)) rows.sort((a, b) => a[0] - b[0]);

    const events: OutboxEvent[] = [];
    const rejected: RejectedRow[] = [];
    // Keys whose run met a row that cannot be handed out, and the later rows handed back.
    let cutKeys: Set<string> | undefined;
    const handBack: number[] = [];
    for (const row of rows) {
      const key = row[2];
      if (cutKeys !== undefined && key !== null && cutKeys.has(key)) {
        handBack.push(row[0]);
        continue;
      }

      // The row was read before the lease counted this attempt.
      row[7] += 1;
      const attempts = row[7];
      if (attempts > this.options.maxAttempts) {
        const reason =
          `dead-lettered at claim: claimed ${attempts - 1} times without an ` +
          'acknowledgement (its dispatcher crashed or stalled each time)';
        this.#reject(params.now, row[0], reason, 1);
        rejected.push({ id: String(row[0]), reason });
        if (perKey > 1 && key !== null) (cutKeys ??= new Set()).add(key);
        continue;
      }

      const decoded = decodeRow(claimRowToRaw(row), this.options.maxPayloadBytes);
      if (decoded.ok) {
        events.push(decoded.event);
        continue;
      }

      this.#reject(params.now, row[0], decoded.reason, 0);
      rejected.push({ id: String(row[0]), reason: decoded.reason });
      if (perKey > 1 && key !== null) (cutKeys ??= new Set()).add(key);
    }
    if (handBack.length > 0) {
      const unlease = this.#statement('unlease', () => sql.unleaseSql(this.#table));
      unlease.run({ ids: JSON.stringify(handBack) });
    }

    return { events, rejected };
  }

  /**
   * Picks heads as the plain claim does, in the same order, and after each keyed head the key's
   * following pending events, up to `perKey` in all, stopping at the first one this claim may
   * not take; stops once `limit` rows are picked. The pick is read row by row, so that it reads
   * no more heads than the claim uses; the run statement is a read, which better-sqlite3 allows
   * while the pick is open. The rows come back in pick order, each run after its head.
   */
  #pickRuns(
    pick: Database.Statement,
    params: ClaimParams,
    perKey: number,
    types: readonly string[] | undefined,
    exclude: readonly string[],
  ): SqliteClaimRow[] {
    const run = this.#statement(
      'run',
      () => sql.runSql(this.#table, this.options.deadKeyPolicy),
      'raw',
    );
    const wanted = types === undefined ? undefined : new Set(types);
    const unwanted = new Set(exclude);
    const { now, limit } = params;
    const rows: SqliteClaimRow[] = [];
    for (const head of pick.iterate(params) as IterableIterator<SqliteClaimRow>) {
      rows.push(head);
      if (rows.length >= limit) break;

      if (head[2] === null) continue;

      const more = Math.min(perKey - 1, limit - rows.length);
      const next = run.all({ key: head[2], head: head[0], more }) as SqliteClaimRow[];
      for (const row of next) {
        const leaseEnd = row[9] ?? null;
        const leased = leaseEnd !== null && leaseEnd > now;
        const type = row[1];
        const excluded = unwanted.has(type) || (wanted !== undefined && !wanted.has(type));
        if (row[6] > now || leased || excluded) break;

        rows.push(row);
      }
      if (rows.length >= limit) break;
    }

    return rows;
  }

  /** Dead-letters a claimed row the store cannot hand out; `giveBack` undoes the claim's count. */
  #reject(now: number, id: number, reason: string, giveBack: number): void {
    const reject = this.#statement(
      'reject',
      () => `UPDATE "${this.#table}" SET state = 'dead', dead_at = @now, last_error = @reason,
        attempts = attempts - @giveBack, lease_token = NULL, lease_expires_at = NULL
        WHERE id = @id`,
    );
    reject.run({ now, reason, id, giveBack });
  }

  async complete(token: string, ids: readonly string[]): Promise<AckResult> {
    const text = (returning: string) =>
      this.options.retentionMs > 0
        ? `UPDATE "${this.#table}" AS o SET state = 'delivered', delivered_at = @now,
             lease_token = NULL, lease_expires_at = NULL
           WHERE o.id IN (SELECT value FROM json_each(@ids)) AND ${sql.LEASED_BY} ${returning}`
        : `DELETE FROM "${this.#table}" AS o
           WHERE o.id IN (SELECT value FROM json_each(@ids)) AND ${sql.LEASED_BY} ${returning}`;

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
    const text = (returning: string) => `UPDATE "${this.#table}" AS o
      SET attempts = MAX(o.attempts - 1, 0), lease_token = NULL, lease_expires_at = NULL
      WHERE o.id IN (SELECT value FROM json_each(@ids)) AND ${sql.LEASED_BY} ${returning}`;
    const result = await this.#ack('release', text, token, ids, {});
    if (result.applied.length > 0) this.#wakeAll();

    return result;
  }

  async extendLease(token: string, ids: readonly string[], leaseMs: number): Promise<AckResult> {
    checkInteger('leaseMs', leaseMs, 1);

    const text = (returning: string) => `UPDATE "${this.#table}" AS o
      SET lease_expires_at = @now + @leaseMs
      WHERE o.id IN (SELECT value FROM json_each(@ids)) AND ${sql.LEASED_BY} ${returning}`;

    return this.#ack('extend', text, token, ids, { leaseMs });
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

  /**
   * Applies an acknowledgement to the ids still leased under the token. The common case, every id
   * applied, runs the statement without `RETURNING` (which SQLite runs as a trigger program per
   * row) and checks the count of changed rows. When the count falls short, that transaction is
   * rolled back and the statement runs again with `RETURNING id`, to tell applied from refused.
   */
  async #ack(
    name: string,
    text: (returning: string) => string,
    token: string,
    ids: readonly string[],
    extra: Record<string, unknown>,
  ): Promise<AckResult> {
    if (ids.length === 0) return { applied: [], refused: [] };

    const params = { ids: JSON.stringify(ids.map(Number)), token, now: this.#now(), ...extra };
    const quick = this.#statement(`${name}_all`, () => text(''));
    this.#ackTransaction ??= this.#db.transaction(
      (statement: Database.Statement, bound: Record<string, unknown>, expected: number) => {
        if (statement.run(bound).changes !== expected) throw NOT_ALL_APPLIED;
      },
    );
    const run = this.#ackTransaction;
    try {
      this.#run(() => run.immediate(quick, params, ids.length));

      return { applied: [...ids], refused: [] };
    } catch (error) {
      if (error !== NOT_ALL_APPLIED) throw error;
    }

    const returning = this.#statement(name, () => text('RETURNING id'), 'pluck');
    const applied = this.#run(() => returning.all(params) as number[]);

    return splitApplied(ids, applied);
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
