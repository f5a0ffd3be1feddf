/** How the SQLite store reads its rows. */
import { toRaw, type DbEventRow } from '../decode.js';

/** A SQLite outbox row: the id comes back as a number. */
export interface SqliteEventRow extends DbEventRow {
  id: number;
}

/**
 * A claimed row as the claim statement returns it in raw mode: the values of `COLUMNS`, in that
 * order, without an object per row. The row of a run (see `runSql`) also carries its lease's
 * end, in milliseconds, or null.
 */
export type SqliteClaimRow = [
  id: number,
  type: string,
  key: string | null,
  payload: unknown,
  headers: unknown,
  createdAt: number,
  availableAt: number,
  attempts: number,
  lastError: string | null,
  leaseExpiresAt?: number | null,
];

export { toRaw };
