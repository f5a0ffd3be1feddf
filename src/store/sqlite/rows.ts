/** How the SQLite store reads its rows. */
import { toRaw, type DbEventRow } from '../decode.js';

/** A SQLite outbox row: the id comes back as a number. */
export interface SqliteEventRow extends DbEventRow {
  id: number;
}

export { toRaw };
