// The dispatcher, end to end, against its peers measured in the same run.
//
//   npm run bench:dispatcher                   throughput, peers, SQL loop, latency
//   npm run bench:dispatcher -- --jobs 20000   fewer jobs per run
//   npm run bench:dispatcher -- latency        commit-to-publish latency only
//   npm run bench:dispatcher -- memory         resident memory across 1,000,000 events
//   BENCH_ROUNDS=5 npm run bench:dispatcher    head-to-head rounds for the ratios (default 3)
//
// Throughput: N no-op events are bulk-inserted into a fresh PostgreSQL outbox, then the clock
// runs until the outbox is empty (every event published and acknowledged). graphile-worker and
// pg-boss work off N no-op jobs with the same concurrency, each in its default and its fastest
// documented configuration; a minimal claim-then-delete SQL loop gives the database's ceiling,
// twice: returning ids only, and returning each row's payload too, parsed, as a dispatcher must.
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { Logger as GraphileLogger, run as runGraphile, makeWorkerUtils } from 'graphile-worker';
import PgBoss from 'pg-boss';
import { OutboxDispatcher } from '../src/dispatcher/index.js';
import type { OutboxEvent } from '../src/event.js';
import type { Publisher } from '../src/publisher/contract.js';
import { createStore, enqueueMany } from '../src/store/index.js';

const URL = process.env.OUTBOX_BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const args = process.argv.slice(2);
const jobsFlag = args.indexOf('--jobs');
const JOBS = jobsFlag >= 0 ? Number(args[jobsFlag + 1]) : 50_000;
/** The longest a peer's run is measured; its rate is then what it completed in that time. */
const CAP_MS = 20_000;
// The SQL loop commits without waiting for the disk, as the store's own pool does by default
// (synchronous_commit off), so that the ceiling does not lose by a setting.
const pool = new pg.Pool({ connectionString: URL, max: 4, options: '-c synchronous_commit=off' });
pool.on('error', () => undefined);

const suffix = () => randomBytes(3).toString('hex');
const rate = (count: number, ms: number) => Math.round((count * 1000) / ms);
const fmt = (value: number) => value.toLocaleString('en-US');

async function until(check: () => Promise<boolean>, timeoutMs = 600_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('benchmark timed out');

    await sleep(5);
  }
}

async function count(sql: string): Promise<number> {
  const { rows } = await pool.query<{ n: string }>(sql);

  return Number(rows[0]?.n ?? 0);
}

/** A publisher that confirms at once. */
class NoopPublisher implements Publisher {
  readonly name = 'noop';
  published = 0;
  onPublish: ((event: OutboxEvent) => void) | undefined;

  async publish(event: OutboxEvent): Promise<void> {
    this.published += 1;
    this.onPublish?.(event);
  }

  async close(): Promise<void> {}
}

/** Events per bulk insert into our outbox. */
const FILL_CHUNK = 5000;
/** The payload of the nth event of each bulk insert: our events and the payload loop's rows. */
const payloadOf = (n: number) => ({ n });

// Our dispatcher.

async function outbox(notify = true) {
  const schema = `benchdisp_${suffix()}`;
  const store = createStore(URL, { schema, notify });
  await store.migrate();

  return {
    schema,
    store,
    async fill(total: number) {
      const events = Array.from({ length: FILL_CHUNK }, (_, n) => ({
        type: 'noop',
        payload: payloadOf(n),
      }));
      for (let done = 0; done < total; done += events.length) {
        await enqueueMany(pool, events.slice(0, Math.min(events.length, total - done)), {
          schema,
        });
      }
    },
    left: () => count(`SELECT count(*) AS n FROM "${schema}".outbox`),
    async drop() {
      await store.close();
      await pool.query(`DROP SCHEMA "${schema}" CASCADE`);
    },
  };
}

/** How long each dispatcher's start() took (not timed in its rate), milliseconds. */
const startMs: number[] = [];

async function dispatcherRate(
  concurrency: number,
  batchSize: number,
  prefetch: number,
): Promise<number> {
  const box = await outbox();
  await box.fill(JOBS);
  const publisher = new NoopPublisher();
  const dispatcher = new OutboxDispatcher({
    store: box.store,
    publisher,
    concurrency,
    batchSize,
    prefetch,
    // Two claims in flight when there is room for two batches.
    claimers: prefetch >= batchSize ? 2 : 1,
    // A lease must outlast the publishes queued ahead of an event: no-op publishes are quick.
    publishTimeoutMs: prefetch > 0 ? 250 : undefined,
  });
  // The clock starts once start() has resolved (its first status query is done and the claim
  // loops have sent their first claims), as graphile-worker's run() and pg-boss's start() are
  // awaited before theirs and the SQL loop's setup is not timed either.
  const starting = performance.now();
  await dispatcher.start();
  const started = performance.now();
  startMs.push(started - starting);
  await until(async () => publisher.published >= JOBS && (await box.left()) === 0);
  const ms = performance.now() - started;
  await dispatcher.stop();
  await box.drop();

  return rate(JOBS, ms);
}

// The minimal SQL loop: claim a batch under a lease, then delete it.

/**
 * What the SQL loop's claim returns: `ids`, the ids alone (the first ceiling this bench had);
 * `payloads`, each row's id and payload, the payload read as text and parsed with `JSON.parse`
 * (as our store reads it, and as the store bench's ceiling does), on a table whose payloads are
 * the very texts of our events (`payloadOf`), so that both carry the same bytes.
 */
type LoopKind = 'ids' | 'payloads';

const LOOP_KINDS: readonly LoopKind[] = ['ids', 'payloads'];
const loopLabel = (kind: LoopKind) => (kind === 'ids' ? 'ids only' : 'id + payload, parsed');

/** Reads `json` columns as their text, so that the loop parses them itself. */
const JSON_AS_TEXT = {
  getTypeParser: (oid: number, format?: string) =>
    oid === 114 ? (value: string) => value : pg.types.getTypeParser(oid, format as 'text'),
} as pg.CustomTypesConfig;

async function sqlLoopRate(
  claimers: number,
  batchSize: number,
  kind: LoopKind = 'ids',
): Promise<number> {
  const table = `benchdisp_sql_${suffix()}`;
  // Half of each page is left free, as in the outbox table, so that the claim's update can stay
  // on its page (a HOT update): the ceiling is the best this loop can do.
  await pool.query(`CREATE TABLE ${table} (id bigserial PRIMARY KEY, payload json NOT NULL,
    lease_until timestamptz) WITH (fillfactor = 50)`);
  if (kind === 'ids') {
    await pool.query(
      `INSERT INTO ${table} (payload) SELECT json_build_object('n', g)
      FROM generate_series(1, $1) g`,
      [JOBS],
    );
  } else {
    // The texts our outbox gets from `fill`: chunks of FILL_CHUNK events, payloads 0 to 4999.
    const texts = Array.from({ length: JOBS }, (_, n) => JSON.stringify(payloadOf(n % FILL_CHUNK)));
    await pool.query(
      `INSERT INTO ${table} (payload) SELECT p::json FROM unnest($1::text[]) WITH ORDINALITY
      AS t(p, o) ORDER BY o`,
      [texts],
    );
  }
  await pool.query(`VACUUM ANALYZE ${table}`);
  const claim = `UPDATE ${table} SET lease_until = now() + interval '30 seconds'
    WHERE id IN (SELECT id FROM ${table} WHERE lease_until IS NULL ORDER BY id LIMIT $1
      FOR UPDATE SKIP LOCKED) RETURNING ${kind === 'ids' ? 'id' : 'id, payload'}`;
  const claimIds = async () => (await pool.query<{ id: string }>(claim, [batchSize])).rows;
  const claimPayloads = async () => {
    const { rows } = await pool.query<{ id: string; payload: string }>({
      text: claim,
      values: [batchSize],
      types: JSON_AS_TEXT,
    });
    for (const row of rows) JSON.parse(row.payload);

    return rows;
  };
  let done = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: claimers }, async () => {
      for (;;) {
        const rows = kind === 'ids' ? await claimIds() : await claimPayloads();
        if (rows.length === 0) return;

        await pool.query(`DELETE FROM ${table} WHERE id = ANY($1::bigint[])`, [
          rows.map((row) => row.id),
        ]);
        done += rows.length;
      }
    }),
  );
  const ms = performance.now() - started;
  await pool.query(`DROP TABLE ${table}`);

  return rate(done, ms);
}

// graphile-worker 0.17.

async function graphileRate(concurrency: number, tuned: boolean): Promise<number> {
  const schema = `benchdisp_gw_${suffix()}`;
  const utils = await makeWorkerUtils({ connectionString: URL, schema });
  await utils.migrate();
  for (let done = 0; done < JOBS; done += 5000) {
    const size = Math.min(5000, JOBS - done);
    await utils.addJobs(
      Array.from({ length: size }, (_, n) => ({ identifier: 'noop', payload: { n } })),
    );
  }
  const runner = await runGraphile({
    connectionString: URL,
    schema,
    concurrency,
    noHandleSignals: true,
    taskList: { noop: async () => undefined },
    logger: quietGraphileLogger(),
    ...(tuned
      ? {
          preset: {
            worker: {
              localQueue: { size: 500 },
              completeJobBatchDelay: 0,
              failJobBatchDelay: 0,
            },
          },
        }
      : {}),
  });
  const left = () => count(`SELECT count(*) AS n FROM "${schema}"._private_jobs`);
  const started = performance.now();
  await until(async () => (await left()) === 0 || performance.now() - started > CAP_MS);
  const ms = performance.now() - started;
  const done = JOBS - (await left());
  await runner.stop();
  await utils.release();
  // Batched completions may still be on their way after stop(): let them land first.
  await sleep(500);
  await pool.query(`DROP SCHEMA "${schema}" CASCADE`);

  return rate(done, ms);
}

function quietGraphileLogger() {
  // graphile-worker logs every job at info; keep its errors only.
  return new GraphileLogger(() => (level: string, message: string) => {
    if (level === 'error') console.error(`graphile-worker: ${message}`);
  });
}

// pg-boss 10.

async function pgBossRate(concurrency: number, tuned: boolean): Promise<number> {
  const schema = `benchdisp_boss_${suffix()}`;
  const boss = new PgBoss({ connectionString: URL, schema, supervise: false, schedule: false });
  boss.on('error', (error) => console.error(`pg-boss: ${String(error)}`));
  await boss.start();
  await boss.createQueue('noop');
  for (let done = 0; done < JOBS; done += 5000) {
    const size = Math.min(5000, JOBS - done);
    await boss.insert(Array.from({ length: size }, (_, n) => ({ name: 'noop', data: { n } })));
  }
  const options = tuned ? { batchSize: 100, pollingIntervalSeconds: 0.5 } : {};
  const completed = () =>
    count(`SELECT count(*) AS n FROM "${schema}".job WHERE name = 'noop' AND state = 'completed'`);
  const started = performance.now();
  for (let worker = 0; worker < concurrency; worker += 1) {
    await boss.work('noop', options, async () => undefined);
  }
  // By default each pg-boss worker waits its 2 s polling interval between fetches of one job,
  // so the default configuration is measured over a bounded time instead of to the end.
  await until(async () => (await completed()) >= JOBS || performance.now() - started > CAP_MS);
  const ms = performance.now() - started;
  const done = await completed();
  await boss.stop({ graceful: false, wait: true });
  await pool.query(`DROP SCHEMA "${schema}" CASCADE`);

  return rate(done, ms);
}

// Commit-to-publish latency at a steady 1,000 events per second.

/** Small claims, several in flight: a notification never waits behind a slow claim. */
const LOW_LATENCY = { batchSize: 10, prefetch: 40, claimers: 3, publishTimeoutMs: 2000 };

async function latency(
  notify: boolean,
  tuned: boolean,
): Promise<{ p50: number; p99: number; count: number }> {
  const box = await outbox(notify);
  const publisher = new NoopPublisher();
  const published = new Map<string, number>();
  publisher.onPublish = (event) => published.set(event.id, performance.now());
  const dispatcher = new OutboxDispatcher({
    store: box.store,
    publisher,
    concurrency: 10,
    ...(tuned ? LOW_LATENCY : {}),
  });
  await dispatcher.start();
  const committed = new Map<string, number>();
  const seconds = 6;
  const started = performance.now();
  for (let tick = 0; tick < seconds * 100; tick += 1) {
    const due = started + tick * 10;
    const wait = due - performance.now();
    if (wait > 0) await sleep(wait);

    const ids = await enqueueMany(
      pool,
      Array.from({ length: 10 }, (_, n) => ({ type: 'noop', payload: { n } })),
      { schema: box.schema },
    );
    const at = performance.now();
    for (const id of ids) committed.set(id, at);
  }
  await until(async () => published.size >= committed.size, 30_000);
  await dispatcher.stop();
  await box.drop();

  // The first second is warm-up.
  const delays = [...committed]
    .filter(([, at]) => at - started > 1000)
    .map(([id, at]) => Math.max(0, (published.get(id) ?? at) - at))
    .sort((a, b) => a - b);
  const pick = (q: number) =>
    delays[Math.min(delays.length - 1, Math.floor(q * delays.length))] ?? 0;

  return { p50: pick(0.5), p99: pick(0.99), count: delays.length };
}

// Resident memory across 1,000,000 events.

async function memory(): Promise<void> {
  const total = 1_000_000;
  const box = await outbox();
  const publisher = new NoopPublisher();
  const dispatcher = new OutboxDispatcher({
    store: box.store,
    publisher,
    concurrency: 50,
    batchSize: 500,
    prefetch: 450,
    publishTimeoutMs: 1000,
  });
  await dispatcher.start();
  let written = 0;
  const samples: { delivered: number; rss: number; heap: number }[] = [];
  const marks = [100_000, 250_000, 500_000, 750_000, total];
  const started = performance.now();
  const sample = () => {
    const mark = marks[samples.length];
    if (mark === undefined || publisher.published < mark) return;

    (globalThis as { gc?: () => void }).gc?.();
    const usage = process.memoryUsage();
    samples.push({ delivered: publisher.published, rss: usage.rss, heap: usage.heapUsed });
    console.log(
      `  ${fmt(publisher.published).padStart(9)} delivered: rss ${mb(usage.rss)}, ` +
        `heap ${mb(usage.heapUsed)}`,
    );
  };
  while (publisher.published < total) {
    if (written < total && written - publisher.published < 50_000) {
      await box.fill(10_000);
      written += 10_000;
    } else {
      await sleep(20);
    }
    sample();
  }
  sample();
  const ms = performance.now() - started;
  await dispatcher.stop();
  await box.drop();
  const first = samples[0];
  const last = samples.at(-1);
  if (first !== undefined && last !== undefined) {
    const growth = ((last.rss - first.rss) / first.rss) * 100;
    console.log(
      `rss at 1,000,000 vs 100,000: ${growth >= 0 ? '+' : ''}${growth.toFixed(1)} % ` +
        `(target within 10 %: ${Math.abs(growth) <= 10 ? 'met' : 'NOT met'}); ` +
        `${fmt(rate(total, ms))} events/s overall`,
    );
  }
}

/** Runs one measurement, once more if the database went away meanwhile (a shared machine). */
async function measured(name: string, measure: () => Promise<number>): Promise<number> {
  try {
    return await measure();
  } catch (error) {
    console.log(`  (${name} failed: ${(error as Error).message}; measuring again)`);
    await sleep(3000);

    return measure();
  }
}

const mb = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MB`;

async function main(): Promise<void> {
  if (args.includes('latency')) {
    await latencies();

    return;
  }

  if (args.includes('memory')) {
    console.log('memory across 1,000,000 events (concurrency 50, batch 500, prefetch 450):');
    await memory();

    return;
  }

  console.log(`${fmt(JOBS)} no-op events/jobs per run, PostgreSQL at 127.0.0.1\n`);
  const ours: Record<string, number> = {};
  for (const concurrency of [10, 50]) {
    for (const batchSize of [50, 500]) {
      for (const prefetch of new Set([0, batchSize - concurrency, 2 * batchSize - concurrency])) {
        const value = await measured('outbox-dispatcher', () =>
          dispatcherRate(concurrency, batchSize, prefetch),
        );
        ours[`${concurrency}/${batchSize}/${prefetch}`] = value;
        console.log(
          `outbox-dispatcher  concurrency ${concurrency}, batch ${batchSize}, ` +
            `prefetch ${prefetch}${prefetch >= batchSize ? ', 2 claimers' : ''}: ` +
            `${fmt(value)} events/s`,
        );
      }
    }
  }

  const sql: Record<LoopKind, Record<string, number>> = { ids: {}, payloads: {} };
  for (const kind of LOOP_KINDS) {
    for (const claimers of [1, 2]) {
      for (const batchSize of [50, 500]) {
        const value = await measured('SQL loop', () => sqlLoopRate(claimers, batchSize, kind));
        sql[kind][`${claimers}/${batchSize}`] = value;
        console.log(
          `SQL claim+delete loop, ${loopLabel(kind)}  ${claimers} claimer(s), ` +
            `batch ${batchSize}: ${fmt(value)} rows/s`,
        );
      }
    }
  }

  const peers: Record<string, Record<number, number>> = {};
  for (const concurrency of [10, 50]) {
    for (const [name, measure] of [
      ['graphile-worker default', () => graphileRate(concurrency, false)],
      [
        'graphile-worker localQueue 500 + batched completion',
        () => graphileRate(concurrency, true),
      ],
      ['pg-boss default', () => pgBossRate(concurrency, false)],
      ['pg-boss batchSize 100', () => pgBossRate(concurrency, true)],
    ] as const) {
      const value = await measured(name, measure);
      (peers[name] ??= {})[concurrency] = value;
      console.log(`${name}, concurrency ${concurrency}: ${fmt(value)} jobs/s`);
    }
  }

  const percent = (value: number, loop: number) => `${((value / loop) * 100).toFixed(0)} %`;
  console.log(
    '\nours / the SQL loop with the same batch size and claimers, ids only | id + payload, ' +
      'parsed (target 80 %):',
  );
  for (const [name, value] of Object.entries(ours)) {
    const [concurrency, batchSize, prefetch] = name.split('/').map(Number);
    const claimers = (prefetch ?? 0) >= (batchSize ?? 0) ? 2 : 1;
    const same = `${claimers}/${batchSize}`;
    console.log(
      `  concurrency ${concurrency}, batch ${batchSize}, prefetch ${prefetch}, ` +
        `${claimers} claimer(s): ${percent(value, sql.ids[same] ?? 0)} | ` +
        `${percent(value, sql.payloads[same] ?? 0)}`,
    );
  }

  console.log('\nratios (ours / fastest peer at the same concurrency; ours / best SQL loops):');
  const bestIds = Math.max(...Object.values(sql.ids));
  const bestPayloads = Math.max(...Object.values(sql.payloads));
  for (const concurrency of [10, 50]) {
    const fastest = Math.max(
      ...Object.values(peers).map((byConcurrency) => byConcurrency[concurrency] ?? 0),
    );
    const best = Math.max(
      ...Object.entries(ours)
        .filter(([name]) => name.startsWith(`${concurrency}/`))
        .map(([, value]) => value),
    );
    console.log(
      `  concurrency ${concurrency}: ${(best / fastest).toFixed(2)}x the fastest peer ` +
        `(target 1.25x), ${percent(best, bestIds)} of the SQL loop returning ids only, ` +
        `${percent(best, bestPayloads)} of the one returning payloads (target 80 %)`,
    );
  }

  await headToHead(ours, sql, peers);
  const starts = [...startMs].sort((a, b) => a - b);
  console.log(
    `\nstart() of our dispatcher (not timed in its rates): median ${median(starts).toFixed(0)} ms ` +
      `(${(starts[0] ?? 0).toFixed(0)}–${(starts.at(-1) ?? 0).toFixed(0)} ms)`,
  );
  await latencies();
}

const ROUNDS = Number(process.env['BENCH_ROUNDS'] ?? 3);
const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);

  return sorted[Math.floor((sorted.length - 1) / 2)] ?? 0;
};

/**
 * The machine's load moves between the runs above, so the ratios are measured again head to
 * head: for each concurrency, `ROUNDS` rounds of our best configuration, then for each kind of
 * SQL loop (ids only, id + payload parsed) the loop with the same batch size and claimers and
 * the best loop of that kind, and the fastest peer configuration, one right after the other;
 * each ratio is taken within its round and the median is reported.
 */
async function headToHead(
  ours: Record<string, number>,
  sql: Record<LoopKind, Record<string, number>>,
  peers: Record<string, Record<number, number>>,
): Promise<void> {
  const bestOf = (table: Record<string, number>) =>
    Object.entries(table).reduce((best, entry) => (entry[1] > best[1] ? entry : best));
  const bestLoop = (kind: LoopKind) => {
    const [claimers = 1, batchSize = 500] = bestOf(sql[kind])[0].split('/').map(Number);

    return { claimers, batchSize };
  };
  console.log(`\nhead to head, ${ROUNDS} rounds (median of the per-round ratios):`);
  for (const concurrency of [10, 50]) {
    const mine = Object.fromEntries(
      Object.entries(ours).filter(([name]) => name.startsWith(`${concurrency}/`)),
    );
    const [config] = bestOf(mine);
    const [, batchSize = 0, prefetch = 0] = config.split('/').map(Number);
    const claimers = prefetch >= batchSize ? 2 : 1;
    const [peer] = bestOf(
      Object.fromEntries(Object.entries(peers).map(([name, by]) => [name, by[concurrency] ?? 0])),
    );
    const vsPeer: number[] = [];
    const vsSame: Record<LoopKind, number[]> = { ids: [], payloads: [] };
    const vsBest: Record<LoopKind, number[]> = { ids: [], payloads: [] };
    for (let round = 0; round < ROUNDS; round += 1) {
      const value = await measured('outbox-dispatcher', () =>
        dispatcherRate(concurrency, batchSize, prefetch),
      );
      const loops: string[] = [];
      for (const kind of LOOP_KINDS) {
        const same = await measured('SQL loop', () => sqlLoopRate(claimers, batchSize, kind));
        const top = bestLoop(kind);
        const best = await measured('SQL loop', () =>
          sqlLoopRate(top.claimers, top.batchSize, kind),
        );
        vsSame[kind].push(value / same);
        vsBest[kind].push(value / Math.max(same, best));
        loops.push(`SQL loop ${loopLabel(kind)}: same batch ${fmt(same)}/s, best ${fmt(best)}/s`);
      }
      const rival = await measured(peer, () =>
        peer.startsWith('graphile')
          ? graphileRate(concurrency, peer.includes('localQueue'))
          : pgBossRate(concurrency, peer.includes('batchSize')),
      );
      vsPeer.push(value / rival);
      console.log(
        `  round ${round + 1}, concurrency ${concurrency}: ours ${fmt(value)}/s ` +
          `(batch ${batchSize}, prefetch ${prefetch}, ${claimers} claimer(s)); ` +
          `${loops.join('; ')}; ${peer} ${fmt(rival)}/s`,
      );
    }
    const pct = (values: number[]) => `${(median(values) * 100).toFixed(0)} %`;
    console.log(
      `  concurrency ${concurrency}: ${median(vsPeer).toFixed(2)}x the fastest peer ` +
        `(target 1.25x); of the SQL loop returning ids only: ${pct(vsSame.ids)} with the same ` +
        `batch, ${pct(vsBest.ids)} of the best; of the SQL loop returning payloads, parsed: ` +
        `${pct(vsSame.payloads)} with the same batch, ${pct(vsBest.payloads)} of the best ` +
        `(target 80 %)`,
    );
  }
}

async function latencies(): Promise<void> {
  for (const tuned of [false, true]) {
    for (const notify of [true, false]) {
      const result = await latency(notify, tuned);
      console.log(
        `commit-to-publish at 1,000 events/s, ${notify ? 'notifications' : 'polling only'}, ` +
          `${tuned ? 'batch 10, prefetch 40, 3 claimers' : 'defaults'}: ` +
          `p50 ${result.p50.toFixed(1)} ms, p99 ${result.p99.toFixed(1)} ms ` +
          `(${fmt(result.count)} events)`,
      );
    }
  }
}

// A peer's late background query against a dropped schema must not end the whole run.
process.on('unhandledRejection', (error) => {
  console.log(`  (a background query failed after its run: ${(error as Error).message})`);
});

try {
  await main();
} finally {
  await pool.end();
}

// A peer may leave a timer or a connection behind after its stop(): the run is over.
process.exit(0);
