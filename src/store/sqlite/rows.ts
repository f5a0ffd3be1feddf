/** How the SQLite store reads its rows. */
import type { RawEventRow } from '../decode.js';

export interface SqliteEventRow {
  id: number;
  type: string;
  key: string | null;
  payload: unknown;
  headers: unknown;
  created_at: number;
  available_at: number;
  attempts: number;
  last_error: string | null;
}

export function toRaw(row: SqliteEventRow): RawEventRow {
  return {
    id: String(row.id),
    type: row.type,
    key: row.key,
    payload: row.payload,
    headers: row.headers,
    createdAt: new Date(row.created_at),
    availableAt: new Date(row.available_at),
    attempts: row.attempts,
    lastError: row.last_error,
  };
}
