/**
 * Planner statistics of the outbox table. Until PostgreSQL has analyzed the table with rows in
 * it, it guesses that almost no row is pending, and plans the claim as a bitmap scan of every
 * ready row followed by a sort (spilling to disk past `work_mem`) instead of a walk of the ready
 * index that stops after `limit` rows: on a fresh table filled in bulk a claim then costs time
 * in proportion to the backlog (18 ms for 50,000 rows on an idle test machine against 1 ms).
 * Autovacuum fixes this, but only at its next round (`autovacuum_naptime`, a minute by default).
 * Once the table has statistics, later bulk inserts no longer mislead the planner: it scales the
 * row count by the table's size, so the store stops checking.
 *
 * What a check found is shared by every store of the process on the same table (same server,
 * schema and name): a store created after another has seen the statistics does not check again.
 * On a fresh connection the check took 2-6 ms (the server's catalog caches for `pg_stats`
 * are cold), and it held a connection just when the claim's acknowledgement wanted one, which
 * then prepared its statement on the pool's other connection; a process that creates many
 * stores on one table (a benchmark, a test, several dispatchers) paid that once per store.
 */
import type pg from 'pg';
import type { PgNames } from './migrations.js';
import { qualified } from './migrations.js';

/** The least time between two checks while the table has no statistics, in milliseconds. */
const RECHECK_MS = 10_000;

/** The tables (server, schema, name) found with statistics by any store of this process. */
const settledTables = new Set<string>();

type Query = (config: pg.QueryConfig) => Promise<pg.QueryResult>;

export class TableStatistics {
  readonly #names: PgNames;
  readonly #query: Query;
  readonly #now: () => number;
  /** The table's key in `settledTables`: the server, then the qualified name. */
  readonly #key: string;
  #settled = false;
  #nextCheck = 0;

  /** @param target the server, as `describeTarget` names it. */
  constructor(names: PgNames, target: string, query: Query, now: () => number = Date.now) {
    this.#names = names;
    this.#query = query;
    this.#now = now;
    this.#key = `${target} ${qualified(names)}`;
  }

  /**
   * Called after a claim that filled its batch (a backlog is waiting): analyzes the table if it
   * has no statistics yet. Cheap once settled; at most one check per ten seconds before that.
   */
  async afterFullClaim(): Promise<void> {
    if (this.#settled || this.#now() < this.#nextCheck) return;

    if (settledTables.has(this.#key)) {
      this.#settled = true;

      return;
    }

    this.#nextCheck = this.#now() + RECHECK_MS;
    if (!(await this.#analyzed())) {
      // SKIP_LOCKED: another store analyzing the table at the same moment is enough. A role that
      // does not own the table gets a warning, not an error; autovacuum then catches up alone.
      await this.#query({ text: `ANALYZE (SKIP_LOCKED) ${qualified(this.#names)}` });
      if (!(await this.#analyzed())) return;
    }

    this.#settled = true;
    settledTables.add(this.#key);
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
