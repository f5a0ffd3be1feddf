// The heads of keys of the SQLite store (migration 2): the table the triggers keep, the upgrade of
// an outbox that already holds events, and the cases the conformance suite does not reach.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { SqliteStore, enqueueMany } from '../../src/store/index.js';
import { sqliteMigrations } from '../../src/store/sqlite/migrations.js';
import * as sql from '../../src/store/sqlite/sql.js';

const dir = mkdtempSync(join(tmpdir(), 'outbox-sqlite-heads-'));
const file = join(dir, 'heads.db');
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
  options: { deadKeyPolicy?: 'hold' | 'skip'; table?: string } = {},
): Promise<SqliteStore> {
  const table = options.table ?? `heads_${(tables += 1)}`;
  const store = new SqliteStore({ filename: file, ...options, table });
  await store.migrate();

  return store;
}

/** The heads table as (key, id) pairs, ordered by key. */
function heads(table: string): [string, number][] {
  const query = producer.prepare(
    `SELECT o.key, o.id FROM "${table}_heads" h JOIN "${table}" o ON o.id = h.id
     ORDER BY o.key`,
  );

  return query.raw(true).all() as [string, number][];
}

/**
 * Checks the invariant the claim relies on: one head per key with pending events, none for other
 * keys, each head a pending event of its key whose `available_at` the heads table copies.
 */
function checkHeads(table: string): void {
  const stray = producer
    .prepare(
      `SELECT h.id FROM "${table}_heads" h LEFT JOIN "${table}" o ON o.id = h.id
       WHERE o.id IS NULL OR o.state <> 'pending' OR o.key IS NULL
         OR o.available_at <> h.available_at`,
    )
    .all();
  assert.deepEqual(stray, [], 'every head is a pending keyed event with its availability');

  const counts = producer
    .prepare(
      `SELECT k.key, (SELECT count(*) FROM "${table}_heads" h JOIN "${table}" o ON o.id = h.id
         WHERE o.key = k.key) AS n
       FROM (SELECT DISTINCT key FROM "${table}" WHERE state = 'pending' AND key IS NOT NULL) k`,
    )
    .all() as { key: string; n: number }[];
  for (const { key, n } of counts) assert.equal(n, 1, `key ${key} has ${n} heads`);

  const total = producer.prepare(`SELECT count(*) AS n FROM "${table}_heads"`).get() as {
    n: number;
  };
  assert.equal(total.n, counts.length, 'no head for a key without pending events');
}

const ids = (claim: { events: { id: string }[] }) => claim.events.map((event) => event.id);

describe('sqlite store: heads of keys', () => {
  it('upgrades an outbox with pending, leased, waiting and dead events (migration 2)', async () => {
    const table = `heads_${(tables += 1)}`;
    const [first] = sqliteMigrations;
    assert.ok(first !== undefined);
    producer.exec(`CREATE TABLE "${table}_migrations" (
      version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL DEFAULT 0)`);
    producer.exec(first.sql(table));
    producer
      .prepare(`INSERT INTO "${table}_migrations" (version, name) VALUES (1, ?)`)
      .run(first.name);

    // Rows as the version-1 store left them: A's head leased, B's head dead (held under hold),
    // C's head waiting for its retry, D's requeued earlier event behind a leased later one.
    const now = Date.now();
    const insert = producer.prepare(
      `INSERT INTO "${table}" (id, type, key, payload, state, attempts, lease_token,
         lease_expires_at, available_at)
       VALUES (?, 't', ?, '{}', ?, ?, ?, ?, ?)`,
    );
    const rows: [number, string | null, string, number, string | null, number | null, number][] = [
      [1, 'A', 'pending', 1, 'old', now + LEASE, now - 1000],
      [2, 'A', 'pending', 0, null, null, now - 1000],
      [3, 'B', 'dead', 1, null, null, now - 1000],
      [4, 'B', 'pending', 0, null, null, now - 1000],
      [5, 'C', 'pending', 1, null, null, now + LEASE],
      [6, 'C', 'pending', 0, null, null, now - 1000],
      [7, 'D', 'pending', 0, null, null, now - 1000],
      [8, 'D', 'pending', 1, 'old', now + LEASE, now - 1000],
      [9, null, 'pending', 0, null, null, now - 1000],
    ];
    for (const row of rows) insert.run(...row);

    const store = await open({ table });
    const again = await open({ table });
    try {
      assert.deepEqual(heads(table), [
        ['A', 1],
        ['B', 4],
        ['C', 5],
        ['D', 8],
      ]);
      checkHeads(table);
      const indexes = producer
        .prepare(`SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = ?`)
        .pluck()
        .all(table);
      assert.ok(!indexes.includes(`${table}_busy_key_idx`));
      assert.ok(!indexes.includes(`${table}_ready_idx`));

      const claim = await store.claim({ limit: 10, leaseMs: LEASE });
      assert.deepEqual(ids(claim), ['9']);
      assert.deepEqual(await store.complete('old', ['1', '8']), {
        applied: ['1', '8'],
        refused: [],
      });
      assert.deepEqual(ids(await store.claim({ limit: 10, leaseMs: LEASE })), ['2', '7']);
      checkHeads(table);
    } finally {
      await store.close();
      await again.close();
    }
  });

  it('passes the turn when an operator deletes a head by hand', async () => {
    const store = await open();
    const table = store.options.table;
    try {
      const [a1, a2] = await enqueueMany(
        producer,
        [
          { type: 't', key: 'A', payload: 1 },
          { type: 't', key: 'A', payload: 2 },
        ],
        { table },
      );
      producer.prepare(`DELETE FROM "${table}" WHERE id = ?`).run(Number(a1));
      assert.deepEqual(ids(await store.claim({ limit: 10, leaseMs: LEASE })), [a2]);
      checkHeads(table);
    } finally {
      await store.close();
    }
  });

  it('gives the turn to a requeued earlier event when the head was released', async () => {
    const store = await open({ deadKeyPolicy: 'skip' });
    const table = store.options.table;
    try {
      const [a1, a2] = await enqueueMany(
        producer,
        [
          { type: 't', key: 'A', payload: 1 },
          { type: 't', key: 'A', payload: 2 },
        ],
        { table },
      );
      const first = await store.claim({ limit: 10, leaseMs: LEASE });
      await store.deadLetter(first.token, [{ id: a1 as string, reason: 'poison' }]);
      const second = await store.claim({ limit: 10, leaseMs: LEASE });
      assert.deepEqual(ids(second), [a2]);
      await store.release(second.token, [a2 as string]);

      assert.equal(await store.requeueDead({ ids: [a1 as string] }), 1);
      checkHeads(table);
      assert.deepEqual(heads(table), [['A', Number(a1)]]);
      assert.deepEqual(ids(await store.claim({ limit: 10, leaseMs: LEASE })), [a1]);
    } finally {
      await store.close();
    }
  });

  it('keeps one head per key through retries, releases, dead letters and requeues', async () => {
    const store = await open({ deadKeyPolicy: 'skip' });
    const table = store.options.table;
    try {
      let seed = 7;
      const random = () => {
        seed = (seed * 48_271) % 2_147_483_647;

        return seed / 2_147_483_647;
      };
      for (let round = 0; round < 40; round += 1) {
        await enqueueMany(
          producer,
          Array.from({ length: 5 }, (_, n) => ({
            type: 't',
            key: n === 4 ? null : `k${Math.floor(random() * 4)}`,
            payload: { round, n },
          })),
          { table },
        );
        const claim = await store.claim({ limit: 3, leaseMs: LEASE });
        for (const event of claim.events) {
          const pick = random();
          if (pick < 0.4) await store.complete(claim.token, [event.id]);
          else if (pick < 0.55) await store.release(claim.token, [event.id]);
          else if (pick < 0.7) await store.deadLetter(claim.token, [{ id: event.id, reason: 'x' }]);
          else if (pick < 0.85) {
            await store.fail(claim.token, [{ id: event.id, error: 'e', retryAt: new Date(0) }]);
          }
        }
        if (round % 7 === 6) await store.requeueDead({ all: true });
        checkHeads(table);
      }
    } finally {
      await store.close();
    }
  });

  it('claims through the heads and the unkeyed index, never a walk of the keyed backlog', () => {
    const text = sql.claimSql('outbox', { policy: 'hold', types: false, excludeTypes: false });
    const db = new Database(':memory:');
    try {
      for (const migration of sqliteMigrations) db.exec(migration.sql('outbox'));
      const plan = (
        db.prepare(`EXPLAIN QUERY PLAN ${text}`).all({ now: 0, limit: 10 }) as {
          detail: string;
        }[]
      ).map((row) => row.detail);
      assert.ok(
        plan.some((line) => /SEARCH h USING PRIMARY KEY/.test(line)),
        plan.join('\n'),
      );
      assert.ok(
        plan.some((line) => /USING INDEX outbox_unkeyed_idx/.test(line)),
        plan.join('\n'),
      );
      assert.ok(!plan.some((line) => /TEMP B-TREE|SCAN o/.test(line)), plan.join('\n'));
    } finally {
      db.close();
    }
  });
});
