/**
 * The claim of the SQLite store: one IMMEDIATE transaction that picks the rows (with the runs of
 * their keys when `perKey` is above 1), leases them, then decodes each or dead-letters it.
 */
import { randomUUID } from 'node:crypto';
import type Database from 'better-sqlite3';
import type { Claim, ClaimOptions, RejectedRow } from '../contract.js';
import type { OutboxEvent } from '../../event.js';
import { decodeArray } from '../decode.js';
import { checkClaimOptions } from '../options.js';
import type { SqliteContext } from './context.js';
import type { SqliteClaimRow } from './rows.js';
import * as sql from './sql.js';

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

/** Whether the picked rows are already in id order (then they need no sort). */
function isSortedById(rows: readonly SqliteClaimRow[]): boolean {
  for (let n = 1; n < rows.length; n += 1) {
    if ((rows[n - 1] as SqliteClaimRow)[0] > (rows[n] as SqliteClaimRow)[0]) return false;
  }

  return true;
}

/** Claims events for the SQLite store; the transaction is made at the first claim. */
export class SqliteClaimer {
  #transaction: ClaimTransaction | undefined;

  constructor(private readonly c: SqliteContext) {}

  /** Picks and leases up to `options.limit` events under a new token (see `OutboxStore`). */
  claim(options: ClaimOptions): Claim {
    const perKey = checkClaimOptions(options);

    const token = randomUUID();
    const now = this.c.now();
    const leaseUntil = now + options.leaseMs;
    const types = options.types;
    if (types !== undefined && types.length === 0) {
      return { token, events: [], leaseExpiresAt: new Date(leaseUntil), rejected: [] };
    }

    const params: ClaimParams = { now, limit: options.limit, token, leaseUntil };
    if (types !== undefined) params.types = JSON.stringify(types);
    this.#transaction ??= this.c.db.transaction(
      (
        p: ClaimParams,
        excluded: readonly string[] | undefined,
        runs: number,
        only: readonly string[] | undefined,
      ) => this.#claimRows(p, excluded, runs, only),
    );
    const run = this.#transaction;
    const { events, rejected } = this.c.run(() =>
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
    const paused = this.c.statement(
      'paused',
      () => `SELECT type FROM "${this.c.table}_paused"`,
      'pluck',
    );
    const pausedTypes = paused.all() as string[];
    const exclude =
      excluded === undefined || excluded.length === 0 ? pausedTypes : [...excluded, ...pausedTypes];
    if (exclude.length > 0) params.exclude = JSON.stringify(exclude);

    const variant = `${Number(params.types !== undefined)}${Number(exclude.length > 0)}`;
    const statement = this.c.statement(
      `claim_${variant}`,
      () =>
        sql.claimSql(this.c.table, {
          policy: this.c.options.deadKeyPolicy,
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

    // Events go out in id order; the pick is in availability order.
    if (!isSortedById(rows)) rows.sort((a, b) => a[0] - b[0]);
    const { selection, params: ids } = sql.bindIds(rows.map((row) => row[0]));
    const lease = this.c.statement(`lease_${selection}`, () =>
      sql.leaseSql(this.c.table, selection),
    );
    lease.run({ ...ids, token: params.token, leaseUntil: params.leaseUntil });

    const { maxAttempts, maxPayloadBytes } = this.c.options;
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
      if (attempts > maxAttempts) {
        const reason =
          `dead-lettered at claim: claimed ${attempts - 1} times without an ` +
          'acknowledgement (its dispatcher crashed or stalled each time)';
        this.#reject(params.now, row[0], reason, 1);
        rejected.push({ id: String(row[0]), reason });
        if (perKey > 1 && key !== null) (cutKeys ??= new Set()).add(key);
        continue;
      }

      const decoded = decodeArray(String(row[0]), row, maxPayloadBytes);
      if (typeof decoded !== 'string') {
        events.push(decoded);
        continue;
      }

      this.#reject(params.now, row[0], decoded, 0);
      rejected.push({ id: String(row[0]), reason: decoded });
      if (perKey > 1 && key !== null) (cutKeys ??= new Set()).add(key);
    }
    if (handBack.length > 0) {
      const unlease = this.c.statement('unlease', () => sql.unleaseSql(this.c.table));
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
    const run = this.c.statement(
      'run',
      () => sql.runSql(this.c.table, this.c.options.deadKeyPolicy),
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
    const reject = this.c.statement(
      'reject',
      () => `UPDATE "${this.c.table}" SET state = 'dead', dead_at = @now, last_error = @reason,
        attempts = attempts - @giveBack, lease_token = NULL, lease_expires_at = NULL
        WHERE id = @id`,
    );
    reject.run({ now, reason, id, giveBack });
  }
}
