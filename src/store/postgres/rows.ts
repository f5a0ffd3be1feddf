/** How the PostgreSQL store reads rows and names things: type parsing, ids, targets. */
import { createHash } from 'node:crypto';
import pg from 'pg';
import { toRaw, type DbEventRow } from '../decode.js';
import { redactUrl } from '../errors.js';

/**
 * Node-postgres returns `json` columns parsed; the store reads them as text to check them. A
 * `bigint` comes back as its text too, without the default parser's per-value pattern test.
 */
export const RAW_JSON_TYPES = {
  getTypeParser(oid: number, format?: string) {
    if (oid === JSON_OID || oid === INT8_OID) return asText;

    return pg.types.getTypeParser(oid, format as 'text');
  },
} as pg.CustomTypesConfig;

const JSON_OID = 114;
const INT8_OID = 20;
const asText = (value: string) => value;

/** A PostgreSQL outbox row: the `bigint` id comes back as text. */
export interface PgEventRow extends DbEventRow {
  id: string;
}

export { toRaw };

/** A prepared statement's name, unique per text (so per schema, table and variant). */
export function statementName(text: string): string {
  let name = statementNames.get(text);
  if (name === undefined) {
    name = `outbox_${createHash('sha1').update(text).digest('hex').slice(0, 20)}`;
    statementNames.set(text, name);
  }

  return name;
}

const statementNames = new Map<string, string>();

export function compareIds(a: string, b: string): number {
  return a.length - b.length || (a < b ? -1 : a > b ? 1 : 0);
}

export function clientConfig(pool: pg.Pool): pg.ClientConfig {
  const { options } = pool as unknown as { options: pg.PoolConfig };
  const { max: _max, idleTimeoutMillis: _idle, ...client } = options;

  return client;
}

export function describeTarget(pool: pg.Pool): string {
  const { options } = pool as unknown as { options: pg.PoolConfig };
  if (typeof options.connectionString === 'string') return redactUrl(options.connectionString);

  const host = options.host ?? process.env['PGHOST'] ?? 'localhost';
  const port = options.port ?? process.env['PGPORT'] ?? 5432;
  const database = options.database ?? process.env['PGDATABASE'] ?? '';

  return `postgres://${host}:${port}/${database}`;
}
