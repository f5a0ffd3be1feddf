/** Names shared by the SQLite store and the producer API. */
import { resolve } from 'node:path';
import type Database from 'better-sqlite3';

/** The current time in milliseconds, as SQLite computes it (for column defaults). */
export const SQLITE_NOW_MS = `CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)`;

const memoryIds = new WeakMap<Database.Database, number>();
let nextMemoryId = 1;

/** The in-process wake key of an outbox table in a SQLite database. */
export function sqliteWakeKey(db: Database.Database, table: string): string {
  if (db.memory) {
    let id = memoryIds.get(db);
    if (id === undefined) {
      id = nextMemoryId;
      nextMemoryId += 1;
      memoryIds.set(db, id);
    }

    return `sqlite:memory:${id}#${table}`;
  }

  return `sqlite:${resolve(db.name)}#${table}`;
}
