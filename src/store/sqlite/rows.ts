/** How the SQLite store reads its rows. */
import { toRaw, type DbEventRow, type RawEventRow } from '../decode.js';

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

/** Names a raw claimed row's values the way the decoder reads them. */
export function claimRowToRaw(row: SqliteClaimRow): RawEventRow {
  return {
    id: String(row[0]),
    type: row[1],
    key: row[2],
    payload: row[3],
    headers: row[4],
    createdAt: new Date(row[5]),
    availableAt: new Date(row[6]),
    attempts: row[7],
    lastError: row[8],
  };
}

export { toRaw };
