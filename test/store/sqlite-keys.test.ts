// Order per key on the SQLite store in cases the conformance suite does not reach: rows removed
// by hand, requeued earlier events behind a later one that was handed out, and migration 2 (the
// busy-key index dropped) on an outbox that already holds events.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { SqliteStore, enqueueMany } from '../../src/store/index.js';
import { sqliteMigrations } from '../../src/store/sqlite/migrations.js';

const dir = mkdtempSync(join(tmpdir(), 'outbox-sqlite-keys-'));
const file = join(dir, 'keys.db');
const producer = new Database(file);
producer.pragma('journal_mode = WAL');
producer.pragma('busy_timeout = 5000');
let tables = 0;
const LEASE = 60_000;

after(() => {
  producer.close();
  rmSync(dir, { recursive: true, force: true });
});

async function open(
  options: { deadKeyPolicy?: 'hold' | 'skip'; now?: () => number } = {},
): Promise<SqliteStore> {
  tables += 1;
  const store = new SqliteStore({ filename: file, ...options, table: `keys_${tables}` });
  await store.migrate();

  return store;
}

async function enqueueKeyed(store: SqliteStore, count: number): Promise<string[]> {
  const events = Array.from({ length: count }, (_, n) => ({ type: 't', key: 'A', payload: n }));

  return enqueueMany(producer, events, { table: store.options.table });
}

const ids = (claim: { events: { id: string }[] }) => claim.events.map((event) => event.id);

describe('sqlite store: order per key, by hand and after a release', () => {
  it('hands out the next event of a key whose head an operator deleted by hand', async () => {
    const store = await open();
    try {
      const [a1, a2, a3] = await enqueueKeyed(store, 3);
      const first = await store.claim({ limit: 10, leaseMs: LEASE });
      assert.deepEqual(ids(first), [a1]);
      producer.prepare(`DELETE FROM "${store.options.table}" WHERE id = ?`).run(Number(a1));

      assert.deepEqual(ids(await store.claim({ limit: 10, leaseMs: LEASE })), [a2]);
      assert.deepEqual(await store.complete(first.token, [a1 as string]), {
        applied: [],
        refused: [a1],
      });
      assert.equal((await store.claim({ limit: 10, leaseMs: LEASE })).events.length, 0);
      assert.ok(a3 !== undefined);
    } finally {
      await store.close();
    }
  });

  it('hands out a requeued earlier event first once the later one was released', async () => {
    const store = await open({ deadKeyPolicy: 'skip' });
    try {
      const [a1, a2] = await enqueueKeyed(store, 2);
      const first = await store.claim({ limit: 10, leaseMs: LEASE });
      await store.deadLetter(first.token, [{ id: a1 as string, reason: 'poison' }]);
      const second = await store.claim({ limit: 10, leaseMs: LEASE });
      assert.deepEqual(ids(second), [a2]);
      await store.release(second.token, [a2 as string]);

      assert.equal(await store.requeueDead({ ids: [a1 as string] }), 1);
      const third = await store.claim({ limit: 10, leaseMs: LEASE });
      assert.deepEqual(ids(third), [a1]);
      assert.equal((await store.claim({ limit: 10, leaseMs: LEASE })).events.length, 0);
      await store.complete(third.token, [a1 as string]);
      assert.deepEqual(ids(await store.claim({ limit: 10, leaseMs: LEASE })), [a2]);
    } finally {
      await store.close();
    }
  });

  it('holds a requeued earlier event while a later one waits for its retry', async () => {
    let now = Date.now() + 1000;
    const store = await open({ deadKeyPolicy: 'skip', now: () => now });
    try {
      const [a1, a2] = await enqueueKeyed(store, 2);
      const first = await store.claim({ limit: 10, leaseMs: LEASE });
      await store.deadLetter(first.token, [{ id: a1 as string, reason: 'poison' }]);
      const second = await store.claim({ limit: 10, leaseMs: LEASE });
      assert.deepEqual(ids(second), [a2]);
      const retryAt = new Date(now + 1000);
      await store.fail(second.token, [{ id: a2 as string, error: 'broker down', retryAt }]);

      assert.equal(await store.requeueDead({ ids: [a1 as string] }), 1);
      assert.equal((await store.claim({ limit: 10, leaseMs: LEASE })).events.length, 0);
      now += 2000;
      assert.deepEqual(ids(await store.claim({ limit: 10, leaseMs: LEASE })), [a1]);
    } finally {
      await store.close();
    }
  });

  it('drops the busy-key index from an outbox with leased events and keeps its order', async () => {
    tables += 1;
    const table = `keys_${tables}`;
    const [first] = sqliteMigrations;
    assert.ok(first !== undefined);
    producer.exec(`CREATE TABLE "${table}_migrations" (
      version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL DEFAULT 0)`);
    producer.exec(first.sql(table));
    producer
      .prepare(`INSERT INTO "${table}_migrations" (version, name) VALUES (1, ?)`)
      .run(first.name);
    const old = new SqliteStore({ filename: file, table });
    const [a1, a2] = await enqueueMany(
      producer,
      [
        { type: 't', key: 'A', payload: 1 },
        { type: 't', key: 'A', payload: 2 },
        { type: 't', payload: 'unkeyed' },
      ],
      { table },
    );
    const leased = await old.claim({ limit: 1, leaseMs: LEASE });
    assert.deepEqual(ids(leased), [a1]);

    const store = new SqliteStore({ filename: file, table });
    try {
      await store.migrate();
      await store.migrate();
      const indexes = producer
        .prepare(`SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = ?`)
        .pluck()
        .all(table);
      assert.ok(!indexes.includes(`${table}_busy_key_idx`), indexes.join(', '));
      assert.equal((await store.claim({ limit: 10, leaseMs: LEASE })).events[0]?.key, null);
      await store.complete(leased.token, [a1 as string]);
      assert.deepEqual(ids(await store.claim({ limit: 10, leaseMs: LEASE })), [a2]);
    } finally {
      await store.close();
      await old.close();
    }
  });
});
