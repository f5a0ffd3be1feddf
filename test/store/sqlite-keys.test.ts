// Order per key on the SQLite store in cases the conformance suite does not reach: rows removed
// by hand, and a requeued earlier event whose later one was handed out and then released.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { SqliteStore, enqueueMany } from '../../src/store/index.js';

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

async function open(options: { deadKeyPolicy?: 'hold' | 'skip' } = {}): Promise<SqliteStore> {
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
});
