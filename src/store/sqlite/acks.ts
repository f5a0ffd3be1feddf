/**
 * The acknowledgements of the SQLite store: each is one IMMEDIATE transaction over the ids still
 * leased under the claim's token.
 */
import type Database from 'better-sqlite3';
import type { AckResult, DeadLetterItem, FailedAttempt } from '../contract.js';
import { backoffDelay, checkInteger } from '../options.js';
import { splitRefused } from '../shared.js';
import type { SqliteContext } from './context.js';
import * as sql from './sql.js';

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

/** Writes acknowledgements for the SQLite store; the transaction is made at the first one. */
export class SqliteAcks {
  #transaction: AckTransaction | undefined;

  constructor(private readonly c: SqliteContext) {}

  complete(token: string, ids: readonly string[]): AckResult {
    const text = (where: string, returning: string) =>
      this.c.options.retentionMs > 0
        ? `UPDATE "${this.c.table}" AS o SET state = 'delivered', delivered_at = @now,
             lease_token = NULL, lease_expires_at = NULL
           WHERE ${where} AND ${sql.LEASED_BY} ${returning}`
        : `DELETE FROM "${this.c.table}" AS o WHERE ${where} AND ${sql.LEASED_BY} ${returning}`;

    return this.#ack('complete', text, token, ids, {});
  }

  fail(token: string, failures: readonly FailedAttempt[]): AckResult {
    const now = this.c.now();
    const find = this.c.statement(
      'fail_find',
      () =>
        `SELECT o.id, o.attempts FROM "${this.c.table}" o WHERE o.id = @id AND ${sql.LEASED_BY}`,
    );
    const update = this.c.statement(
      'fail_update',
      () => `UPDATE "${this.c.table}" SET state = @state, dead_at = @deadAt,
        available_at = COALESCE(@retryAt, available_at), last_error = @error,
        lease_token = NULL, lease_expires_at = NULL WHERE id = @id`,
    );
    const run = this.c.db.transaction(() => {
      const applied: { id: string }[] = [];
      const dead: string[] = [];
      for (const failure of failures) {
        const row = find.get({ id: Number(failure.id), token, now }) as
          { id: number; attempts: number } | undefined;
        if (row === undefined) continue;

        const exhausted = row.attempts >= this.c.options.maxAttempts;
        const retryAt =
          failure.retryAt?.getTime() ??
          now +
            backoffDelay(row.attempts, {
              baseMs: this.c.options.retryBaseMs,
              maxMs: this.c.options.retryMaxMs,
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
    const { applied, dead } = this.c.run(() => run.immediate());

    return {
      ...splitRefused(
        failures.map((failure) => failure.id),
        applied,
      ),
      deadLettered: dead,
    };
  }

  deadLetter(token: string, items: readonly DeadLetterItem[]): AckResult {
    const now = this.c.now();
    const update = this.c.statement(
      'dead_letter',
      () => `UPDATE "${this.c.table}" AS o SET state = 'dead', dead_at = @now,
        last_error = @reason, lease_token = NULL, lease_expires_at = NULL
        WHERE o.id = @id AND ${sql.LEASED_BY} RETURNING id`,
    );
    const run = this.c.db.transaction(() =>
      items.flatMap(
        (item) =>
          update.all({ id: Number(item.id), token, now, reason: item.reason }) as { id: number }[],
      ),
    );
    const rows = this.c.run(() => run.immediate()).map((row) => ({ id: String(row.id) }));

    return splitRefused(
      items.map((item) => item.id),
      rows,
    );
  }

  release(token: string, ids: readonly string[]): AckResult {
    const text = (where: string, returning: string) => `UPDATE "${this.c.table}" AS o
      SET attempts = MAX(o.attempts - 1, 0), lease_token = NULL, lease_expires_at = NULL
      WHERE ${where} AND ${sql.LEASED_BY} ${returning}`;

    return this.#ack('release', text, token, ids, {});
  }

  extendLease(token: string, ids: readonly string[], leaseMs: number): AckResult {
    checkInteger('leaseMs', leaseMs, 1);

    const text = (where: string, returning: string) => `UPDATE "${this.c.table}" AS o
      SET lease_expires_at = @now + @leaseMs
      WHERE ${where} AND ${sql.LEASED_BY} ${returning}`;

    return this.#ack('extend', text, token, ids, { leaseMs });
  }

  /**
   * Applies an acknowledgement to the ids still leased under the token. The common case, every id
   * applied, runs the statement without `RETURNING` (which SQLite runs as a trigger program per
   * row) and checks the count of changed rows; consecutive ids are named as a range (see
   * `bindIds`). When the count falls short, that transaction is rolled back and the statement
   * runs again over the list of ids with `RETURNING id`, to tell applied from refused.
   */
  #ack(
    name: string,
    text: (where: string, returning: string) => string,
    token: string,
    ids: readonly string[],
    extra: Record<string, unknown>,
  ): AckResult {
    if (ids.length === 0) return { applied: [], refused: [] };

    const { selection, params: bound } = sql.bindIds(ids);
    const params = { ...bound, token, now: this.c.now(), ...extra };
    const quick = this.c.statement(`${name}_${selection}`, () => text(sql.idsWhere(selection), ''));
    this.#transaction ??= this.c.db.transaction(
      (statement: Database.Statement, bound: Record<string, unknown>, expected: number) => {
        if (statement.run(bound).changes !== expected) throw NOT_ALL_APPLIED;
      },
    );
    const run = this.#transaction;
    try {
      this.c.run(() => run.immediate(quick, params, ids.length));

      return { applied: [...ids], refused: [] };
    } catch (error) {
      if (error !== NOT_ALL_APPLIED) throw error;
    }

    const returning = this.c.statement(
      name,
      () => text(sql.idsWhere('list'), 'RETURNING id'),
      'pluck',
    );
    const list = { ids: JSON.stringify(ids.map(Number)), token, now: params.now, ...extra };
    const applied = this.c.run(() => returning.all(list) as number[]);

    return splitApplied(ids, applied);
  }
}
