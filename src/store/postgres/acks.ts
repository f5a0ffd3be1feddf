/**
 * The acknowledgements of the PostgreSQL store: each is one statement over the ids still leased
 * under the claim's token.
 */
import type { AckResult, DeadLetterItem, FailedAttempt } from '../contract.js';
import { checkInteger } from '../options.js';
import { splitRefused } from '../shared.js';
import type { PgContext } from './context.js';
import { statementName } from './rows.js';
import * as sql from './sql.js';

/** Writes acknowledgements for the PostgreSQL store. */
export class PostgresAcks {
  readonly #sql: {
    complete: string;
    fail: string;
    deadLetter: string;
    release: string;
    extend: string;
  };

  constructor(private readonly c: PgContext) {
    const { names, options } = c;
    this.#sql = {
      complete: sql.completeSql(names, options.retentionMs > 0),
      fail: sql.failSql(names),
      deadLetter: sql.deadLetterSql(names),
      release: sql.releaseSql(names),
      extend: sql.extendSql(names),
    };
  }

  async complete(token: string, ids: readonly string[]): Promise<AckResult> {
    if (ids.length === 0) return { applied: [], refused: [] };

    const text = this.#sql.complete;
    const result = await this.c.run(() =>
      this.c.pool.query<{ n: number; ids: string[] | null }>({
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
    const result = await this.c.run(() =>
      this.c.pool.query<{ id: string; state: string }>(this.#sql.fail, [
        ids,
        token,
        failures.map((failure) => failure.error),
        failures.map((failure) => failure.retryAt ?? null),
        this.c.options.maxAttempts,
        this.c.options.retryBaseMs,
        this.c.options.retryMaxMs,
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

  async #ack(text: string, ids: readonly string[], rest: unknown[]): Promise<AckResult> {
    if (ids.length === 0) return { applied: [], refused: [] };

    const result = await this.c.run(() =>
      this.c.pool.query<{ id: string }>({
        name: statementName(text),
        text,
        values: [[...ids], ...rest],
      }),
    );

    return splitRefused(ids, result.rows);
  }
}
