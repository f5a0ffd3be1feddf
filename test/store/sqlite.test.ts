import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import {
  SqliteStore,
  createStore,
  enqueue,
  enqueueMany,
  enqueueSync,
  isInvalidEventError,
  isStoreUnavailableError,
  type SqliteStoreOptions,
} from '../../src/store/index.js';
import { registerStoreConformance, waitFor, type Outbox } from './conformance.js';
import { registerRunConformance } from './conformance-runs.js';

const dir = mkdtempSync(join(tmpdir(), 'outbox-store-'));
const file = join(dir, 'outbox.db');
const producer = new Database(file);
producer.pragma('journal_mode = WAL');
producer.pragma('busy_timeout = 5000');
let tables = 0;

after(() => {
  producer.close();
  rmSync(dir, { recursive: true, force: true });
});

async function setup(options: Partial<SqliteStoreOptions> = {}): Promise<Outbox> {
  tables += 1;
  const table = `outbox_${tables}`;
  // Real time plus what the test skipped ahead: rows written with SQLite's own clock (the column
  // defaults) stay consistent with the store's clock.
  let skipped = 0;
  const clock = () => Date.now() + skipped;
  const stores: SqliteStore[] = [];
  const make = async (extra: Partial<SqliteStoreOptions> = {}) => {
    const store = new SqliteStore({ filename: file, table, now: clock, ...options, ...extra });
    stores.push(store);
    await store.migrate();

    return store;
  };
  const store = await make();

  return {
    store,
    open: (extra) => make(extra),
    enqueue: (events) => enqueueMany(producer, events, { table }),
    async enqueueRolledBack(events) {
      const write = producer.transaction(() => {
        enqueueSync(producer, events, { table });
        throw new Error('roll back');
      });
      assert.throws(() => write(), /roll back/);
    },
    async insertRaw(row) {
      producer
        .prepare(
          `INSERT INTO "${table}" (type, payload, headers, key) VALUES (?, ?, COALESCE(?, '{}'), ?)`,
        )
        .run(row.type, row.payload, row.headers ?? null, row.key ?? null);
    },
    async tick(ms) {
      skipped += ms;
      await new Promise((resolve) => setImmediate(resolve));
    },
    now: clock,
    async count() {
      const row = producer.prepare(`SELECT count(*) AS n FROM "${table}"`).get() as { n: number };

      return row.n;
    },
    async dispose() {
      await Promise.all(stores.map((each) => each.close()));
    },
  };
}

const harness = { name: 'sqlite', acceptsInvalidJson: true, setup };
registerStoreConformance(harness);
registerRunConformance(harness);

describe('sqlite store: specifics', () => {
  it('opens the file in WAL mode with a busy timeout', async () => {
    const outbox = await setup({ busyTimeoutMs: 1234 });
    try {
      const db = new Database(file, { readonly: true });
      try {
        assert.equal(db.pragma('journal_mode', { simple: true }), 'wal');
      } finally {
        db.close();
      }
    } finally {
      await outbox.dispose();
    }
  });

  it('delivers a row written with the README statement (type and payload only)', async () => {
    const outbox = await setup();
    try {
      const table = (outbox.store as SqliteStore).options.table;
      producer.exec(
        `INSERT INTO ${table} (type, payload) VALUES ('order.created', '{"orderId": 42}')`,
      );
      const claim = await outbox.store.claim({ limit: 10, leaseMs: 10_000 });
      assert.deepEqual(claim.events[0]?.payload, { orderId: 42 });
      assert.ok(Math.abs((claim.events[0]?.createdAt.getTime() ?? 0) - Date.now()) < 5_000);
    } finally {
      await outbox.dispose();
    }
  });

  it('joins a better-sqlite3 transaction; a failed one writes nothing', async () => {
    const outbox = await setup();
    const table = outbox.store instanceof SqliteStore ? outbox.store.options.table : '';
    try {
      producer.exec(`CREATE TABLE IF NOT EXISTS orders_${table} (id INTEGER PRIMARY KEY)`);
      const place = producer.transaction((fail: boolean) => {
        producer.prepare(`INSERT INTO orders_${table} (id) VALUES (NULL)`).run();
        const ids = enqueueSync(producer, { type: 'order.placed', payload: { n: 1 } }, { table });
        if (fail) throw new Error('business rule');

        return ids;
      });
      assert.throws(() => place(true), /business rule/);
      const [id] = place(false);
      assert.throws(
        () =>
          producer.transaction(() => enqueueSync(producer, { type: '', payload: 1 }, { table }))(),
        isInvalidEventError,
      );
      const claim = await outbox.store.claim({ limit: 10, leaseMs: 10_000 });
      assert.deepEqual(
        claim.events.map((event) => event.id),
        [id],
      );
      const orders = producer.prepare(`SELECT count(*) AS n FROM orders_${table}`).get();
      assert.deepEqual(orders, { n: 1 });
    } finally {
      await outbox.dispose();
    }
  });

  it('works through a one-method query adapter in the sqlite dialect', async () => {
    const outbox = await setup();
    const table = (outbox.store as SqliteStore).options.table;
    try {
      const adapter = {
        query: (text: string, params: unknown[]) => producer.prepare(text).all(...params),
      };
      const id = await enqueue(
        adapter,
        { type: 'a', payload: [1, 2] },
        { table, dialect: 'sqlite' },
      );
      const claim = await outbox.store.claim({ limit: 10, leaseMs: 10_000 });
      assert.equal(claim.events[0]?.id, id);
      assert.deepEqual(claim.events[0]?.payload, [1, 2]);
    } finally {
      await outbox.dispose();
    }
  });

  it('reports a database locked past the busy timeout as StoreUnavailableError', async () => {
    const outbox = await setup({ busyTimeoutMs: 20 });
    try {
      const locker = new Database(file);
      locker.exec('BEGIN IMMEDIATE');
      try {
        await assert.rejects(
          outbox.store.claim({ limit: 1, leaseMs: 1000 }),
          (error) =>
            isStoreUnavailableError(error) &&
            error.store === 'sqlite' &&
            /SQLITE_BUSY|locked/.test(error.message),
        );
      } finally {
        locker.exec('ROLLBACK');
        locker.close();
      }
      await outbox.store.claim({ limit: 1, leaseMs: 1000 });
    } finally {
      await outbox.dispose();
    }
  });

  it('treats a missing directory as a configuration error, not an outage', () => {
    assert.throws(
      () => new SqliteStore({ filename: join(dir, 'missing', 'dir', 'outbox.db') }),
      (error) =>
        error instanceof TypeError &&
        !isStoreUnavailableError(error) &&
        /directory does not exist/.test(error.message),
    );
  });

  it('an in-memory store wakes on enqueue through its own database', async () => {
    const db = new Database(':memory:');
    const store = new SqliteStore({ database: db });
    try {
      await store.migrate();
      let wakes = 0;
      store.onWake(() => {
        wakes += 1;
      });
      enqueueSync(db, [{ type: 't', payload: 1 }]);
      await waitFor(() => wakes === 1, 2_000, 'no wake-up');
      assert.equal((await store.claim({ limit: 5, leaseMs: 1000 })).events.length, 1);
    } finally {
      await store.close();
      assert.ok(db.open, 'a database given to the store stays open');
      db.close();
    }
  });

  it('createStore picks SQLite for sqlite: URLs and plain paths', async () => {
    const stores = [
      createStore('sqlite::memory:'),
      createStore(`sqlite:${join(dir, 'a.db')}`),
      createStore(`sqlite://${join(dir, 'b.db')}`),
      createStore(join(dir, 'c.db')),
    ];
    try {
      for (const store of stores) {
        assert.equal(store.kind, 'sqlite');
        await store.migrate();
        await store.ping();
      }
      assert.throws(() => createStore('mysql://u:pw@h/db'), /unsupported store URL scheme.*\*\*\*/);
      assert.throws(() => createStore('sqlite:'), /names no file/);
    } finally {
      await Promise.all(stores.map((store) => store.close()));
    }
  });

  it('rejects bad options, naming the option and the value', () => {
    assert.throws(() => new SqliteStore({ filename: ':memory:', table: '1abc' }), /table must be/);
    assert.throws(
      () => new SqliteStore({ filename: ':memory:', maxPayloadBytes: 1.5 }),
      /maxPayloadBytes must be an integer; got 1.5/,
    );
    assert.throws(
      () => new SqliteStore({ filename: ':memory:', retryBaseMs: 500, retryMaxMs: 100 }),
      /retryMaxMs must be >= retryBaseMs \(500\); got 100/,
    );
    assert.throws(() => new SqliteStore({}), /needs a filename or a database/);
  });
});
