/**
 * Planner statistics of the outbox table. Until PostgreSQL has analyzed the table with rows in
 * it, it guesses that almost no row is pending, and plans the claim as a bitmap scan of every
 * ready row followed by a sort (spilling to disk past `work_mem`) instead of a walk of the ready
 * index that stops after `limit` rows: on a fresh table filled in bulk a claim then costs time
 * in proportion to the backlog (18 ms for 50,000 rows on an idle test machine against 1 ms).
 * Autovacuum fixes this, but only at its next round (`autovacuum_naptime`, a minute by default).
 * Once the table has statistics, later bulk inserts no longer mislead the planner: it scales the
 * row count by the table's size, so the store stops checking.
 */
import type pg from 'pg';
import type { PgNames } from './migrations.js';
import { qualified } from './migrations.js';

/** The least time between two checks while the table has no statistics, in milliseconds. */
const RECHECK_MS = 10_000;

type Query = (config: pg.QueryConfig) => Promise<pg.QueryResult>;

export class TableStatistics {
  readonly #names: PgNames;
  readonly #query: Query;
  readonly #now: () => number;
  #settled = false;
  #nextCheck = 0;

  constructor(names: PgNames, query: Query, now: () => number = Date.now) {
    this.#names = names;
    this.#query = query;
    this.#now = now;
  }

  /**
   * Called after a claim that filled its batch (a backlog is waiting): analyzes the table if it
   * has no statistics yet. Cheap once settled; at most one check per ten seconds before that.
   */
  async afterFullClaim(): Promise<void> {
    if (this.#settled || this.#now() < this.#nextCheck) return;

    this.#nextCheck = this.#now() + RECHECK_MS;
    if (await this.#analyzed()) {
      this.#settled = true;

      return;
    }

    // SKIP_LOCKED: another store analyzing the table at the same moment is enough. A role that
    // does not own the table gets a warning, not an error; autovacuum then catches up alone.
    await this.#query({ text: `ANALYZE (SKIP_LOCKED) ${qualified(this.#names)}` });
    this.#settled = await this.#analyzed();
  }

  async #analyzed(): Promise<boolean> {
    const result = await this.#query({
      text: `SELECT EXISTS (SELECT 1 FROM pg_stats
        WHERE schemaname = $1 AND tablename = $2 AND attname = 'available_at') AS analyzed`,
      values: [this.#names.schema, this.#names.table],
    });

    return (result.rows[0] as { analyzed?: boolean } | undefined)?.analyzed === true;
  }
}
