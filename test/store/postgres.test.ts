import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import {
  PostgresStore,
  createStore,
  enqueue,
  enqueueMany,
  isInvalidEventError,
  isStoreUnavailableError,
  type PostgresStoreOptions,
} from '../../src/store/index.js';
import { isPgConnectionError, redactUrl } from '../../src/store/errors.js';
import { migrations, type Migration } from '../../src/store/postgres/migrations.js';
import { compareIds } from '../../src/store/postgres/rows.js';
import { claimSql } from '../../src/store/postgres/sql.js';
import { registerStoreConformance, waitFor, type Outbox } from './conformance.js';
import { registerRunConformance } from './conformance-runs.js';

const URL = process.env['OUTBOX_TEST_PG_URL'] ?? 'postgres://postgres@127.0.0.1:5432/test';
const schema = `store_test_${process.pid}_${Math.random().toString(36).slice(2, 8)}`;
const pool = new pg.Pool({ connectionString: URL, max: 4 });
pool.on('error', () => undefined);
let tables = 0;

before(async () => {
  await pool.query(`CREATE SCHEMA IF NOT EXISTS "${schema}"`);
});

after(async () => {
  await pool.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  await pool.end();
});

async function setup(options: Partial<PostgresStoreOptions> = {}): Promise<Outbox> {
  tables += 1;
  const table = `outbox_${tables}`;
  const stores: PostgresStore[] = [];
  const make = async (extra: Partial<PostgresStoreOptions> = {}) => {
    const store = new PostgresStore({
      connectionString: URL,
      poolSize: 3,
      schema,
      table,
      ...options,
      ...extra,
    });
    stores.push(store);
    await store.migrate();

    return store;
  };
  const store = await make();
  const target = { schema, table };

  return {
    store,
    open: (extra) => make(extra),
    enqueue: (events) => enqueueMany(pool, events, target),
    async enqueueRolledBack(events) {
      const client = await pool.connect();
      try {
        await client.query('BEGIN');
        await enqueueMany(client, events, target);
        await client.query('ROLLBACK');
      } finally {
        client.release();
      }
    },
    async insertRaw(row) {
      await pool.query(
        `INSERT INTO "${schema}"."${table}" (type, payload, headers, key)
         VALUES ($1, $2, COALESCE($3::json, '{}'), $4)`,
        [row.type, row.payload, row.headers ?? null, row.key ?? null],
      );
    },
    tick: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
    now: () => Date.now(),
    async count() {
      const result = await pool.query(`SELECT count(*)::int AS n FROM "${schema}"."${table}"`);

      return result.rows[0].n as number;
    },
    async dispose() {
      await Promise.all(stores.map((each) => each.close()));
    },
  };
}

const harness = { name: 'postgres', acceptsInvalidJson: false, setup };
registerStoreConformance(harness);
registerRunConformance(harness);

describe('postgres store: specifics', () => {
  it('refuses an invalid JSON payload at insert, in the producer transaction', async () => {
    const outbox = await setup();
    try {
      await assert.rejects(
        outbox.insertRaw({ type: 't', payload: '{"unterminated":' }),
        /invalid input syntax for type json/,
      );
    } finally {
      await outbox.dispose();
    }
  });

  it('delivers a row written with the README statement (type and payload only)', async () => {
    const outbox = await setup();
    try {
      await pool.query(
        `INSERT INTO "${schema}".${tableOf(outbox)} (type, payload) ` +
          `VALUES ('order.created', '{"orderId": 42}')`,
      );
      const claim = await outbox.store.claim({ limit: 10, leaseMs: 10_000 });
      assert.deepEqual(claim.events[0]?.payload, { orderId: 42 });
      assert.deepEqual(claim.events[0]?.headers, {});
    } finally {
      await outbox.dispose();
    }
  });

  it('joins a pg client transaction: committed events are claimed, in order', async () => {
    const outbox = await setup();
    try {
      const client = await pool.connect();
      let ids: string[];
      try {
        await client.query('BEGIN');
        const first = await enqueue(
          client,
          { type: 'a', payload: 1, key: 'k' },
          {
            schema,
            table: tableOf(outbox),
          },
        );
        const rest = await enqueueMany(client, [{ type: 'b', payload: 2 }], {
          schema,
          table: tableOf(outbox),
        });
        ids = [first, ...rest];
        await client.query('COMMIT');
      } finally {
        client.release();
      }
      const claim = await outbox.store.claim({ limit: 10, leaseMs: 10_000 });
      assert.deepEqual(
        claim.events.map((event) => event.id),
        ids,
      );
    } finally {
      await outbox.dispose();
    }
  });

  it('an event committed late below a run waits until the run is done', async () => {
    const outbox = await setup();
    const target = { schema, table: tableOf(outbox) };
    const late = await pool.connect();
    try {
      const [a1] = await enqueueMany(pool, [{ type: 't', key: 'a', payload: 1 }], target);
      // a2 takes its id now and commits after a3: the run cannot see it, and passes it.
      await late.query('BEGIN');
      const [a2] = await enqueueMany(late, [{ type: 't', key: 'a', payload: 2 }], target);
      const [a3] = await enqueueMany(pool, [{ type: 't', key: 'a', payload: 3 }], target);
      const claim = await outbox.store.claim({ limit: 10, leaseMs: 60_000, perKey: 3 });
      assert.deepEqual(
        claim.events.map((event) => event.id),
        [a1, a3],
      );
      await late.query('COMMIT');
      // Never beside the run: the key's leased events hold it back until they are done.
      const other = await outbox.open();
      const next = () => other.claim({ limit: 10, leaseMs: 60_000, perKey: 3 });
      assert.equal((await next()).events.length, 0);
      await outbox.store.complete(claim.token, [a1 as string]);
      assert.equal((await next()).events.length, 0);
      await outbox.store.complete(claim.token, [a3 as string]);
      assert.deepEqual(
        (await next()).events.map((event) => event.id),
        [a2],
      );
    } finally {
      late.release();
      await outbox.dispose();
    }
  });

  it('a run stops at a row locked by another transaction', async () => {
    const outbox = await setup();
    const target = { schema, table: tableOf(outbox) };
    const locker = await pool.connect();
    try {
      const [a1, a2, a3] = await enqueueMany(
        pool,
        [1, 2, 3].map((n) => ({ type: 't', key: 'a', payload: n })),
        target,
      );
      await locker.query('BEGIN');
      await locker.query(`SELECT 1 FROM "${schema}"."${target.table}" WHERE id = $1 FOR UPDATE`, [
        a2,
      ]);
      const claim = await outbox.store.claim({ limit: 10, leaseMs: 60_000, perKey: 3 });
      assert.deepEqual(
        claim.events.map((event) => event.id),
        [a1],
      );
      await locker.query('ROLLBACK');
      await outbox.store.complete(claim.token, [a1 as string]);
      const rest = await outbox.store.claim({ limit: 10, leaseMs: 60_000, perKey: 3 });
      assert.deepEqual(
        rest.events.map((event) => event.id),
        [a2, a3],
      );
    } finally {
      locker.release();
      await outbox.dispose();
    }
  });

  it('works through a one-method query adapter with ? placeholders', async () => {
    const outbox = await setup();
    try {
      const calls: string[] = [];
      const adapter = {
        async query(text: string, params: unknown[]) {
          calls.push(text);
          let n = 0;
          const numbered = text.replace(/\?/g, () => `$${(n += 1)}`);

          return (await pool.query(numbered, params)).rows;
        },
      };
      const id = await enqueue(
        adapter,
        { type: 'a', payload: { via: 'adapter' }, headers: { traceparent: 'tp' } },
        { schema, table: tableOf(outbox), placeholders: 'question' },
      );
      assert.match(calls[0] ?? '', /VALUES \(\?, \?, \?::json/);
      const claim = await outbox.store.claim({ limit: 10, leaseMs: 10_000 });
      assert.equal(claim.events[0]?.id, id);
      assert.deepEqual(claim.events[0]?.payload, { via: 'adapter' });
      assert.deepEqual(claim.events[0]?.headers, { traceparent: 'tp' });
    } finally {
      await outbox.dispose();
    }
  });

  it('refuses an oversize or unserialisable event before writing it', async () => {
    const options = { schema, table: 'never_written', maxPayloadBytes: 10 };
    await assert.rejects(
      enqueue(pool, { type: 't', payload: 'x'.repeat(20) }, options),
      (error) =>
        isInvalidEventError(error) && /22 bytes; the limit is 10 bytes/.test(error.message),
    );
    await assert.rejects(enqueue(pool, { type: '', payload: 1 }, options), isInvalidEventError);
    await assert.rejects(
      enqueue(pool, { type: 't', payload: 1n as unknown }, options),
      isInvalidEventError,
    );
    await assert.rejects(
      enqueue(pool, { type: 't', payload: 1, headers: { n: 1 as unknown as string } }, options),
      isInvalidEventError,
    );
  });

  it('analyzes a fresh outbox after a full claim, so claims use the ready index', async () => {
    const outbox = await setup();
    const table = tableOf(outbox);
    const analyzed = async () => {
      const result = await pool.query(
        `SELECT count(*)::int AS n FROM pg_stats WHERE schemaname = $1 AND tablename = $2`,
        [schema, table],
      );

      return (result.rows[0] as { n: number }).n > 0;
    };
    const fill = (count: number) =>
      pool.query(
        `INSERT INTO "${schema}"."${table}" (type, payload)
         SELECT 't', json_build_object('n', n) FROM generate_series(1, $1::int) AS n`,
        [count],
      );
    try {
      await fill(50);
      await outbox.store.claim({ limit: 100, leaseMs: 10_000 });
      await new Promise((resolve) => setTimeout(resolve, 200));
      assert.equal(await analyzed(), false, 'a claim short of its limit analyzes nothing');

      await fill(5000);
      const claim = await outbox.store.claim({ limit: 10, leaseMs: 10_000 });
      assert.equal(claim.events.length, 10);
      const deadline = Date.now() + 5000;
      while (!(await analyzed())) {
        assert.ok(Date.now() < deadline, 'the outbox was not analyzed within 5 s');
        await new Promise((resolve) => setTimeout(resolve, 20));
      }

      const text = claimSql(
        { schema, table },
        { policy: 'hold', types: false, excludeTypes: false },
      );
      const plan = await pool.query(`EXPLAIN ${text}`, [10, 10_000, randomUUID()]);
      const lines = plan.rows.map((row: { 'QUERY PLAN': string }) => row['QUERY PLAN']).join('\n');
      assert.match(lines, new RegExp(`Index Scan using ${table}_ready_idx`));
      assert.doesNotMatch(lines, /Sort Key/);

      // The bounded claim stops its walk at the window's end: the bound is an index condition.
      const bounded = claimSql(
        { schema, table },
        { policy: 'hold', types: false, excludeTypes: false, bounded: true },
      );
      const boundedPlan = await pool.query(`EXPLAIN ${bounded}`, [10, 10_000, randomUUID(), 40]);
      const boundedLines = boundedPlan.rows
        .map((row: { 'QUERY PLAN': string }) => row['QUERY PLAN'])
        .join('\n');
      assert.match(boundedLines, /Index Cond: .*ROW\(available_at, id\) <= ROW\(/);

      // The generic plan, which the store's own pools use, walks the same index.
      const client = await pool.connect();
      try {
        await client.query('SET plan_cache_mode = force_generic_plan');
        await client.query(`PREPARE generic_claim(int, float8, uuid) AS ${text}`);
        const generic = await client.query(
          `EXPLAIN EXECUTE generic_claim(10, 10000, '${randomUUID()}')`,
        );
        const genericLines = generic.rows.map((row: { 'QUERY PLAN': string }) => row['QUERY PLAN']);
        assert.match(genericLines.join('\n'), new RegExp(`Index Scan using ${table}_ready_idx`));
        assert.doesNotMatch(genericLines.join('\n'), /Sort Key/);
      } finally {
        await client.query('DEALLOCATE ALL; RESET plan_cache_mode');
        client.release();
      }
    } finally {
      await outbox.dispose();
    }
  });

  it('checks the statistics of a table once per process, not once per store', async () => {
    const outbox = await setup();
    const table = tableOf(outbox);
    // A second store on the same table, through a pool whose queries are recorded.
    const watched = new pg.Pool({ connectionString: URL, max: 2 });
    const texts: string[] = [];
    const query = watched.query.bind(watched) as (...args: unknown[]) => Promise<unknown>;
    (watched as unknown as { query: (...args: unknown[]) => Promise<unknown> }).query = (
      ...args: unknown[]
    ) => {
      const config = args[0] as string | { text: string };
      texts.push(typeof config === 'string' ? config : config.text);

      return query(...args);
    };
    const second = new PostgresStore({ pool: watched, schema, table, notify: false });
    const statsChecks = () => texts.filter((text) => text.includes('pg_stats')).length;
    try {
      await pool.query(
        `INSERT INTO "${schema}"."${table}" (type, payload)
         SELECT 't', json_build_object('n', n) FROM generate_series(1, 200) AS n`,
      );
      // The first store finds no statistics after a full claim, analyzes the table, and says so.
      assert.equal((await outbox.store.claim({ limit: 10, leaseMs: 10_000 })).events.length, 10);
      const deadline = Date.now() + 5000;
      for (;;) {
        const result = await pool.query(
          `SELECT count(*)::int AS n FROM pg_stats WHERE schemaname = $1 AND tablename = $2`,
          [schema, table],
        );
        if ((result.rows[0] as { n: number }).n > 0) break;

        assert.ok(Date.now() < deadline, 'the outbox was not analyzed within 5 s');
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      // Let its background check finish recording what it found.
      await new Promise((resolve) => setTimeout(resolve, 100));

      // The second store, created afterwards, claims full batches without checking again.
      assert.equal((await second.claim({ limit: 10, leaseMs: 10_000 })).events.length, 10);
      assert.equal((await second.claim({ limit: 10, leaseMs: 10_000 })).events.length, 10);
      await new Promise((resolve) => setTimeout(resolve, 100));
      assert.equal(statsChecks(), 0);

      // A store on another table still checks its own.
      const other = await setup({ pool: watched, notify: false });
      try {
        await pool.query(
          `INSERT INTO "${schema}"."${tableOf(other)}" (type, payload)
           SELECT 't', json_build_object('n', n) FROM generate_series(1, 20) AS n`,
        );
        assert.equal((await other.store.claim({ limit: 10, leaseMs: 10_000 })).events.length, 10);
        await waitFor(() => statsChecks() > 0, 5000, 'the other table was not checked');
      } finally {
        await other.dispose();
      }
    } finally {
      await second.close();
      await watched.end();
      await outbox.dispose();
    }
  });

  it('claims unkeyed events in place (HOT), adding no index entries', async () => {
    const outbox = await setup();
    const table = tableOf(outbox);
    try {
      await outbox.enqueue(Array.from({ length: 300 }, (_, n) => ({ type: 't', payload: n })));
      const text = claimSql(
        { schema, table },
        { policy: 'hold', types: false, excludeTypes: false },
      );
      const client = await pool.connect();
      try {
        await client.query('BEGIN');
        const claimed = await client.query(text, [300, 10_000, randomUUID()]);
        const counts = await client.query(
          `SELECT pg_stat_get_xact_tuples_updated($1::regclass)::int AS updated,
             pg_stat_get_xact_tuples_hot_updated($1::regclass)::int AS hot`,
          [`"${schema}"."${table}"`],
        );
        await client.query('ROLLBACK');
        assert.equal(claimed.rowCount, 300);
        assert.deepEqual(counts.rows[0], { updated: 300, hot: 300 });
      } finally {
        client.release();
      }
    } finally {
      await outbox.dispose();
    }
  });

  it('a bounded claim reads only the oldest rows, and an empty one falls back', async () => {
    const outbox = await setup();
    const table = tableOf(outbox);
    try {
      const ids = await outbox.enqueue(
        Array.from({ length: 10 }, (_, n) => ({ type: 't', payload: n })),
      );
      const text = claimSql(
        { schema, table },
        { policy: 'hold', types: false, excludeTypes: false, bounded: true },
      );
      const run = async (limit: number, window: number) => {
        const result = await pool.query(text, [limit, 10_000, randomUUID(), window]);

        return (result.rows as { id: string }[]).map((row) => row.id).sort(compareIds);
      };
      assert.deepEqual(await run(10, 3), ids.slice(0, 3));
      // The window counts leased rows too: these three fill it, so nothing is left inside.
      assert.deepEqual(await run(10, 3), []);
      assert.deepEqual(await run(10, 100), ids.slice(3));

      // Through the store: a short claim makes the next one bounded (5 × 4 rows, all leased
      // here); finding nothing there, it runs the full claim at once.
      const more = await outbox.enqueue(
        Array.from({ length: 40 }, (_, n) => ({ type: 't', payload: n })),
      );
      const short = await outbox.store.claim({ limit: 100, leaseMs: 10_000 });
      assert.equal(short.events.length, 40);
      const later = await outbox.enqueue(
        Array.from({ length: 5 }, (_, n) => ({ type: 't', payload: n })),
      );
      const claim = await outbox.store.claim({ limit: 5, leaseMs: 10_000 });
      assert.deepEqual(
        claim.events.map((event) => event.id),
        later,
      );
      assert.equal(more.length, 40);
    } finally {
      await outbox.dispose();
    }
  });

  it('claims after a short one take turns; one whose turn does not come runs anyway', async () => {
    const outbox = await setup();
    const table = tableOf(outbox);
    const lock = `SELECT pg_advisory_lock(hashtextextended('outbox-claim:${schema}.${table}', 0))`;
    try {
      const first = await outbox.enqueue([{ type: 't', key: 'A', payload: 1 }]);
      const short = await outbox.store.claim({ limit: 10, leaseMs: 10_000 });
      assert.deepEqual(
        short.events.map((event) => event.id),
        first,
      );

      // Another claim holds the turn: the next claim waits for it, then runs beside it.
      const holder = await pool.connect();
      try {
        await holder.query(lock);
        const later = await outbox.enqueue([{ type: 't', key: 'B', payload: 2 }]);
        const started = Date.now();
        const waited = await outbox.store.claim({ limit: 10, leaseMs: 10_000 });
        const elapsed = Date.now() - started;
        assert.deepEqual(
          waited.events.map((event) => event.id),
          later,
        );
        assert.ok(elapsed >= 150, `the claim did not wait for its turn (${elapsed} ms)`);
      } finally {
        await holder.query('SELECT pg_advisory_unlock_all()');
        holder.release();
      }

      // In turn, the claim still waits for a table lock as long as it takes (not 200 ms).
      const locked = await outbox.enqueue([{ type: 't', key: 'C', payload: 3 }]);
      const locker = await pool.connect();
      await locker.query(`BEGIN; LOCK TABLE "${schema}"."${table}" IN ACCESS EXCLUSIVE MODE`);
      const unlocked = new Promise((resolve) => setTimeout(resolve, 400)).then(() =>
        locker.query('COMMIT'),
      );
      try {
        const blocked = await outbox.store.claim({ limit: 10, leaseMs: 10_000 });
        assert.deepEqual(
          blocked.events.map((event) => event.id),
          locked,
        );
      } finally {
        await unlocked;
        locker.release();
      }

      // With the turn free, a claim in turn runs at once and leaves no transaction open.
      const last = await outbox.enqueue([{ type: 't', key: 'D', payload: 4 }]);
      const started = Date.now();
      const claim = await outbox.store.claim({ limit: 10, leaseMs: 10_000 });
      assert.deepEqual(
        claim.events.map((event) => event.id),
        last,
      );
      assert.ok(Date.now() - started < 150, 'the free turn was waited for');
      const open = await pool.query(
        `SELECT count(*)::int AS n FROM pg_stat_activity
         WHERE datname = current_database() AND state LIKE 'idle in transaction%'
           AND query LIKE '%outbox-claim:${schema}.${table}%'`,
      );
      assert.equal((open.rows[0] as { n: number }).n, 0);
    } finally {
      await outbox.dispose();
    }
  });

  it('migration 2 applies to a version 1 outbox with events in it, leases included', async () => {
    const names = { schema, table: 'outbox_v1' };
    const t = `"${schema}"."outbox_v1"`;
    await pool.query(`CREATE TABLE "${schema}"."outbox_v1_migrations" (
      version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`);
    await pool.query((migrations[0] as Migration).sql(names));
    await pool.query(
      `INSERT INTO "${schema}"."outbox_v1_migrations" (version, name) VALUES (1, 'v1')`,
    );
    // Event 10 of key A is leased under version 1; event 5 of A committed late, behind it.
    await pool.query(
      `INSERT INTO ${t} (id, type, key, payload, attempts, lease_token, lease_expires_at)
       OVERRIDING SYSTEM VALUE VALUES
         (10, 't', 'A', '10', 1, gen_random_uuid(), now() + interval '1 minute'),
         (5, 't', 'A', '5', 0, NULL, NULL),
         (11, 't', NULL, '11', 0, NULL, NULL)`,
    );
    const store = new PostgresStore({ connectionString: URL, schema, table: names.table });
    try {
      await store.migrate();
      const claim = await store.claim({ limit: 10, leaseMs: 10_000 });
      assert.deepEqual(
        claim.events.map((event) => event.id),
        ['11'],
      );
      const table = await pool.query(`SELECT reloptions FROM pg_class WHERE oid = $1::regclass`, [
        t,
      ]);
      assert.ok((table.rows[0] as { reloptions: string[] }).reloptions.includes('fillfactor=50'));
      const versions = await pool.query(
        `SELECT array_agg(version ORDER BY version) AS v FROM "${schema}"."outbox_v1_migrations"`,
      );
      assert.deepEqual((versions.rows[0] as { v: number[] }).v, [1, 2]);
    } finally {
      await store.close();
    }
  });

  it('wakes on a notification from another connection', async () => {
    const outbox = await setup();
    try {
      const store = outbox.store as PostgresStore;
      let wakes = 0;
      store.onWake(() => {
        wakes += 1;
      });
      await waitFor(() => store.listening, 5_000, 'LISTEN never subscribed');
      await new Promise((resolve) => setTimeout(resolve, 50));
      wakes = 0;
      const client = new pg.Client({ connectionString: URL });
      await client.connect();
      try {
        await client.query('BEGIN');
        await enqueueMany(
          client,
          Array.from({ length: 5 }, (_, n) => ({ type: 't', payload: n })),
          { schema, table: tableOf(outbox) },
        );
        await enqueue(client, { type: 't', payload: 6 }, { schema, table: tableOf(outbox) });
        await new Promise((resolve) => setTimeout(resolve, 100));
        assert.equal(wakes, 0, 'woken before commit');
        await client.query('COMMIT');
      } finally {
        await client.end();
      }
      await waitFor(() => wakes > 0, 3_000, 'no wake-up after commit');
      await new Promise((resolve) => setTimeout(resolve, 100));
      assert.equal(wakes, 1, 'notifications of one transaction are coalesced');
    } finally {
      await outbox.dispose();
    }
  });

  it('does not listen when notify is false', async () => {
    const outbox = await setup({ notify: false });
    try {
      const store = outbox.store as PostgresStore;
      store.onWake(() => undefined);
      await new Promise((resolve) => setTimeout(resolve, 100));
      assert.equal(store.listening, false);
    } finally {
      await outbox.dispose();
    }
  });

  it('reports an unreachable database as StoreUnavailableError without the password', async () => {
    const store = new PostgresStore({
      connectionString: 'postgres://app:s3cret-pw@127.0.0.1:1/outbox',
      notify: false,
    });
    try {
      const check = (error: unknown) => {
        assert.ok(isStoreUnavailableError(error));
        assert.equal(error.store, 'postgres');
        assert.match(error.message, /postgres:\/\/app:\*\*\*@127\.0\.0\.1:1\/outbox/);
        assert.match(error.message, /ECONNREFUSED/);
        assert.doesNotMatch(error.message, /s3cret/);

        return true;
      };
      await assert.rejects(store.claim({ limit: 1, leaseMs: 1000 }), check);
      await assert.rejects(store.ping(), check);
    } finally {
      await store.close();
    }
  });

  it('classifies connection-level failures and lets other errors through', async () => {
    for (const code of ['57P01', '57P02', '57P03', '08006', '08001', 'ECONNRESET']) {
      assert.ok(isPgConnectionError(Object.assign(new Error('x'), { code })), code);
    }
    assert.ok(isPgConnectionError(new Error('Connection terminated unexpectedly')));
    assert.ok(!isPgConnectionError(Object.assign(new Error('x'), { code: '42P01' })));
    assert.equal(redactUrl('postgres://u:p@h/db'), 'postgres://u:***@h/db');

    const store = new PostgresStore({ connectionString: URL, schema, table: 'missing_table' });
    try {
      await assert.rejects(
        store.claim({ limit: 1, leaseMs: 1000 }),
        (error) => !isStoreUnavailableError(error) && (error as { code?: string }).code === '42P01',
      );
    } finally {
      await store.close();
    }
  });

  it('rejects bad options, naming the option and the value', () => {
    assert.throws(
      () => new PostgresStore({ connectionString: URL, schema: 'bad; drop' }),
      /schema must be an identifier.*"bad; drop"/,
    );
    assert.throws(
      () => new PostgresStore({ connectionString: URL, table: 'x"y' }),
      (error) => error instanceof TypeError && /table/.test(error.message),
    );
    assert.throws(
      () => new PostgresStore({ connectionString: URL, maxAttempts: 0 }),
      (error) =>
        error instanceof RangeError && /maxAttempts must be >= 1; got 0/.test(error.message),
    );
    assert.throws(
      () => new PostgresStore({ connectionString: URL, deadKeyPolicy: 'drop' as 'hold' }),
      /deadKeyPolicy must be 'hold' or 'skip'; got drop/,
    );
    assert.throws(() => new PostgresStore({}), /needs a pool or a connectionString/);
  });

  it('createStore picks PostgreSQL for postgres:// and postgresql:// URLs', async () => {
    const first = createStore(URL, { notify: false });
    const second = createStore(URL.replace('postgres:', 'postgresql:'), { notify: false });
    try {
      assert.equal(first.kind, 'postgres');
      assert.equal(second.kind, 'postgres');
      await second.ping();
    } finally {
      await first.close();
      await second.close();
    }
  });

  it(
    'the listening connection comes back by itself after PostgreSQL restarts',
    {
      skip: process.env['OUTBOX_SKIP_PG_RESTART'] === '1',
    },
    async () => {
      const outbox = await setup({ reconnectMinMs: 50, reconnectMaxMs: 500 });
      try {
        const store = outbox.store as PostgresStore;
        let wakes = 0;
        store.onWake(() => {
          wakes += 1;
        });
        await waitFor(() => store.listening, 5_000, 'LISTEN never subscribed');
        restartPostgres();
        await waitFor(() => store.listening, 30_000, 'LISTEN did not come back after the restart');
        await new Promise((resolve) => setTimeout(resolve, 50));
        wakes = 0;
        const client = new pg.Client({ connectionString: URL });
        await client.connect();
        try {
          await enqueue(client, { type: 't', payload: 1 }, { schema, table: tableOf(outbox) });
        } finally {
          await client.end();
        }
        await waitFor(() => wakes > 0, 5_000, 'no wake-up after the restart');
        const claim = await retry(() => outbox.store.claim({ limit: 10, leaseMs: 10_000 }));
        assert.equal(claim.events.length, 1);
      } finally {
        await outbox.dispose();
        ensurePostgresRunning();
      }
    },
  );
});

function tableOf(outbox: Outbox): string {
  return (outbox.store as PostgresStore).options.table;
}

function cluster(): string {
  return readdirSync('/etc/postgresql')[0] as string;
}

function restartPostgres(): void {
  execFileSync('pg_ctlcluster', ['--skip-systemctl-redirect', cluster(), 'main', 'restart'], {
    stdio: 'ignore',
  });
}

function ensurePostgresRunning(): void {
  try {
    execFileSync('pg_ctlcluster', ['--skip-systemctl-redirect', cluster(), 'main', 'status'], {
      stdio: 'ignore',
    });
  } catch {
    execFileSync('pg_ctlcluster', ['--skip-systemctl-redirect', cluster(), 'main', 'start'], {
      stdio: 'ignore',
    });
  }
}

/** Retries while the store reports the database unavailable (right after a restart). */
async function retry<T>(operation: () => Promise<T>): Promise<T> {
  for (let attempt = 0; ; attempt += 1) {
    try {
      return await operation();
    } catch (error) {
      if (!isStoreUnavailableError(error) || attempt > 20) throw error;

      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}
