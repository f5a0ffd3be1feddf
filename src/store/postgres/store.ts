/**
 * The PostgreSQL outbox store: claims with `FOR UPDATE SKIP LOCKED` and a lease, in one
 * statement, holding no transaction open while events are published.
 */
import { randomUUID } from 'node:crypto';
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
  RejectedRow,
} from '../contract.js';
import type { OutboxEvent } from '../../event.js';
import { decodeArray, type EventColumns } from '../decode.js';
import { StoreUnavailableError, isPgConnectionError } from '../errors.js';
import {
  checkClaimOptions,
  checkIdentifier,
  checkInteger,
  resolveCommonOptions,
  type CommonStoreOptions,
  type ResolvedCommonOptions,
} from '../options.js';
import { splitRefused } from '../shared.js';
import { callSafely, subscribeWake } from '../wake.js';
import { WakeListener } from './listener.js';
import { migratePostgres, wakeChannel, type PgNames } from './migrations.js';
import * as operator from './operator.js';
import { ownPoolConfig } from './pool-config.js';
import { RAW_JSON_TYPES, clientConfig, compareIds, describeTarget, statementName } from './rows.js';
import * as sql from './sql.js';
import { TableStatistics } from './statistics.js';

/**
 * After a claim that came back short, the next one first scans only the oldest `limit` × this
 * many available rows: when most keys are busy, a full scan reads through the whole keyed
 * backlog to find the few free heads. When that finds nothing, the full scan runs at once, so
 * events behind a long run of leased, held or paused rows are still reached.
 */
const BOUNDED_WINDOW = 4;

/**
 * Claims made after a short one (the bounded claim above, and the full one that may follow it)
 * take turns, across all the stores of an outbox: when most keys are busy, concurrent claims
 * race for the same few free heads, and each probes every candidate before it finds it taken
 * (four claimers of 500 on 1,000 keys used three to four times the database CPU of one claimer
 * for the same events). In turn, each claim sees the leases of the one before and drops their
 * keys through the busy-key set. This is how long such a claim waits for its turn, in
 * milliseconds, before it runs beside the others anyway.
 */
const TURN_WAIT_MS = 200;

/** The SQLSTATE of a lock wait that ran past `lock_timeout`. */
const LOCK_NOT_AVAILABLE = '55P03';

/** A claimed row as an array (the claim asks for arrays): its columns, then the lease's end. */
type ClaimedRow = [...EventColumns, leaseExpiresAt: number];

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
  readonly #sql: {
    claim: Map<string, string>;
    complete: string;
    fail: string;
    deadLetter: string;
    release: string;
    extend: string;
    exhausted: string;
    turn: string;
  };
  readonly #reconnect: { min: number; max: number };
  #listener: WakeListener | undefined;
  #unsubscribeLocal: (() => void) | undefined;
  #closed = false;
  readonly #context: operator.OperatorContext;
  readonly #statistics: TableStatistics;
  #analyzing: Promise<void> | undefined;
  /** Whether the next claim looks only at the oldest rows (see `BOUNDED_WINDOW`). */
  #bounded = false;

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
    this.#statistics = new TableStatistics(names, (config) => this.#pool.query(config));
    this.#sql = {
      claim: new Map(),
      complete: sql.completeSql(names, common.retentionMs > 0),
      fail: sql.failSql(names),
      deadLetter: sql.deadLetterSql(names),
      release: sql.releaseSql(names),
      extend: sql.extendSql(names),
      exhausted: sql.exhaustedSql(names),
      turn: sql.claimTurnSql(names, TURN_WAIT_MS),
    };
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
    const perKey = checkClaimOptions(options);

    const token = randomUUID();
    const types = options.types !== undefined ? [...options.types] : undefined;
    const exclude =
      options.excludeTypes !== undefined && options.excludeTypes.length > 0
        ? [...options.excludeTypes]
        : undefined;
    if (types !== undefined && types.length === 0) {
      return { token, events: [], leaseExpiresAt: new Date(), rejected: [] };
    }

    const query = { limit: options.limit, leaseMs: options.leaseMs, perKey, token, types, exclude };
    const bounded = this.#bounded;
    let claimed = await this.#claimRows(query, { bounded, busy: bounded });
    if (bounded && claimed.length === 0) {
      claimed = await this.#claimRows(query, { bounded: false, busy: true });
    }

    // A claim that found some events but fewer than its limit read every available row: the
    // next one looks at the oldest rows first.
    this.#bounded = claimed.length > 0 && claimed.length < options.limit;

    const rows = claimed.sort((a, b) => compareIds(a[0], b[0]));
    if (rows.length >= options.limit && this.#analyzing === undefined) {
      // In the background: the claimed events go out now; failures only mean no help.
      this.#analyzing = this.#statistics
        .afterFullClaim()
        .catch(() => undefined)
        .finally(() => {
          this.#analyzing = undefined;
        });
    }

    const events: OutboxEvent[] = [];
    const rejected: RejectedRow[] = [];
    const unreadable: DeadLetterItem[] = [];
    const exhausted: string[] = [];
    // Keys whose run met a row that cannot be handed out, and the later rows handed back.
    let cutKeys: Set<string> | undefined;
    const handBack: string[] = [];
    for (const row of rows) {
      const id = row[0];
      const key = row[2];
      if (cutKeys !== undefined && key !== null && cutKeys.has(key)) {
        handBack.push(id);
        continue;
      }

      if (row[7] > this.options.maxAttempts) {
        exhausted.push(id);
        if (perKey > 1 && key !== null) (cutKeys ??= new Set()).add(key);
        continue;
      }

      const decoded = decodeArray(row, this.options.maxPayloadBytes);
      if (typeof decoded === 'string') {
        unreadable.push({ id, reason: decoded });
        if (perKey > 1 && key !== null) (cutKeys ??= new Set()).add(key);
      } else {
        events.push(decoded);
      }
    }

    if (exhausted.length > 0) {
      const dead = await this.#run(() =>
        this.#pool.query<{ id: string; last_error: string }>(this.#sql.exhausted, [
          exhausted,
          token,
        ]),
      );
      rejected.push(...dead.rows.map((row) => ({ id: row.id, reason: row.last_error })));
    }

    if (unreadable.length > 0) {
      await this.deadLetter(token, unreadable);
      rejected.push(...unreadable);
    }

    // After the dead letters, so that the rows handed back wait behind them.
    if (handBack.length > 0) await this.release(token, handBack);

    rejected.sort((a, b) => compareIds(a.id, b.id));
    const leaseMs = rows[0]?.[9];

    return {
      token,
      events,
      leaseExpiresAt: new Date(leaseMs ?? Date.now() + options.leaseMs),
      rejected,
    };
  }

  async #claimRows(
    query: {
      limit: number;
      leaseMs: number;
      perKey: number;
      token: string;
      types: string[] | undefined;
      exclude: string[] | undefined;
    },
    /** `busy`: most keys are busy (the last claim came back short): claim in turn. */
    shape: { bounded: boolean; busy: boolean },
  ): Promise<ClaimedRow[]> {
    const { types, exclude } = query;
    const { bounded, busy } = shape;
    const variant = {
      policy: this.options.deadKeyPolicy,
      types: types !== undefined,
      excludeTypes: exclude !== undefined,
      bounded,
      busyKeys: busy,
      runs: query.perKey > 1,
    };
    const name =
      `claim_${variant.policy}_${Number(variant.types)}${Number(variant.excludeTypes)}` +
      `${Number(bounded)}${Number(busy)}${Number(variant.runs)}`;
    let text = this.#sql.claim.get(name);
    if (text === undefined) {
      text = sql.claimSql(this.#names, variant);
      this.#sql.claim.set(name, text);
    }

    const values: unknown[] = [query.limit, query.leaseMs, query.token];
    if (types !== undefined) values.push(types);
    if (exclude !== undefined) values.push(exclude);
    if (bounded) values.push(query.limit * BOUNDED_WINDOW);
    if (variant.runs) values.push(query.perKey - 1);

    // Rows as arrays: node-postgres then builds no object per row.
    const config: pg.QueryArrayConfig = {
      name: statementName(text),
      text,
      values,
      types: RAW_JSON_TYPES,
      rowMode: 'array',
    };
    const inTurn = busy ? await this.#run(() => this.#claimInTurn(config)) : undefined;
    if (inTurn !== undefined) return inTurn;

    const result = await this.#run(() => this.#pool.query<ClaimedRow>(config));

    return result.rows;
  }

  /** Runs a claim in the outbox's turn (see `TURN_WAIT_MS`); undefined when the wait ran out. */
  async #claimInTurn(config: pg.QueryArrayConfig): Promise<ClaimedRow[] | undefined> {
    const client = await this.#pool.connect();
    let broken: Error | undefined;
    try {
      try {
        await client.query(this.#sql.turn);
      } catch (error) {
        await client.query('ROLLBACK');
        if ((error as { code?: string }).code === LOCK_NOT_AVAILABLE) return undefined;

        throw error;
      }

      const result = await client.query<ClaimedRow>(config).catch(async (error: unknown) => {
        await client.query('ROLLBACK');
        throw error;
      });
      await client.query('COMMIT');

      return result.rows;
    } catch (error) {
      // A connection that failed mid-transaction is not given back to the pool.
      if (isPgConnectionError(error)) broken = error as Error;

      throw error;
    } finally {
      client.release(broken);
    }
  }

  async complete(token: string, ids: readonly string[]): Promise<AckResult> {
    if (ids.length === 0) return { applied: [], refused: [] };

    const text = this.#sql.complete;
    const result = await this.#run(() =>
      this.#pool.query<{ n: number; ids: string[] | null }>({
        name: statementName(text),
        text,
        values: [ids, token],
      }),
    );
    // One row: the count, and the changed ids only when some of the given ones were refused.
    const row = result.rows[0];
    if (row?.n === ids.length) return { applied: [...ids], refused: [] };

    const changed = (row?.ids ?? []).map((id) => ({ id }));

    return splitRefused(ids, changed);
  }

  async fail(token: string, failures: readonly FailedAttempt[]): Promise<AckResult> {
    if (failures.length === 0) return { applied: [], refused: [], deadLettered: [] };

    const ids = failures.map((failure) => failure.id);
    const result = await this.#run(() =>
      this.#pool.query<{ id: string; state: string }>(this.#sql.fail, [
        ids,
        token,
        failures.map((failure) => failure.error),
        failures.map((failure) => failure.retryAt ?? null),
        this.options.maxAttempts,
        this.options.retryBaseMs,
        this.options.retryMaxMs,
      ]),
    );
    const dead = result.rows.filter((row) => row.state === 'dead').map((row) => row.id);

    return { ...splitRefused(ids, result.rows), deadLettered: dead };
  }

  async deadLetter(token: string, items: readonly DeadLetterItem[]): Promise<AckResult> {
    const ids = items.map((item) => item.id);

    return this.#ack(this.#sql.deadLetter, ids, [token, items.map((item) => item.reason)]);
  }

  async release(token: string, ids: readonly string[]): Promise<AckResult> {
    return this.#ack(this.#sql.release, ids, [token]);
  }

  async extendLease(token: string, ids: readonly string[], leaseMs: number): Promise<AckResult> {
    checkInteger('leaseMs', leaseMs, 1);

    return this.#ack(this.#sql.extend, ids, [token, leaseMs]);
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
    await this.#analyzing;
    if (this.#ownsPool) await this.#pool.end().catch(() => undefined);
  }

  #wakeAll(): void {
    for (const listener of [...this.#listeners]) callSafely(listener);
  }

  async #ack(text: string, ids: readonly string[], rest: unknown[]): Promise<AckResult> {
    if (ids.length === 0) return { applied: [], refused: [] };

    const result = await this.#run(() =>
      this.#pool.query<{ id: string }>({
        name: statementName(text),
        text,
        values: [[...ids], ...rest],
      }),
    );

    return splitRefused(ids, result.rows);
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
