// Claim-and-complete throughput of the stores, against the ceiling measured in the same run: a
// minimal SQL loop that claims with `UPDATE … WHERE id IN (SELECT … FOR UPDATE SKIP LOCKED LIMIT
// n) RETURNING` and deletes what it claimed. Batches of 100 and 500, 1 and 4 claimers, events
// unkeyed and mostly keyed; the keyed events claimed one per key (`perKey` 1) and in runs of a
// key (`perKey` 10 and 50). `npm run bench:store`. Environment: OUTBOX_BENCH_EVENTS (events per
// run, 20,000), OUTBOX_BENCH_KEYS (keys of the keyed runs, 1,000), OUTBOX_BENCH_STORES
// (`postgres,sqlite`), OUTBOX_BENCH_SCENARIOS (`100x1,100x4,500x1,500x4`: batch x claimers),
// OUTBOX_BENCH_PER_KEY (the run lengths, `10,50`), OUTBOX_BENCH_ROUNDS (3),
// OUTBOX_BENCH_PG_URL.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import { PostgresStore, SqliteStore } from '../src/store/index.js';
import type { OutboxStore } from '../src/store/contract.js';

const URL = process.env['OUTBOX_BENCH_PG_URL'] ?? 'postgres://postgres@127.0.0.1:5432/test';
const EVENTS = Number(process.env['OUTBOX_BENCH_EVENTS'] ?? 20_000);
const KEYS = Number(process.env['OUTBOX_BENCH_KEYS'] ?? 1000);
const KEYED_SHARE = 0.9;
const ROUNDS = Number(process.env['OUTBOX_BENCH_ROUNDS'] ?? 3);
const ONLY = process.env['OUTBOX_BENCH_STORES']?.split(',') ?? ['postgres', 'sqlite'];
const PER_KEY = (process.env['OUTBOX_BENCH_PER_KEY'] ?? '10,50').split(',').map(Number);
const schema = `bench_store_${process.pid}`;
const payload = JSON.stringify({
  orderId: 12345,
  amount: 99.5,
  currency: 'EUR',
  note: 'x'.repeat(200),
});

interface Scenario {
  batch: number;
  claimers: number;
}

const scenarios: Scenario[] = (process.env['OUTBOX_BENCH_SCENARIOS'] ?? '100x1,100x4,500x1,500x4')
  .split(',')
  .map((text) => {
    const [batch, claimers] = text.split('x').map(Number);

    return { batch: batch ?? 100, claimers: claimers ?? 1 };
  });

/** How a store run claims: events unkeyed or keyed, and the most events per key per claim. */
interface Shape {
  keyed: boolean;
  perKey: number;
}

type Loop = (claimer: number) => Promise<number>;

/** Runs `claimers` loops until each finds nothing; returns events per second. */
async function drive(claimers: number, loop: Loop): Promise<number> {
  const started = performance.now();
  const counts = await Promise.all(Array.from({ length: claimers }, (_, n) => loop(n)));
  const seconds = (performance.now() - started) / 1000;
  const total = counts.reduce((sum, count) => sum + count, 0);
  if (total !== EVENTS) throw new Error(`delivered ${total} events, expected ${EVENTS}`);

  return total / seconds;
}

/** Empty claims in a row, 5 ms apart, after which a store loop gives up before the end. */
const IDLE_LOOKS = 200;

/**
 * The store's claim-and-complete loop. Unkeyed, a claimer ends at its first empty claim, as the
 * ceiling's does: whatever is left is leased by other claimers, which deliver it. Keyed, an empty
 * claim can also mean that events wait behind the keys of leased ones: a claimer ends at its
 * first empty claim once every event is delivered or held by other claimers, else it looks again
 * shortly.
 */
function storeLoop(stores: OutboxStore[], batch: number, shape: Shape): Loop {
  const { keyed, perKey } = shape;
  // Events delivered or dead-lettered, and events claimed and not yet acknowledged.
  const progress = { settled: 0, held: 0 };

  return async (claimer) => {
    const store = stores[claimer] as OutboxStore;
    let count = 0;
    let idle = 0;
    for (;;) {
      const claim = await store.claim({ limit: batch, leaseMs: 60_000, perKey });
      progress.settled += claim.rejected.length;
      if (claim.events.length === 0) {
        // A bound, so that a store that loses events ends the run and `drive` reports it.
        const done = !keyed || progress.settled + progress.held >= EVENTS;
        if (done || idle >= IDLE_LOOKS) return count;

        idle += 1;
        await new Promise((resolve) => setTimeout(resolve, 5));
        continue;
      }

      idle = 0;
      const ids = claim.events.map((event) => event.id);
      progress.held += ids.length;
      await store.complete(claim.token, ids);
      progress.held -= ids.length;
      count += ids.length;
      progress.settled += ids.length;
    }
  };
}

// PostgreSQL ---------------------------------------------------------------------------------

async function fillPostgres(pool: pg.Pool, table: string, keyed: boolean): Promise<void> {
  const key = keyed ? `CASE WHEN random() < ${KEYED_SHARE} THEN 'k' || (n % ${KEYS}) END` : 'NULL';
  await pool.query(
    `INSERT INTO "${schema}"."${table}" (type, key, payload)
     SELECT 'bench.event', ${key}, $1::json FROM generate_series(1, ${EVENTS}) AS n`,
    [payload],
  );
  await pool.query(`VACUUM ANALYZE "${schema}"."${table}"`);
}

async function postgresStore(pool: pg.Pool, scenario: Scenario, shape: Shape): Promise<number> {
  const { keyed } = shape;
  const table = `outbox_${scenario.batch}_${scenario.claimers}_${keyed ? 'k' : 'u'}`;
  const stores = Array.from(
    { length: scenario.claimers },
    () => new PostgresStore({ connectionString: URL, schema, table, poolSize: 2, notify: false }),
  );
  await (stores[0] as PostgresStore).migrate();
  await pool.query(`TRUNCATE "${schema}"."${table}"`);
  await fillPostgres(pool, table, keyed);
  try {
    // Every connection of the stores' pools is open before the clock starts, as the ceiling's
    // clients are: the run measures claims and completions, not connection setup.
    await Promise.all(stores.flatMap((store) => [store.ping(), store.ping()]));

    return await drive(scenario.claimers, storeLoop(stores, scenario.batch, shape));
  } finally {
    await Promise.all(stores.map((store) => store.close()));
  }
}

async function postgresCeiling(pool: pg.Pool, scenario: Scenario): Promise<number> {
  const table = `"${schema}"."ceiling"`;
  // Half-empty pages, as the outbox has: the claim's update of `locked_until` (not indexed) can
  // then stay on its page as a HOT update, which on full pages it mostly cannot.
  await pool.query(`CREATE TABLE IF NOT EXISTS ${table} (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    payload json NOT NULL,
    locked_until timestamptz) WITH (fillfactor = 50)`);
  await pool.query(`TRUNCATE ${table}`);
  await pool.query(
    `INSERT INTO ${table} (payload) SELECT $1::json FROM generate_series(1, ${EVENTS})`,
    [payload],
  );
  await pool.query(`VACUUM ANALYZE ${table}`);
  const clients = await Promise.all(
    Array.from({ length: scenario.claimers }, async () => {
      // The store's own pool commits without waiting for the disk (synchronous_commit off): the
      // ceiling does the same, so that the ratio compares the statements, not that setting.
      const client = new pg.Client({ connectionString: URL, options: '-c synchronous_commit=off' });
      await client.connect();

      return client;
    }),
  );
  const claim = `UPDATE ${table} SET locked_until = now() + interval '60 seconds'
    WHERE id IN (SELECT id FROM ${table}
      WHERE locked_until IS NULL OR locked_until < now()
      ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED)
    RETURNING id, payload`;
  try {
    return await drive(scenario.claimers, async (claimer) => {
      const client = clients[claimer] as pg.Client;
      let count = 0;
      for (;;) {
        const { rows } = await client.query<{ id: string }>({
          name: 'ceiling_claim',
          text: claim,
          values: [scenario.batch],
        });
        if (rows.length === 0) return count;

        await client.query({
          name: 'ceiling_delete',
          text: `DELETE FROM ${table} WHERE id = ANY($1::bigint[])`,
          values: [rows.map((row) => row.id)],
        });
        count += rows.length;
      }
    });
  } finally {
    await Promise.all(clients.map((client) => client.end()));
  }
}

// SQLite -------------------------------------------------------------------------------------

function fillSqlite(db: Database.Database, table: string, keyed: boolean): void {
  const insert = db.prepare(`INSERT INTO "${table}" (type, key, payload) VALUES (?, ?, ?)`);
  db.transaction(() => {
    for (let n = 1; n <= EVENTS; n += 1) {
      const key = keyed && Math.random() < KEYED_SHARE ? `k${n % KEYS}` : null;
      insert.run('bench.event', key, payload);
    }
  })();
}

async function sqliteStore(file: string, scenario: Scenario, shape: Shape): Promise<number> {
  const { keyed } = shape;
  const table = `outbox_${scenario.batch}_${scenario.claimers}_${keyed ? 'k' : 'u'}`;
  const stores = Array.from(
    { length: scenario.claimers },
    () => new SqliteStore({ filename: file, table }),
  );
  await (stores[0] as SqliteStore).migrate();
  const db = new Database(file);
  db.exec(`DELETE FROM "${table}"`);
  fillSqlite(db, table, keyed);
  db.close();
  try {
    return await drive(scenario.claimers, storeLoop(stores, scenario.batch, shape));
  } finally {
    await Promise.all(stores.map((store) => store.close()));
  }
}

async function sqliteCeiling(file: string, scenario: Scenario): Promise<number> {
  const dbs = Array.from({ length: scenario.claimers }, () => {
    const db = new Database(file, { timeout: 5000 });
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');

    return db;
  });
  const first = dbs[0] as Database.Database;
  first.exec(`CREATE TABLE IF NOT EXISTS ceiling (
    id INTEGER PRIMARY KEY AUTOINCREMENT, payload TEXT NOT NULL, locked_until INTEGER)`);
  first.exec('DELETE FROM ceiling');
  const insert = first.prepare('INSERT INTO ceiling (payload) VALUES (?)');
  first.transaction(() => {
    for (let n = 0; n < EVENTS; n += 1) insert.run(payload);
  })();
  try {
    return await drive(scenario.claimers, async (claimer) => {
      const db = dbs[claimer] as Database.Database;
      const claim = db.prepare(`UPDATE ceiling SET locked_until = @until
        WHERE id IN (SELECT id FROM ceiling
          WHERE locked_until IS NULL OR locked_until < @now ORDER BY id LIMIT @limit)
        RETURNING id, payload`);
      const remove = db.prepare('DELETE FROM ceiling WHERE id IN (SELECT value FROM json_each(?))');
      const claimBatch = db.transaction(() => {
        const now = Date.now();
        const rows = claim.all({ now, until: now + 60_000, limit: scenario.batch }) as {
          id: number;
          payload: string;
        }[];

        // Parse the payloads, as the store does, so that both loops do the same work.
        for (const row of rows) JSON.parse(row.payload);

        return rows.map((row) => row.id);
      });
      let count = 0;
      for (;;) {
        const ids = claimBatch.immediate();
        if (ids.length === 0) return count;

        db.transaction(() => remove.run(JSON.stringify(ids))).immediate();
        count += ids.length;
        await new Promise((resolve) => setImmediate(resolve));
      }
    });
  } finally {
    for (const db of dbs) db.close();
  }
}

// Run ----------------------------------------------------------------------------------------

interface Row {
  store: string;
  scenario: Scenario;
  /** Median rates, events per second. */
  ceiling: number;
  unkeyed: number;
  keyed: number;
  /** Medians of the ratios of each round (store and ceiling measured back to back). */
  unkeyedRatio: number;
  keyedRatio: number;
  /** The keyed events claimed in runs: per `perKey`, the median rate and ratio. */
  runs: { perKey: number; rate: number; ratio: number }[];
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);

  return sorted.length % 2 === 1
    ? (sorted[middle] as number)
    : ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2;
}

async function measure(
  name: string,
  ceiling: (scenario: Scenario) => Promise<number>,
  store: (scenario: Scenario, shape: Shape) => Promise<number>,
): Promise<Row[]> {
  const rows: Row[] = [];
  for (const scenario of scenarios) {
    const perKeys = PER_KEY.filter((perKey) => perKey <= scenario.batch);
    const rounds: { ceiling: number; unkeyed: number; keyed: number; runs: number[] }[] = [];
    for (let round = 0; round < ROUNDS; round += 1) {
      // Each store run sits between two ceiling runs, so that load drift hits both alike.
      const before = await ceiling(scenario);
      const unkeyed = await store(scenario, { keyed: false, perKey: 1 });
      const keyed = await store(scenario, { keyed: true, perKey: 1 });
      const runs: number[] = [];
      for (const perKey of perKeys) runs.push(await store(scenario, { keyed: true, perKey }));
      const after = await ceiling(scenario);
      rounds.push({ ceiling: (before + after) / 2, unkeyed, keyed, runs });
    }
    const row: Row = {
      store: name,
      scenario,
      ceiling: median(rounds.map((round) => round.ceiling)),
      unkeyed: median(rounds.map((round) => round.unkeyed)),
      keyed: median(rounds.map((round) => round.keyed)),
      unkeyedRatio: median(rounds.map((round) => round.unkeyed / round.ceiling)),
      keyedRatio: median(rounds.map((round) => round.keyed / round.ceiling)),
      runs: perKeys.map((perKey, n) => ({
        perKey,
        rate: median(rounds.map((round) => round.runs[n] as number)),
        ratio: median(rounds.map((round) => (round.runs[n] as number) / round.ceiling)),
      })),
    };
    rows.push(row);
    print(row);
  }

  return rows;
}

function print(row: Row): void {
  const rate = (value: number) => Math.round(value).toLocaleString('en-US').padStart(8);
  const ratio = (value: number) => `${Math.round(value * 100)} %`.padStart(6);
  console.log(
    `| ${row.store.padEnd(8)} | ${String(row.scenario.batch).padStart(5)} | ` +
      `${row.scenario.claimers} | ${rate(row.ceiling)} | ${rate(row.unkeyed)} | ` +
      `${ratio(row.unkeyedRatio)} | ${rate(row.keyed)} | ${ratio(row.keyedRatio)} |` +
      row.runs.map((run) => ` ${rate(run.rate)} | ${ratio(run.ratio)} |`).join(''),
  );
}

async function main(): Promise<void> {
  console.log(
    `store benchmark: ${EVENTS} events per run, median of ${ROUNDS} rounds; keyed runs put ` +
      `${KEYED_SHARE * 100} % of the events on ${KEYS} keys; events per second`,
  );
  const runColumns = PER_KEY.map((perKey) => ` keyed, perKey ${perKey} | ratio |`).join('');
  console.log(
    `| store    | batch | claimers | ceiling | unkeyed | ratio | keyed, perKey 1 | ratio |` +
      runColumns,
  );
  console.log(`|---|---:|---:|---:|---:|---:|---:|---:|${'---:|---:|'.repeat(PER_KEY.length)}`);

  const pool = new pg.Pool({ connectionString: URL, max: 2 });
  // A run of the SQLite store alone needs no PostgreSQL, and must survive its restart.
  const postgres = ONLY.includes('postgres');
  pool.on('error', (error) => console.error(`bench pool: ${error.message}`));
  if (postgres) await pool.query(`CREATE SCHEMA IF NOT EXISTS "${schema}"`);
  const dir = mkdtempSync(join(tmpdir(), 'outbox-bench-'));
  const file = join(dir, 'bench.db');
  try {
    if (postgres) {
      await measure(
        'postgres',
        (scenario) => postgresCeiling(pool, scenario),
        (scenario, keyed) => postgresStore(pool, scenario, keyed),
      );
    }
    if (ONLY.includes('sqlite')) {
      await measure(
        'sqlite',
        (scenario) => sqliteCeiling(file, scenario),
        (scenario, keyed) => sqliteStore(file, scenario, keyed),
      );
    }
  } finally {
    if (postgres) await pool.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    await pool.end();
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
