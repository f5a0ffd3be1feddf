import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import Database from 'better-sqlite3';
import pg from 'pg';
import type { OutboxEvent } from '../../src/event.js';
import type { Publisher, PublishOptions } from '../../src/publisher/contract.js';
import { PublishError } from '../../src/publisher/contract.js';
import type { OutboxStore } from '../../src/store/contract.js';
import { SqliteStore, createStore, enqueueMany } from '../../src/store/index.js';
import type { DeadKeyPolicy } from '../../src/store/index.js';

/**
 * Starts `outbox run` from the source in a child process, with these settings as its whole
 * environment (plus PATH); its log on standard error is read and dropped.
 */
export function spawnRun(env: Record<string, string>): ChildProcess {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', 'src/cli/main.ts', 'run', '--no-migrate'],
    {
      cwd: join(import.meta.dirname, '..', '..'),
      stdio: ['ignore', 'ignore', 'pipe'],
      env: { PATH: process.env.PATH ?? '', ...env },
    },
  );
  child.stderr?.resume();

  return child;
}

export const PG_URL =
  process.env.OUTBOX_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

/** A fresh PostgreSQL schema with a migrated outbox; `drop()` removes it. */
export async function pgOutbox(options: OutboxOptions = {}) {
  const schema = `disp_${randomBytes(4).toString('hex')}`;
  const store = createStore(PG_URL, { schema, ...options });
  await store.migrate();
  const pool = new pg.Pool({ connectionString: PG_URL, max: 2 });
  pool.on('error', () => undefined);

  return {
    schema,
    store,
    pool,
    async add(count: number, keys: number, type = 'order.created'): Promise<string[]> {
      const events = Array.from({ length: count }, (_, index) => ({
        type,
        key: keys > 0 ? `k${index % keys}` : null,
        payload: { n: index },
      }));
      const ids: string[] = [];
      for (let start = 0; start < events.length; start += 5000) {
        ids.push(...(await enqueueMany(pool, events.slice(start, start + 5000), { schema })));
      }

      return ids;
    },
    async count(where = 'true'): Promise<number> {
      const { rows } = await pool.query<{ n: string }>(
        `SELECT count(*) AS n FROM "${schema}".outbox WHERE ${where}`,
      );

      return Number(rows[0]?.n ?? 0);
    },
    async drop(): Promise<void> {
      await store.close().catch(() => undefined);
      await pool.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`).catch(() => undefined);
      await pool.end();
    },
  };
}

export type PgOutbox = Awaited<ReturnType<typeof pgOutbox>>;

export interface OutboxOptions {
  maxAttempts?: number;
  notify?: boolean;
  deadKeyPolicy?: DeadKeyPolicy;
}

/** The same as `pgOutbox`, on a fresh SQLite file written to by a separate connection. */
export async function sqliteOutbox(options: OutboxOptions = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'outbox-dispatcher-'));
  const filename = join(dir, 'outbox.db');
  const { notify: _notify, ...storeOptions } = options;
  const store = new SqliteStore({ filename, ...storeOptions });
  await store.migrate();
  const producer = new Database(filename);
  producer.pragma('busy_timeout = 5000');

  return {
    store: store as OutboxStore,
    async add(count: number, keys: number, type = 'order.created'): Promise<string[]> {
      const events = Array.from({ length: count }, (_, index) => ({
        type,
        key: keys > 0 ? `k${index % keys}` : null,
        payload: { n: index },
      }));

      return enqueueMany(producer, events);
    },
    async count(where = 'true'): Promise<number> {
      const row = producer.prepare(`SELECT count(*) AS n FROM outbox WHERE ${where}`).get() as {
        n: number;
      };

      return row.n;
    },
    async drop(): Promise<void> {
      await store.close().catch(() => undefined);
      producer.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A store a test can run the dispatcher on: PostgreSQL or SQLite. */
export type TestOutbox = Pick<PgOutbox, 'store' | 'add' | 'count' | 'drop'>;

export const OUTBOXES: readonly {
  name: string;
  open: (options?: OutboxOptions) => Promise<TestOutbox>;
}[] = [
  { name: 'sqlite', open: sqliteOutbox },
  { name: 'postgres', open: pgOutbox },
];

/** A publisher that records what it delivers, with a behaviour the test can change. */
export class RecordingPublisher implements Publisher {
  readonly name = 'recording';
  readonly delivered: OutboxEvent[] = [];
  calls = 0;
  active = 0;
  maxActive = 0;
  readonly maxActiveByType = new Map<string, number>();
  readonly activeByType = new Map<string, number>();
  /** Throws to fail a publish; may wait first. */
  behaviour: (event: OutboxEvent, signal: AbortSignal) => Promise<void> | void = () => undefined;

  async publish(event: OutboxEvent, options: PublishOptions): Promise<void> {
    this.calls += 1;
    this.active += 1;
    this.maxActive = Math.max(this.maxActive, this.active);
    const byType = (this.activeByType.get(event.type) ?? 0) + 1;
    this.activeByType.set(event.type, byType);
    this.maxActiveByType.set(
      event.type,
      Math.max(this.maxActiveByType.get(event.type) ?? 0, byType),
    );
    try {
      await this.behaviour(event, options.signal);
      this.delivered.push(event);
    } finally {
      this.active -= 1;
      this.activeByType.set(event.type, (this.activeByType.get(event.type) ?? 1) - 1);
    }
  }

  async close(): Promise<void> {}
}

/** Waits for `ms`, or rejects when `signal` aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener(
      'abort',
      () => {
        clearTimeout(timer);
        reject(new PublishError('aborted', 'retryable'));
      },
      { once: true },
    );
  });
}

/** A stream for a pino logger that keeps each JSON line it is written, parsed, in `lines`. */
export function jsonLogSink(): { sink: Writable; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split('\n')) if (line) lines.push(JSON.parse(line));
      done();
    },
  });

  return { sink, lines };
}

/** Polls `check` until it is true or `timeoutMs` passes. */
export async function waitFor(check: () => boolean | Promise<boolean>, timeoutMs = 20_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);

    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Asserts per-key order: within each key, ids arrive increasing (as numbers). */
export function firstDeliveriesInOrder(events: readonly { id: string; key: string | null }[]) {
  const seen = new Set<string>();
  const last = new Map<string, bigint>();
  for (const event of events) {
    if (seen.has(event.id)) continue;

    seen.add(event.id);
    if (event.key === null) continue;

    const id = BigInt(event.id);
    const previous = last.get(event.key);
    if (previous !== undefined && previous > id) return false;

    last.set(event.key, id);
  }

  return true;
}

export async function storeFigures(store: OutboxStore) {
  const stats = await store.stats();

  return {
    pending: stats.pending,
    inFlight: stats.inFlight,
    dead: stats.dead,
    scheduled: stats.scheduled,
  };
}
