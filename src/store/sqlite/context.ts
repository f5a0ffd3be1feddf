/** What the parts of the SQLite store share. */
import type Database from 'better-sqlite3';
import type { OperatorContext } from './operator.js';

/**
 * The store's database, table, options and clock, its cache of prepared statements and its
 * error mapping, as the claim and the acknowledgements use them.
 */
export interface SqliteContext extends OperatorContext {
  readonly db: Database.Database;
  /**
   * A prepared statement, made once per name. `mode` makes it return rows as arrays (`raw`) or
   * only their first column (`pluck`), which spares an object per row.
   */
  statement(name: string, text: () => string, mode?: 'raw' | 'pluck'): Database.Statement;
}
