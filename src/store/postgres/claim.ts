/**
 * The claim of the PostgreSQL store: one statement that picks the rows with `FOR UPDATE SKIP
 * LOCKED` and leases them, then the dead letters of rows that cannot be handed out.
 */
import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import type { Claim, ClaimOptions, DeadLetterItem, RejectedRow } from '../contract.js';
import type { OutboxEvent } from '../../event.js';
import { decodeArray, type EventColumns } from '../decode.js';
import { isPgConnectionError } from '../errors.js';
import { checkClaimOptions } from '../options.js';
import type { PostgresAcks } from './acks.js';
import type { PgContext } from './context.js';
import { RAW_JSON_TYPES, compareIds, describeTarget, statementName } from './rows.js';
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

/** Claims events for the PostgreSQL store, and keeps what one claim tells the next. */
export class PostgresClaimer {
  readonly #sql: { claim: Map<string, string>; exhausted: string; turn: string };
  readonly #statistics: TableStatistics;
  #analyzing: Promise<void> | undefined;
  /** Whether the next claim looks only at the oldest rows (see `BOUNDED_WINDOW`). */
  #bounded = false;

  /** @param acks writes the dead letters and the hand-backs of a claim. */
  constructor(
    private readonly c: PgContext,
    private readonly acks: PostgresAcks,
  ) {
    this.#sql = {
      claim: new Map(),
      exhausted: sql.exhaustedSql(c.names),
      turn: sql.claimTurnSql(c.names, TURN_WAIT_MS),
    };
    this.#statistics = new TableStatistics(c.names, describeTarget(c.pool), (config) =>
      c.pool.query(config),
    );
  }

  /** The planner statistics' refresh after a full claim, while one runs in the background. */
  get analyzing(): Promise<void> | undefined {
    return this.#analyzing;
  }

  /** Picks and leases up to `options.limit` events under a new token (see `OutboxStore`). */
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

    const { maxAttempts, maxPayloadBytes } = this.c.options;
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

      if (row[7] > maxAttempts) {
        exhausted.push(id);
        if (perKey > 1 && key !== null) (cutKeys ??= new Set()).add(key);
        continue;
      }

      const decoded = decodeArray(id, row, maxPayloadBytes);
      if (typeof decoded === 'string') {
        unreadable.push({ id, reason: decoded });
        if (perKey > 1 && key !== null) (cutKeys ??= new Set()).add(key);
      } else {
        events.push(decoded);
      }
    }

    if (exhausted.length > 0) {
      const dead = await this.c.run(() =>
        this.c.pool.query<{ id: string; last_error: string }>(this.#sql.exhausted, [
          exhausted,
          token,
        ]),
      );
      rejected.push(...dead.rows.map((row) => ({ id: row.id, reason: row.last_error })));
    }

    if (unreadable.length > 0) {
      await this.acks.deadLetter(token, unreadable);
      rejected.push(...unreadable);
    }

    // After the dead letters, so that the rows handed back wait behind them.
    if (handBack.length > 0) await this.acks.release(token, handBack);

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
      policy: this.c.options.deadKeyPolicy,
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
      text = sql.claimSql(this.c.names, variant);
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
    const inTurn = busy ? await this.c.run(() => this.#claimInTurn(config)) : undefined;
    if (inTurn !== undefined) return inTurn;

    const result = await this.c.run(() => this.c.pool.query<ClaimedRow>(config));

    return result.rows;
  }

  /** Runs a claim in the outbox's turn (see `TURN_WAIT_MS`); undefined when the wait ran out. */
  async #claimInTurn(config: pg.QueryArrayConfig): Promise<ClaimedRow[] | undefined> {
    const client = await this.c.pool.connect();
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
}
