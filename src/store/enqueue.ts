/**
 * The producer API: writes events into the outbox inside the caller's own transaction, through
 * a `pg` client or pool, a better-sqlite3 database, or any object with a `query(text, params)`
 * method (the adapter for Kysely, Knex, Drizzle or Prisma transactions).
 */
import type Database from 'better-sqlite3';
import pg from 'pg';
import type { NewOutboxEvent } from '../event.js';
import { encodeEvent } from './decode.js';
import {
  checkIdentifier,
  checkInteger,
  DEFAULT_MAX_PAYLOAD_BYTES,
  DEFAULT_TABLE,
} from './options.js';
import { SQLITE_NOW_MS, sqliteWakeKey } from './sqlite/names.js';
import { wake } from './wake.js';

/**
 * The one-method adapter. `query` runs `text` with positional `params` in the caller's
 * transaction and resolves to the returned rows, either as an array or as `{ rows }`.
 */
export interface QueryExecutor {
  query(text: string, params: unknown[]): Promise<unknown> | unknown;
}

/** Anything `enqueue` can write through. */
export type OutboxExecutor = QueryExecutor | Database.Database;

export interface EnqueueOptions {
  /** The outbox table. Default `outbox`. */
  table?: string;
  /** The schema of the outbox table (PostgreSQL only). Default `public`. */
  schema?: string;
  /**
   * The SQL dialect of a `query` executor. A better-sqlite3 database is always `sqlite`.
   * Default `postgres`.
   */
  dialect?: 'postgres' | 'sqlite';
  /**
   * Placeholder style of a `query` executor: `dollar` (`$1`, what `pg` expects) or `question`
   * (`?`, what Knex and SQLite drivers expect). Default: `dollar` for postgres, `question` for
   * sqlite.
   */
  placeholders?: 'dollar' | 'question';
  /** The largest payload accepted, in bytes of its JSON text. Default 1 MiB. */
  maxPayloadBytes?: number;
}

/** Rows per INSERT statement of `enqueueMany` (5 parameters each). */
const CHUNK = 1000;

/**
 * Writes one event into the outbox in the executor's current transaction and resolves to its
 * id. Throws an `InvalidEventError` for an event no store could deliver (no type, payload not
 * JSON or over the size limit, headers that are not strings).
 */
export async function enqueue(
  executor: OutboxExecutor,
  event: NewOutboxEvent,
  options: EnqueueOptions = {},
): Promise<string> {
  const [id] = await enqueueMany(executor, [event], options);

  return id as string;
}

/** Writes several events with as few statements as possible; resolves to their ids, in order. */
export async function enqueueMany(
  executor: OutboxExecutor,
  events: readonly NewOutboxEvent[],
  options: EnqueueOptions = {},
): Promise<string[]> {
  if (isSqliteDatabase(executor)) return enqueueSync(executor, events, options);

  if (typeof executor?.query !== 'function') {
    throw new TypeError(
      'enqueue needs a pg client or pool, a better-sqlite3 database, or an object with a ' +
        `query(text, params) method; got ${describe(executor)}`,
    );
  }

  const settings = resolve(options);
  const rows = events.map((event) => encodeEvent(event, settings.maxPayloadBytes));
  const ids: string[] = [];
  for (let start = 0; start < rows.length; start += CHUNK) {
    const chunk = rows.slice(start, start + CHUNK);
    const { text, params } = insertStatement(settings, chunk, events.slice(start));
    const result = await executor.query(text, params);
    ids.push(...extractIds(result, chunk.length));
  }

  if (executor instanceof pg.Pool && settings.dialect === 'postgres') {
    wake(`postgres:${settings.schema}.${settings.table}`);
  }

  return ids;
}

/**
 * The synchronous form for better-sqlite3, to call inside `db.transaction(() => …)`: it throws
 * at once instead of rejecting, so an invalid event rolls the transaction back.
 */
export function enqueueSync(
  db: Database.Database,
  events: NewOutboxEvent | readonly NewOutboxEvent[],
  options: Omit<EnqueueOptions, 'dialect' | 'placeholders' | 'schema'> = {},
): string[] {
  const list: readonly NewOutboxEvent[] = Array.isArray(events)
    ? events
    : [events as NewOutboxEvent];
  const settings = resolve({ ...options, dialect: 'sqlite' });
  const rows = list.map((event) => encodeEvent(event, settings.maxPayloadBytes));
  const statement = sqliteInsert(db, settings.table);
  const insertAll = db.transaction(() =>
    rows.map((row, index) => {
      const at = list[index]?.availableAt;
      const info = statement.run(row.type, row.key, row.payload, row.headers, time(at));

      return String(info.lastInsertRowid);
    }),
  );
  const ids = insertAll();
  wake(sqliteWakeKey(db, settings.table));

  return ids;
}

const sqliteInserts = new WeakMap<Database.Database, Map<string, Database.Statement>>();

function sqliteInsert(db: Database.Database, table: string): Database.Statement {
  let byTable = sqliteInserts.get(db);
  if (byTable === undefined) {
    byTable = new Map();
    sqliteInserts.set(db, byTable);
  }

  let statement = byTable.get(table);
  if (statement === undefined) {
    statement = db.prepare(
      `INSERT INTO "${table}" (type, key, payload, headers, available_at)
       VALUES (?, ?, ?, ?, COALESCE(?, ${SQLITE_NOW_MS}))`,
    );
    byTable.set(table, statement);
  }

  return statement;
}

interface Settings {
  table: string;
  schema: string;
  dialect: 'postgres' | 'sqlite';
  placeholders: 'dollar' | 'question';
  maxPayloadBytes: number;
}

function resolve(options: EnqueueOptions): Settings {
  const dialect = options.dialect ?? 'postgres';
  if (dialect !== 'postgres' && dialect !== 'sqlite') {
    throw new TypeError(`dialect must be 'postgres' or 'sqlite'; got ${String(dialect)}`);
  }

  const placeholders = options.placeholders ?? (dialect === 'postgres' ? 'dollar' : 'question');
  if (placeholders !== 'dollar' && placeholders !== 'question') {
    throw new TypeError(`placeholders must be 'dollar' or 'question'; got ${String(placeholders)}`);
  }

  return {
    table: checkIdentifier('table', options.table ?? DEFAULT_TABLE),
    schema: checkIdentifier('schema', options.schema ?? 'public'),
    dialect,
    placeholders,
    maxPayloadBytes: checkInteger(
      'maxPayloadBytes',
      options.maxPayloadBytes ?? DEFAULT_MAX_PAYLOAD_BYTES,
      1,
    ),
  };
}

function insertStatement(
  settings: Settings,
  rows: readonly ReturnType<typeof encodeEvent>[],
  events: readonly NewOutboxEvent[],
): { text: string; params: unknown[] } {
  const postgres = settings.dialect === 'postgres';
  const params: unknown[] = [];
  const mark = () => (settings.placeholders === 'dollar' ? `$${params.length}` : '?');
  const tuples = rows.map((row, index) => {
    const at = events[index]?.availableAt;
    params.push(row.type);
    const type = mark();
    params.push(row.key);
    const key = mark();
    params.push(row.payload);
    const payload = mark();
    params.push(row.headers);
    const headers = mark();
    const ms = time(at);
    params.push(postgres ? (ms === null ? null : new Date(ms)) : ms);
    const available = mark();

    return postgres
      ? `(${type}, ${key}, ${payload}::json, ${headers}::json, ` +
          `COALESCE(${available}::timestamptz, now()))`
      : `(${type}, ${key}, ${payload}, ${headers}, COALESCE(${available}, ${SQLITE_NOW_MS}))`;
  });
  const table = postgres ? `"${settings.schema}"."${settings.table}"` : `"${settings.table}"`;

  return {
    text:
      `INSERT INTO ${table} (type, key, payload, headers, available_at) ` +
      `VALUES ${tuples.join(', ')} RETURNING id`,
    params,
  };
}

function extractIds(result: unknown, expected: number): string[] {
  const rows = Array.isArray(result)
    ? result
    : (result as { rows?: unknown } | null | undefined)?.rows;
  if (!Array.isArray(rows) || rows.length !== expected) {
    throw new TypeError(
      'the query executor must resolve to the returned rows, as an array or as { rows }; ' +
        `expected ${expected} row(s) with an id`,
    );
  }

  return rows.map((row: { id?: unknown }) => String(row.id));
}

function isSqliteDatabase(executor: unknown): executor is Database.Database {
  const candidate = executor as { prepare?: unknown; exec?: unknown; query?: unknown } | null;

  return (
    typeof candidate?.prepare === 'function' &&
    typeof candidate.exec === 'function' &&
    typeof candidate.query !== 'function'
  );
}

function time(at: Date | undefined): number | null {
  if (at === undefined) return null;

  if (!(at instanceof Date) || Number.isNaN(at.getTime())) {
    throw new TypeError(`availableAt must be a valid Date; got ${String(at)}`);
  }

  return at.getTime();
}

function describe(value: unknown): string {
  if (value === null) return 'null';

  if (typeof value !== 'object') return typeof value;

  return value.constructor?.name ?? 'object';
}
