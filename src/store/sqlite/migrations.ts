/**
 * The numbered SQLite migrations, recorded in `<table>_migrations` and applied in one IMMEDIATE
 * transaction, so that two processes migrating the same file take turns. Times are integers in
 * milliseconds since the epoch; `payload` and `headers` are JSON text, checked when claimed.
 */
import type Database from 'better-sqlite3';
import { SQLITE_NOW_MS } from './names.js';

export interface SqliteMigration {
  version: number;
  name: string;
  sql: (table: string) => string;
}

export const sqliteMigrations: readonly SqliteMigration[] = [
  {
    version: 1,
    name: 'outbox table, indexes and pause table',
    sql: (table) => `
      CREATE TABLE "${table}" (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        type TEXT NOT NULL,
        key TEXT,
        payload TEXT NOT NULL,
        headers TEXT NOT NULL DEFAULT '{}',
        created_at INTEGER NOT NULL DEFAULT (${SQLITE_NOW_MS}),
        available_at INTEGER NOT NULL DEFAULT (${SQLITE_NOW_MS}),
        attempts INTEGER NOT NULL DEFAULT 0,
        last_error TEXT,
        state TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'delivered', 'dead')),
        lease_token TEXT,
        lease_expires_at INTEGER,
        delivered_at INTEGER,
        dead_at INTEGER
      );
      CREATE INDEX "${table}_ready_idx" ON "${table}" (available_at, id) WHERE state = 'pending';
      CREATE INDEX "${table}_key_idx" ON "${table}" (key, id)
        WHERE state = 'pending' AND key IS NOT NULL;
      CREATE INDEX "${table}_busy_key_idx" ON "${table}" (key)
        WHERE state = 'pending' AND attempts > 0 AND key IS NOT NULL;
      CREATE INDEX "${table}_dead_key_idx" ON "${table}" (key, id) WHERE state = 'dead';
      CREATE INDEX "${table}_dead_idx" ON "${table}" (id)
        WHERE state = 'dead' AND dead_at IS NOT NULL;
      CREATE INDEX "${table}_delivered_idx" ON "${table}" (delivered_at)
        WHERE state = 'delivered';
      CREATE TABLE "${table}_paused" (
        type TEXT PRIMARY KEY,
        paused_at INTEGER NOT NULL DEFAULT (${SQLITE_NOW_MS})
      );
    `,
  },
  {
    version: 2,
    name: 'no busy-key index: the claim checks busy keys for requeued heads only',
    sql: (table) => `DROP INDEX IF EXISTS "${table}_busy_key_idx";`,
  },
];

export function migrateSqlite(db: Database.Database, table: string): number[] {
  const run = db.transaction(() => {
    db.exec(`CREATE TABLE IF NOT EXISTS "${table}_migrations" (
      version INTEGER PRIMARY KEY,
      name TEXT NOT NULL,
      applied_at INTEGER NOT NULL DEFAULT (${SQLITE_NOW_MS})
    )`);
    const done = new Set(
      db
        .prepare(`SELECT version FROM "${table}_migrations"`)
        .all()
        .map((row) => (row as { version: number }).version),
    );
    const applied: number[] = [];
    for (const migration of sqliteMigrations) {
      if (done.has(migration.version)) continue;

      db.exec(migration.sql(table));
      db.prepare(`INSERT INTO "${table}_migrations" (version, name) VALUES (?, ?)`).run(
        migration.version,
        migration.name,
      );
      applied.push(migration.version);
    }

    return applied;
  });

  return run.immediate();
}
