/** What the parts of the PostgreSQL store share. */
import type pg from 'pg';
import type { ResolvedCommonOptions } from '../options.js';
import type { PgNames } from './migrations.js';

/** The store's pool, table names and options, and its error mapping. */
export interface PgContext {
  readonly pool: pg.Pool;
  readonly names: PgNames;
  readonly options: Readonly<ResolvedCommonOptions>;
  /** Runs a query (or several) and reports a lost connection as `StoreUnavailableError`. */
  run<T>(operation: () => Promise<T>): Promise<T>;
}
