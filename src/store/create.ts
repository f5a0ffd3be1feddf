/** Picks a store from a URL: PostgreSQL for `postgres://`, SQLite for the rest. */
import type { OutboxStore } from './contract.js';
import type { CommonStoreOptions } from './options.js';
import { PostgresStore, type PostgresStoreOptions } from './postgres/store.js';
import { SqliteStore, type SqliteStoreOptions } from './sqlite/store.js';

/** Options of `createStore`: the common ones, plus those of the store the URL selects. */
export type CreateStoreOptions = CommonStoreOptions &
  Omit<PostgresStoreOptions, 'connectionString'> &
  Omit<SqliteStoreOptions, 'filename' | 'database'>;

/**
 * Creates the store a URL names:
 * - `postgres://…` or `postgresql://…`: a `PostgresStore`;
 * - `sqlite::memory:`: an in-memory `SqliteStore` (for tests and demos);
 * - `sqlite:path`, `sqlite://path` or a plain file path: a `SqliteStore` on that file.
 */
export function createStore(url: string, options: CreateStoreOptions = {}): OutboxStore {
  if (typeof url !== 'string' || url.trim() === '') {
    throw new TypeError(`the store URL must be a non-empty string; got ${JSON.stringify(url)}`);
  }

  if (/^postgres(ql)?:\/\//i.test(url)) {
    return new PostgresStore({ ...options, connectionString: url });
  }

  const { pool: _pool, schema: _schema, notify: _notify, ...sqliteOptions } = options;
  if (/^sqlite:/i.test(url)) {
    let filename = url.slice('sqlite:'.length);
    if (filename.startsWith('//')) filename = filename.slice(2);
    if (filename === '') {
      throw new TypeError(`the SQLite URL names no file: ${JSON.stringify(url)}`);
    }

    return new SqliteStore({ ...sqliteOptions, filename });
  }

  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(url)) {
    throw new TypeError(
      `unsupported store URL scheme in ${JSON.stringify(url.replace(/\/\/[^@/]*@/, '//***@'))}; ` +
        'expected postgres://, postgresql://, sqlite: or a file path',
    );
  }

  return new SqliteStore({ ...sqliteOptions, filename: url });
}
