// The SQLite store's claim and acknowledgement paths that the conformance suite does not reach:
// acknowledgements that apply to some of their ids only (listed or consecutive), repeated ids,
// and claims whose batch size changes from one call to the next (the limit is bound as an
// expression).
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { SqliteStore, enqueueMany } from '../../src/store/index.js';

const dir = mkdtempSync(join(tmpdir(), 'outbox-sqlite-acks-'));
const file = join(dir, 'acks.db');
const producer = new Database(file);
producer.pragma('journal_mode = WAL');
let tables = 0;

after(() => {
  producer.close();
  rmSync(dir, { recursive: true, force: true });
});

async function open(): Promise<SqliteStore> {
  tables += 1;
  const store = new SqliteStore({ filename: file, table: `acks_${tables}` });
  await store.migrate();

  return store;
}

async function fill(
  store: SqliteStore,
  count: number,
  key: (n: number) => string | null = () => null,
): Promise<void> {
  const events = Array.from({ length: count }, (_, n) => ({
    type: 'test.event',
    payload: { n },
    key: key(n),
  }));
  await enqueueMany(producer, events, { table: store.options.table });
}

describe('sqlite store: acknowledgements and batch sizes', () => {
  it('applies an acknowledgement to the ids it holds and refuses the others', async () => {
    const store = await open();
    try {
      await fill(store, 4);
      const mine = await store.claim({ limit: 2, leaseMs: 60_000 });
      const theirs = await store.claim({ limit: 1, leaseMs: 60_000 });
      const [a, b] = mine.events.map((event) => event.id);
      const [c] = theirs.events.map((event) => event.id);
      assert.ok(a !== undefined && b !== undefined && c !== undefined);

      const result = await store.complete(mine.token, [a, c, '999999', b]);
      assert.deepEqual(result, { applied: [a, b], refused: [c, '999999'] });

      const again = await store.complete(theirs.token, [c, a]);
      assert.deepEqual(again, { applied: [c], refused: [a] });
    } finally {
      await store.close();
    }
  });

  it('reports a repeated id as applied once the event is completed', async () => {
    const store = await open();
    try {
      await fill(store, 2);
      const claim = await store.claim({ limit: 2, leaseMs: 60_000 });
      const [a, b] = claim.events.map((event) => event.id);
      assert.ok(a !== undefined && b !== undefined);

      const result = await store.release(claim.token, [a, a]);
      assert.deepEqual(result, { applied: [a, a], refused: [] });
      assert.deepEqual(await store.complete(claim.token, [b]), { applied: [b], refused: [] });
    } finally {
      await store.close();
    }
  });

  it('applies consecutive ids to the rows leased under the token only', async () => {
    const store = await open();
    try {
      await fill(store, 5);
      const mine = await store.claim({ limit: 2, leaseMs: 60_000 });
      const theirs = await store.claim({ limit: 1, leaseMs: 60_000 });
      const later = await store.claim({ limit: 2, leaseMs: 60_000 });
      const [a, b] = mine.events.map((event) => event.id);
      const [c] = theirs.events.map((event) => event.id);
      const [d, e] = later.events.map((event) => event.id);
      assert.ok(a !== undefined && b !== undefined && c !== undefined);
      assert.ok(d !== undefined && e !== undefined);
      assert.deepEqual(
        [a, b, c, d, e].map(Number),
        Array.from({ length: 5 }, (_, n) => Number(a) + n),
      );

      const result = await store.complete(mine.token, [a, b, c]);
      assert.deepEqual(result, { applied: [a, b], refused: [c] });
      assert.deepEqual(await store.extendLease(later.token, [d, e], 1_000), {
        applied: [d, e],
        refused: [],
      });
      assert.deepEqual(await store.complete(later.token, [c, d, e]), {
        applied: [d, e],
        refused: [c],
      });
      assert.deepEqual(await store.release(theirs.token, [b, c, d]), {
        applied: [c],
        refused: [b, d],
      });
      assert.equal((await store.stats()).pending, 1);
    } finally {
      await store.close();
    }
  });

  it('honours a different limit at every claim', async () => {
    const store = await open();
    try {
      await fill(store, 12, (n) => (n % 2 === 0 ? `k${n % 6}` : null));
      const sizes: number[] = [];
      const seen = new Set<string>();
      for (const limit of [1, 3, 2, 5, 1]) {
        const claim = await store.claim({ limit, leaseMs: 60_000 });
        sizes.push(claim.events.length);
        for (const event of claim.events) {
          assert.ok(!seen.has(event.id), `event ${event.id} handed out twice`);
          seen.add(event.id);
        }
        await store.complete(
          claim.token,
          claim.events.map((event) => event.id),
        );
      }

      assert.deepEqual(sizes, [1, 3, 2, 5, 1]);
    } finally {
      await store.close();
    }
  });
});
