/**
 * The numbered PostgreSQL migrations. Each runs once, recorded in `<table>_migrations`; all of
 * them run in one transaction under an advisory lock, so concurrent `migrate` calls queue up.
 *
 * Column choices: `payload` and `headers` are `json`, not `jsonb`. `json` checks the text at
 * insert (an invalid payload fails the producer's own transaction instead of reaching the
 * dispatcher), keeps it byte for byte, and costs no conversion on write or read; the outbox never
 * queries inside payloads, which is what `jsonb` would be for.
 */
import type pg from 'pg';

export interface PgNames {
  schema: string;
  table: string;
}

export interface Migration {
  version: number;
  name: string;
  sql: (names: PgNames) => string;
}

export function qualified({ schema, table }: PgNames, suffix = ''): string {
  return `"${schema}"."${table}${suffix}"`;
}

/** The NOTIFY channel of an outbox. */
export function wakeChannel({ schema, table }: PgNames): string {
  return `${schema}.${table}`.slice(0, 63);
}

export const migrations: readonly Migration[] = [
  {
    version: 1,
    name: 'outbox table, indexes, pause table and wake-up trigger',
    sql: (names) => {
      const t = qualified(names);
      const { table } = names;
      const channel = wakeChannel(names).replaceAll("'", "''");

      return `
        CREATE TABLE ${t} (
          id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
          type text NOT NULL,
          key text,
          payload json NOT NULL,
          headers json NOT NULL DEFAULT '{}',
          created_at timestamptz NOT NULL DEFAULT now(),
          available_at timestamptz NOT NULL DEFAULT now(),
          attempts integer NOT NULL DEFAULT 0,
          last_error text,
          state text NOT NULL DEFAULT 'pending'
            CONSTRAINT "${table}_state_check" CHECK (state IN ('pending', 'delivered', 'dead')),
          lease_token uuid,
          lease_expires_at timestamptz,
          delivered_at timestamptz,
          dead_at timestamptz
        ) WITH (
          autovacuum_vacuum_scale_factor = 0.01,
          autovacuum_vacuum_insert_scale_factor = 0.01,
          autovacuum_analyze_scale_factor = 0.02
        );
        CREATE INDEX "${table}_ready_idx" ON ${t} (available_at, id) WHERE state = 'pending';
        CREATE INDEX "${table}_key_idx" ON ${t} (key, id)
          WHERE state = 'pending' AND key IS NOT NULL;
        CREATE INDEX "${table}_busy_key_idx" ON ${t} (key)
          WHERE state = 'pending' AND attempts > 0 AND key IS NOT NULL;
        CREATE INDEX "${table}_dead_key_idx" ON ${t} (key, id) WHERE state = 'dead';
        CREATE INDEX "${table}_dead_idx" ON ${t} (id)
          WHERE state = 'dead' AND dead_at IS NOT NULL;
        CREATE INDEX "${table}_delivered_idx" ON ${t} (delivered_at) WHERE state = 'delivered';
        CREATE TABLE ${qualified(names, '_paused')} (
          type text PRIMARY KEY,
          paused_at timestamptz NOT NULL DEFAULT now()
        );
        CREATE FUNCTION ${qualified(names, '_wake')}() RETURNS trigger
          LANGUAGE plpgsql AS $fn$
          BEGIN
            PERFORM pg_notify('${channel}', '');
            RETURN NULL;
          END
          $fn$;
        CREATE TRIGGER "${table}_wake" AFTER INSERT ON ${t}
          FOR EACH STATEMENT EXECUTE FUNCTION ${qualified(names, '_wake')}();
      `;
    },
  },
  {
    version: 2,
    name: 'claims of unkeyed events change no indexed column; fillfactor for in-place updates',
    sql: (names) => {
      const t = qualified(names);
      const { schema, table } = names;

      // `claimed` replaces `attempts > 0` in the busy-key index, so that the claim's attempt
      // count is no longer indexed. Unkeyed events keep `claimed` false, so their claims change
      // no indexed column and PostgreSQL can update them in place (HOT): the fillfactor leaves
      // half of each page free for the new row versions (on pages filled from now on), and the
      // lease columns start non-null (an expired lease) so that a claimed row does not grow.
      return `
        ALTER TABLE ${t} ADD COLUMN claimed boolean NOT NULL DEFAULT false;
        UPDATE ${t} SET claimed = true
          WHERE state = 'pending' AND attempts > 0 AND key IS NOT NULL;
        DROP INDEX "${schema}"."${table}_busy_key_idx";
        CREATE INDEX "${table}_claimed_key_idx" ON ${t} (key)
          WHERE state = 'pending' AND claimed AND key IS NOT NULL;
        ALTER TABLE ${t} SET (fillfactor = 50),
          ALTER COLUMN lease_token SET DEFAULT '00000000-0000-0000-0000-000000000000',
          ALTER COLUMN lease_expires_at SET DEFAULT '-infinity';
      `;
    },
  },
];

/** Applies the missing migrations; safe to call from several processes at once. */
export async function migratePostgres(pool: pg.Pool, names: PgNames): Promise<number[]> {
  const client = await pool.connect();
  const applied: number[] = [];
  let failure: Error | undefined;
  try {
    await client.query('BEGIN');
    await client.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 0))', [
      `outbox-migrate:${names.schema}.${names.table}`,
    ]);
    await client.query(`CREATE SCHEMA IF NOT EXISTS "${names.schema}"`);
    await client.query(
      `CREATE TABLE IF NOT EXISTS ${qualified(names, '_migrations')} (
        version integer PRIMARY KEY,
        name text NOT NULL,
        applied_at timestamptz NOT NULL DEFAULT now()
      )`,
    );

    const { rows } = await client.query<{ version: number }>(
      `SELECT version FROM ${qualified(names, '_migrations')}`,
    );
    const done = new Set(rows.map((row) => row.version));
    for (const migration of migrations) {
      if (done.has(migration.version)) continue;

      await client.query(migration.sql(names));
      await client.query(
        `INSERT INTO ${qualified(names, '_migrations')} (version, name) VALUES ($1, $2)`,
        [migration.version, migration.name],
      );
      applied.push(migration.version);
    }

    await client.query('COMMIT');
  } catch (error) {
    failure = error as Error;
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  } finally {
    client.release(failure);
  }

  return applied;
}
