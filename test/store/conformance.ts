/**
 * The store conformance suite: every store runs these tests against its real database.
 * `registerStoreConformance` registers them for a harness that knows how to make fresh outbox
 * tables and write rows the way producers do.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { NewOutboxEvent, OutboxEvent } from '../../src/event.js';
import type { Claim, OutboxStore } from '../../src/store/contract.js';
import type { CommonStoreOptions } from '../../src/store/options.js';

/** One fresh outbox table, migrated, with a store on it. */
export interface Outbox {
  store: OutboxStore;
  /** Another store (its own connection) on the same table, closed by `dispose`. */
  open(options?: CommonStoreOptions): Promise<OutboxStore>;
  /** Writes events through the producer API, each call in its own transaction. */
  enqueue(events: NewOutboxEvent[]): Promise<string[]>;
  /** Writes events in a transaction that then rolls back. */
  enqueueRolledBack(events: NewOutboxEvent[]): Promise<void>;
  /** Inserts a row with plain SQL, the way any other language would (raw column text). */
  insertRaw(row: { type: string; payload: string; headers?: string; key?: string }): Promise<void>;
  /** Lets store time pass: a fake clock where the store has one, a real wait otherwise. */
  tick(ms: number): Promise<void>;
  /** The store's current time in milliseconds. */
  now(): number;
  /** How many rows the table holds, delivered ones included. */
  count(): Promise<number>;
  dispose(): Promise<void>;
}

export interface StoreHarness {
  name: string;
  /** Whether a row with an invalid JSON payload can be inserted at all. */
  acceptsInvalidJson: boolean;
  setup(options?: CommonStoreOptions): Promise<Outbox>;
}

const LEASE = 60_000;

export function registerStoreConformance(harness: StoreHarness): void {
  const withOutbox = (
    name: string,
    options: CommonStoreOptions,
    test: (outbox: Outbox) => Promise<void>,
  ) =>
    it(name, async () => {
      const outbox = await harness.setup(options);
      try {
        await test(outbox);
      } finally {
        await outbox.dispose();
      }
    });

  describe(`${harness.name} store: schema and producers`, () => {
    withOutbox('migrate is idempotent and concurrent migrations queue up', {}, async (o) => {
      const others = await Promise.all([o.open(), o.open(), o.open()]);
      await Promise.all(others.map((store) => store.migrate()));
      await o.store.migrate();
      const [id] = await o.enqueue([{ type: 'a', payload: 1 }]);
      const claim = await o.store.claim({ limit: 10, leaseMs: LEASE });
      assert.deepEqual(ids(claim), [id]);
    });

    withOutbox(
      'a row inserted with plain SQL (type and payload only) is delivered',
      {},
      async (o) => {
        await o.insertRaw({ type: 'order.created', payload: '{"orderId":42}' });
        const claim = await o.store.claim({ limit: 10, leaseMs: LEASE });
        assert.equal(claim.events.length, 1);
        const event = claim.events[0] as OutboxEvent;
        assert.equal(event.type, 'order.created');
        assert.deepEqual(event.payload, { orderId: 42 });
        assert.equal(event.key, null);
        assert.deepEqual(event.headers, {});
        assert.equal(event.attempts, 1);
        assert.equal(event.lastError, null);
        assert.ok(Math.abs(event.createdAt.getTime() - Date.now()) < 5_000);
      },
    );

    withOutbox('an enqueued event comes back with every field it was given', {}, async (o) => {
      const [id] = await o.enqueue([
        {
          type: 'user.renamed',
          key: 'user-7',
          payload: { name: 'Zoë', tags: ['a', 'b'], n: 1.5 },
          headers: { 'content-type': 'application/json', traceparent: '00-abc-def-01' },
        },
      ]);
      const claim = await o.store.claim({ limit: 10, leaseMs: LEASE });
      const event = claim.events[0] as OutboxEvent;
      assert.equal(event.id, id);
      assert.equal(event.key, 'user-7');
      assert.deepEqual(event.payload, { name: 'Zoë', tags: ['a', 'b'], n: 1.5 });
      assert.deepEqual(event.headers, {
        'content-type': 'application/json',
        traceparent: '00-abc-def-01',
      });
      assert.ok(claim.leaseExpiresAt.getTime() > o.now());
    });

    withOutbox('ids increase in the order events are enqueued', {}, async (o) => {
      const batch = Array.from({ length: 50 }, (_, n) => ({ type: 't', payload: n }));
      const first = await o.enqueue(batch);
      const second = await o.enqueue(batch.slice(0, 5));
      const all = [...first, ...second].map(BigInt);
      for (let i = 1; i < all.length; i += 1)
        assert.ok((all[i] as bigint) > (all[i - 1] as bigint));
    });

    withOutbox('an event written in a rolled-back transaction is never claimed', {}, async (o) => {
      await o.enqueueRolledBack([{ type: 'ghost', payload: {} }]);
      await o.enqueue([{ type: 'real', payload: {} }]);
      const claim = await o.store.claim({ limit: 10, leaseMs: LEASE });
      assert.deepEqual(
        claim.events.map((event) => event.type),
        ['real'],
      );
    });

    withOutbox(
      'an event scheduled for later is claimed only once its time comes',
      {},
      async (o) => {
        await o.enqueue([{ type: 'later', payload: 1, availableAt: new Date(o.now() + 300) }]);
        assert.equal((await o.store.claim({ limit: 10, leaseMs: LEASE })).events.length, 0);
        assert.equal((await o.store.stats()).scheduled, 1);
        await o.tick(400);
        assert.equal((await o.store.claim({ limit: 10, leaseMs: LEASE })).events.length, 1);
      },
    );
  });

  describe(`${harness.name} store: claims and leases`, () => {
    withOutbox('a claim returns at most the limit, in id order', {}, async (o) => {
      const written = await o.enqueue(
        Array.from({ length: 7 }, (_, n) => ({ type: 't', payload: n })),
      );
      const first = await o.store.claim({ limit: 5, leaseMs: LEASE });
      assert.deepEqual(ids(first), written.slice(0, 5));
      const second = await o.store.claim({ limit: 5, leaseMs: LEASE });
      assert.deepEqual(ids(second), written.slice(5));
      assert.notEqual(first.token, second.token);
      assert.equal((await o.store.claim({ limit: 5, leaseMs: LEASE })).events.length, 0);
    });

    withOutbox('claims filter by types and excluded types', {}, async (o) => {
      await o.enqueue([
        { type: 'a', payload: 1 },
        { type: 'b', payload: 2 },
        { type: 'c', payload: 3 },
      ]);
      const onlyB = await o.store.claim({ limit: 10, leaseMs: LEASE, types: ['b'] });
      assert.deepEqual(types(onlyB), ['b']);
      const notA = await o.store.claim({ limit: 10, leaseMs: LEASE, excludeTypes: ['a'] });
      assert.deepEqual(types(notA), ['c']);
      const none = await o.store.claim({ limit: 10, leaseMs: LEASE, types: [] });
      assert.equal(none.events.length, 0);
    });

    withOutbox('an expired lease lets another claimer take the event', {}, async (o) => {
      await o.enqueue([{ type: 't', payload: 1 }]);
      const first = await o.store.claim({ limit: 10, leaseMs: 100 });
      assert.equal((await o.store.claim({ limit: 10, leaseMs: LEASE })).events.length, 0);
      await o.tick(150);
      const second = await o.store.claim({ limit: 10, leaseMs: LEASE });
      assert.deepEqual(ids(second), ids(first));
      assert.equal(second.events[0]?.attempts, 2);
    });

    withOutbox('a late acknowledgement after the lease expired is refused', {}, async (o) => {
      await o.enqueue([{ type: 't', payload: 1 }]);
      const first = await o.store.claim({ limit: 10, leaseMs: 100 });
      await o.tick(150);
      const second = await o.store.claim({ limit: 10, leaseMs: LEASE });
      const id = ids(first);
      assert.deepEqual(await o.store.complete(first.token, id), { applied: [], refused: id });
      const failed = await o.store.fail(first.token, [{ id: id[0] as string, error: 'late' }]);
      assert.deepEqual(failed.refused, id);
      assert.deepEqual((await o.store.release(first.token, id)).refused, id);
      assert.deepEqual((await o.store.extendLease(first.token, id, LEASE)).refused, id);
      assert.deepEqual((await o.store.complete(second.token, id)).applied, id);
      assert.equal((await o.store.stats()).inFlight, 0);
    });

    withOutbox('an expired lease refuses acknowledgements even before a reclaim', {}, async (o) => {
      await o.enqueue([{ type: 't', payload: 1 }]);
      const claim = await o.store.claim({ limit: 10, leaseMs: 100 });
      await o.tick(150);
      assert.deepEqual((await o.store.complete(claim.token, ids(claim))).refused, ids(claim));
    });

    withOutbox('an unknown token is refused', {}, async (o) => {
      const [id] = await o.enqueue([{ type: 't', payload: 1 }]);
      await o.store.claim({ limit: 10, leaseMs: LEASE });
      const token = '00000000-0000-4000-8000-000000000000';
      assert.deepEqual(await o.store.complete(token, [id as string]), {
        applied: [],
        refused: [id],
      });
    });

    withOutbox('extending a lease keeps the event from being claimed again', {}, async (o) => {
      await o.enqueue([{ type: 't', payload: 1 }]);
      const claim = await o.store.claim({ limit: 10, leaseMs: 200 });
      await o.tick(100);
      assert.deepEqual(
        (await o.store.extendLease(claim.token, ids(claim), 1_000)).applied,
        ids(claim),
      );
      await o.tick(200);
      assert.equal((await o.store.claim({ limit: 10, leaseMs: LEASE })).events.length, 0);
      assert.deepEqual((await o.store.complete(claim.token, ids(claim))).applied, ids(claim));
    });

    withOutbox('releasing hands an event back without counting the attempt', {}, async (o) => {
      await o.enqueue([{ type: 't', payload: 1 }]);
      const first = await o.store.claim({ limit: 10, leaseMs: LEASE });
      assert.deepEqual((await o.store.release(first.token, ids(first))).applied, ids(first));
      const second = await o.store.claim({ limit: 10, leaseMs: LEASE });
      assert.deepEqual(ids(second), ids(first));
      assert.equal(second.events[0]?.attempts, 1);
    });

    withOutbox(
      'an event whose leases keep expiring is dead-lettered at claim',
      { maxAttempts: 2 },
      async (o) => {
        const [id] = await o.enqueue([{ type: 't', payload: 1 }]);
        for (let attempt = 1; attempt <= 2; attempt += 1) {
          const claim = await o.store.claim({ limit: 10, leaseMs: 50 });
          assert.equal(claim.events[0]?.attempts, attempt);
          await o.tick(80);
        }
        const last = await o.store.claim({ limit: 10, leaseMs: LEASE });
        assert.equal(last.events.length, 0);
        assert.equal(last.rejected.length, 1);
        assert.equal(last.rejected[0]?.id, id);
        assert.match(last.rejected[0]?.reason ?? '', /claimed 2 times without an acknowledgement/);
        const [dead] = await o.store.listDead();
        assert.equal(dead?.id, id);
        assert.match(dead?.lastError ?? '', /crashed or stalled/);
      },
    );

    withOutbox('two claimers never receive the same event', {}, async (o) => {
      await o.enqueue(Array.from({ length: 300 }, (_, n) => ({ type: 't', payload: n })));
      const other = await o.open();
      const claims = await Promise.all(
        Array.from({ length: 6 }, (_, n) =>
          (n % 2 === 0 ? o.store : other).claim({ limit: 50, leaseMs: LEASE }),
        ),
      );
      const seen = claims.flatMap(ids);
      assert.equal(seen.length, 300);
      assert.equal(new Set(seen).size, 300);
    });
  });

  describe(`${harness.name} store: order per key`, () => {
    withOutbox('only the head event of a key is handed out, then the next', {}, async (o) => {
      const [a1, a2, a3] = await o.enqueue([
        { type: 't', key: 'A', payload: 1 },
        { type: 't', key: 'A', payload: 2 },
        { type: 't', key: 'A', payload: 3 },
      ]);
      const [b1, u1] = await o.enqueue([
        { type: 't', key: 'B', payload: 1 },
        { type: 't', payload: 'unkeyed' },
      ]);
      const first = await o.store.claim({ limit: 10, leaseMs: LEASE });
      assert.deepEqual(ids(first), [a1, b1, u1]);
      assert.equal((await o.store.claim({ limit: 10, leaseMs: LEASE })).events.length, 0);
      await o.store.complete(first.token, [a1 as string]);
      const second = await o.store.claim({ limit: 10, leaseMs: LEASE });
      assert.deepEqual(ids(second), [a2]);
      await o.store.complete(second.token, [a2 as string]);
      assert.deepEqual(ids(await o.store.claim({ limit: 10, leaseMs: LEASE })), [a3]);
    });

    withOutbox('a key whose head waits for a retry holds back its later events', {}, async (o) => {
      const [a1, a2] = await o.enqueue([
        { type: 't', key: 'A', payload: 1 },
        { type: 't', key: 'A', payload: 2 },
      ]);
      const first = await o.store.claim({ limit: 10, leaseMs: LEASE });
      const retryAt = new Date(o.now() + 300);
      await o.store.fail(first.token, [{ id: a1 as string, error: 'broker down', retryAt }]);
      assert.equal((await o.store.claim({ limit: 10, leaseMs: LEASE })).events.length, 0);
      await o.tick(400);
      const retry = await o.store.claim({ limit: 10, leaseMs: LEASE });
      assert.deepEqual(ids(retry), [a1]);
      assert.equal(retry.events[0]?.lastError, 'broker down');
      assert.equal(retry.events[0]?.attempts, 2);
      await o.store.complete(retry.token, [a1 as string]);
      assert.deepEqual(ids(await o.store.claim({ limit: 10, leaseMs: LEASE })), [a2]);
    });

    withOutbox('a key with a leased event gives out none of its events', {}, async (o) => {
      // A late-committing or requeued earlier event must not run beside a leased later one.
      const [a1, a2] = await o.enqueue([
        { type: 't', key: 'A', payload: 1 },
        { type: 't', key: 'A', payload: 2 },
      ]);
      const first = await o.store.claim({ limit: 1, leaseMs: LEASE });
      await o.store.deadLetter(first.token, [{ id: a1 as string, reason: 'poison' }]);
      const skipper = await o.open({ deadKeyPolicy: 'skip' });
      const second = await skipper.claim({ limit: 10, leaseMs: LEASE });
      assert.deepEqual(ids(second), [a2]);
      assert.equal(await o.store.requeueDead({ ids: [a1 as string] }), 1);
      assert.equal((await skipper.claim({ limit: 10, leaseMs: LEASE })).events.length, 0);
      await skipper.complete(second.token, [a2 as string]);
      assert.deepEqual(ids(await skipper.claim({ limit: 10, leaseMs: LEASE })), [a1]);
    });

    withOutbox('under hold, a dead event holds its key until it is requeued', {}, async (o) => {
      const [a1, a2] = await o.enqueue([
        { type: 't', key: 'A', payload: 1 },
        { type: 't', key: 'A', payload: 2 },
      ]);
      const [b1] = await o.enqueue([{ type: 't', key: 'B', payload: 1 }]);
      const first = await o.store.claim({ limit: 10, leaseMs: LEASE });
      await o.store.deadLetter(first.token, [{ id: a1 as string, reason: 'rejected' }]);
      await o.store.complete(first.token, [b1 as string]);
      assert.equal((await o.store.claim({ limit: 10, leaseMs: LEASE })).events.length, 0);
      assert.equal((await o.store.stats()).heldKeys, 1);
      assert.equal(await o.store.requeueDead({ ids: [a1 as string] }), 1);
      assert.equal((await o.store.stats()).heldKeys, 0);
      const again = await o.store.claim({ limit: 10, leaseMs: LEASE });
      assert.deepEqual(ids(again), [a1]);
      assert.equal(again.events[0]?.attempts, 1);
      await o.store.complete(again.token, [a1 as string]);
      assert.deepEqual(ids(await o.store.claim({ limit: 10, leaseMs: LEASE })), [a2]);
    });

    withOutbox(
      'under skip, the later events of a key flow past a dead one',
      { deadKeyPolicy: 'skip' },
      async (o) => {
        const [a1, a2] = await o.enqueue([
          { type: 't', key: 'A', payload: 1 },
          { type: 't', key: 'A', payload: 2 },
        ]);
        const first = await o.store.claim({ limit: 10, leaseMs: LEASE });
        await o.store.deadLetter(first.token, [{ id: a1 as string, reason: 'rejected' }]);
        assert.equal((await o.store.stats()).heldKeys, 0);
        assert.deepEqual(ids(await o.store.claim({ limit: 10, leaseMs: LEASE })), [a2]);
      },
    );

    withOutbox('keys behind a long run of a busy key are still served', {}, async (o) => {
      await o.enqueue(
        Array.from({ length: 60 }, (_, n) => ({ type: 't', key: 'hot', payload: n })),
      );
      const cold = await o.enqueue(
        Array.from({ length: 10 }, (_, n) => ({ type: 't', key: `cold-${n}`, payload: n })),
      );
      const first = await o.store.claim({ limit: 2, leaseMs: LEASE });
      assert.equal(first.events[0]?.key, 'hot');
      const served = new Set(first.events.slice(1).map((event) => event.id));
      for (let claims = 0; claims < 8 && served.size < cold.length; claims += 1) {
        const claim = await o.store.claim({ limit: 2, leaseMs: LEASE });
        for (const event of claim.events) {
          assert.notEqual(event.key, 'hot');
          served.add(event.id);
        }
      }
      assert.deepEqual([...served].sort(), [...cold].sort());
    });

    withOutbox(
      'four concurrent claimers keep order per key and never share a leased event',
      { maxAttempts: 100 },
      async (o) => {
        const keys = 200;
        const total = 3000;
        const expected = await enqueueMixed(o, keys, total);

        const stores = [o.store, ...(await Promise.all([o.open(), o.open(), o.open()]))];
        const leased = new Set<string>();
        const busyKeys = new Set<string>();
        const delivered = new Map<string, string[]>();
        let done = 0;
        let round = 0;
        const deadline = Date.now() + 60_000;
        const worker = async (store: OutboxStore, seed: number) => {
          while (done < total) {
            assert.ok(Date.now() < deadline, `only ${done} of ${total} delivered in time`);
            round += 1;
            const claim = await store.claim({ limit: 25 + seed * 10, leaseMs: LEASE });
            if (claim.events.length === 0) {
              await new Promise((resolve) => setTimeout(resolve, 2));
              continue;
            }

            for (const event of claim.events) {
              assert.ok(!leased.has(event.id), `event ${event.id} claimed twice`);
              leased.add(event.id);
              if (event.key !== null) {
                assert.ok(!busyKeys.has(event.key), `key ${event.key} handed out twice`);
                busyKeys.add(event.key);
              }
            }
            await new Promise((resolve) => setImmediate(resolve));

            const failed = claim.events.filter((event) => (Number(event.id) + round) % 17 === 0);
            const released = claim.events.filter((event) => (Number(event.id) + round) % 23 === 0);
            const good = claim.events.filter(
              (event) => !failed.includes(event) && !released.includes(event),
            );
            for (const event of [...failed, ...released, ...good]) {
              leased.delete(event.id);
              if (event.key !== null) busyKeys.delete(event.key);
            }
            for (const event of good) {
              if (event.key === null) continue;

              delivered.set(event.key, [...(delivered.get(event.key) ?? []), event.id]);
            }
            const retryAt = new Date(0);
            await Promise.all([
              store.fail(
                claim.token,
                failed.map((event) => ({ id: event.id, error: 'flaky', retryAt })),
              ),
              store.release(
                claim.token,
                released.map((event) => event.id),
              ),
              store.complete(
                claim.token,
                good.map((event) => event.id),
              ),
            ]);
            done += good.length;
          }
        };
        await Promise.all(stores.map((store, seed) => worker(store, seed)));

        assert.equal(done, total);
        assert.deepEqual(delivered, expected);
        const stats = await o.store.stats();
        assert.equal(stats.pending + stats.inFlight + stats.scheduled + stats.dead, 0);
      },
    );
  });

  describe(`${harness.name} store: retries, dead letters and retention`, () => {
    withOutbox('a failed event comes back at its retry time', {}, async (o) => {
      const [id] = await o.enqueue([{ type: 't', payload: 1 }]);
      const claim = await o.store.claim({ limit: 10, leaseMs: LEASE });
      const retryAt = new Date(o.now() + 300);
      const result = await o.store.fail(claim.token, [
        { id: id as string, error: 'timeout', retryAt },
      ]);
      assert.deepEqual(result, { applied: [id], refused: [], deadLettered: [] });
      const stats = await o.store.stats();
      assert.equal(stats.scheduled, 1);
      assert.equal(stats.inFlight, 0);
      assert.equal((await o.store.claim({ limit: 10, leaseMs: LEASE })).events.length, 0);
      await o.tick(400);
      const again = await o.store.claim({ limit: 10, leaseMs: LEASE });
      assert.equal(again.events[0]?.lastError, 'timeout');
    });

    withOutbox(
      'a failure without a retry time backs off with full jitter up to the base delay',
      { retryBaseMs: 200, retryMaxMs: 400 },
      async (o) => {
        await o.enqueue(Array.from({ length: 20 }, (_, n) => ({ type: 't', payload: n })));
        const claim = await o.store.claim({ limit: 20, leaseMs: LEASE });
        await o.store.fail(
          claim.token,
          claim.events.map((event) => ({ id: event.id, error: 'e' })),
        );
        const stats = await o.store.stats();
        assert.equal(stats.scheduled + stats.pending, 20);
        assert.ok(stats.scheduled > 0);
        await o.tick(250);
        assert.equal((await o.store.claim({ limit: 20, leaseMs: LEASE })).events.length, 20);
      },
    );

    withOutbox(
      'past the attempt limit an event is dead-lettered with its last error',
      {
        maxAttempts: 2,
      },
      async (o) => {
        const [id] = await o.enqueue([{ type: 't', payload: 1 }]);
        const now = new Date(0);
        const first = await o.store.claim({ limit: 10, leaseMs: LEASE });
        await o.store.fail(first.token, [{ id: id as string, error: 'first', retryAt: now }]);
        const second = await o.store.claim({ limit: 10, leaseMs: LEASE });
        const result = await o.store.fail(second.token, [
          { id: id as string, error: 'second', retryAt: now },
        ]);
        assert.deepEqual(result.deadLettered, [id]);
        assert.equal((await o.store.claim({ limit: 10, leaseMs: LEASE })).events.length, 0);
        const [dead] = await o.store.listDead();
        assert.equal(dead?.id, id);
        assert.equal(dead?.lastError, 'second');
        assert.equal(dead?.attempts, 2);
        assert.ok(dead?.deadAt instanceof Date);
        assert.equal((await o.store.stats()).dead, 1);
      },
    );

    withOutbox('dead events are listed by type and by page, and requeued', {}, async (o) => {
      const written = await o.enqueue([
        { type: 'a', payload: 1 },
        { type: 'b', payload: 2 },
        { type: 'a', payload: 3 },
        { type: 'c', payload: 4 },
      ]);
      const claim = await o.store.claim({ limit: 10, leaseMs: LEASE });
      await o.store.deadLetter(
        claim.token,
        claim.events.map((event) => ({ id: event.id, reason: `bad ${event.type}` })),
      );
      assert.deepEqual(
        (await o.store.listDead({ type: 'a' })).map((event) => event.id),
        [written[0], written[2]],
      );
      const page = await o.store.listDead({ limit: 2 });
      assert.deepEqual(
        page.map((event) => event.id),
        written.slice(0, 2),
      );
      const next = await o.store.listDead({ afterId: page[1]?.id as string });
      assert.deepEqual(
        next.map((event) => event.id),
        written.slice(2),
      );
      assert.equal(next[1]?.lastError, 'bad c');

      assert.equal(await o.store.requeueDead({ ids: [written[3] as string] }), 1);
      assert.equal(await o.store.requeueDead({ type: 'a' }), 2);
      assert.equal(await o.store.requeueDead({ all: true }), 1);
      assert.equal(await o.store.requeueDead({ all: true }), 0);
      const again = await o.store.claim({ limit: 10, leaseMs: LEASE });
      assert.deepEqual(ids(again), written);
      assert.ok(again.events.every((event) => event.attempts === 1));
    });

    withOutbox('delivered events are deleted at once by default', {}, async (o) => {
      await o.enqueue([{ type: 't', payload: 1 }]);
      const claim = await o.store.claim({ limit: 10, leaseMs: LEASE });
      await o.store.complete(claim.token, ids(claim));
      assert.equal(await o.store.purgeDelivered(), 0);
      assert.equal(await o.count(), 0);
    });

    withOutbox(
      'with retention, delivered events are kept, then purged in bounded batches',
      { retentionMs: 200 },
      async (o) => {
        await o.enqueue(Array.from({ length: 25 }, (_, n) => ({ type: 't', payload: n })));
        const claim = await o.store.claim({ limit: 25, leaseMs: LEASE });
        assert.equal((await o.store.complete(claim.token, ids(claim))).applied.length, 25);
        assert.equal((await o.store.claim({ limit: 25, leaseMs: LEASE })).events.length, 0);
        assert.equal(await o.store.purgeDelivered({ batchSize: 10 }), 0);
        await o.tick(250);
        assert.equal(await o.store.purgeDelivered({ batchSize: 10, maxBatches: 2 }), 20);
        assert.equal(await o.store.purgeDelivered({ batchSize: 10 }), 5);
        assert.equal(await o.count(), 0);
      },
    );
  });

  describe(`${harness.name} store: bad rows, pauses, figures and wake-ups`, () => {
    withOutbox(
      'unreadable rows are dead-lettered with the reason while the rest flow',
      { maxPayloadBytes: 1024 },
      async (o) => {
        await o.insertRaw({ type: 'big', payload: JSON.stringify({ blob: 'x'.repeat(2000) }) });
        await o.insertRaw({ type: 'headers', payload: '{}', headers: '["not","an","object"]' });
        await o.insertRaw({ type: 'headers', payload: '{}', headers: '{"n":1}' });
        if (harness.acceptsInvalidJson) {
          await o.insertRaw({ type: 'json', payload: '{"unterminated":' });
        }
        await o.insertRaw({ type: 'fine', payload: '{"ok":true}' });
        const claim = await o.store.claim({ limit: 10, leaseMs: LEASE });
        assert.deepEqual(types(claim), ['fine']);
        const reasons = claim.rejected.map((row) => row.reason);
        assert.match(reasons[0] ?? '', /payload too large: \d+ bytes, the limit is 1024 bytes/);
        assert.match(reasons[1] ?? '', /headers are not a JSON object of strings/);
        assert.match(reasons[2] ?? '', /headers are not a JSON object of strings/);
        if (harness.acceptsInvalidJson) assert.match(reasons[3] ?? '', /not valid JSON/);
        const dead = await o.store.listDead();
        assert.equal(dead.length, harness.acceptsInvalidJson ? 4 : 3);
        assert.deepEqual(
          dead.map((event) => event.lastError),
          reasons,
        );
        assert.equal((await o.store.stats()).dead, dead.length);
      },
    );

    withOutbox('a paused type stays pending for every store on the table', {}, async (o) => {
      await o.enqueue([
        { type: 'a', payload: 1 },
        { type: 'b', payload: 2 },
      ]);
      const other = await o.open();
      await o.store.setPaused('a', true);
      await o.store.setPaused('a', true);
      assert.deepEqual(await other.listPaused(), ['a']);
      assert.deepEqual(types(await other.claim({ limit: 10, leaseMs: LEASE })), ['b']);
      assert.equal((await other.stats()).byType['a']?.pending, 1);
      await other.setPaused('a', false);
      assert.deepEqual(await o.store.listPaused(), []);
      assert.deepEqual(types(await o.store.claim({ limit: 10, leaseMs: LEASE })), ['a']);
    });

    withOutbox('the figures count each state, in total and per type', {}, async (o) => {
      await o.enqueue([
        { type: 'a', payload: 1 },
        { type: 'a', payload: 2 },
        { type: 'b', payload: 3 },
        { type: 'b', payload: 4, availableAt: new Date(o.now() + 60_000) },
      ]);
      await o.tick(50);
      const claim = await o.store.claim({ limit: 2, leaseMs: LEASE });
      await o.store.deadLetter(claim.token, [{ id: claim.events[0]?.id as string, reason: 'x' }]);
      const stats = await o.store.stats();
      assert.equal(stats.pending, 1);
      assert.equal(stats.inFlight, 1);
      assert.equal(stats.scheduled, 1);
      assert.equal(stats.dead, 1);
      assert.ok(stats.oldestPendingAgeMs >= 40, `age ${stats.oldestPendingAgeMs}`);
      assert.deepEqual(
        { ...stats.byType['a'], oldestPendingAgeMs: 0 },
        { pending: 0, inFlight: 1, scheduled: 0, dead: 1, oldestPendingAgeMs: 0 },
      );
      assert.equal(stats.byType['b']?.pending, 1);
      assert.equal(stats.byType['b']?.scheduled, 1);
    });

    withOutbox('an enqueue in this process wakes the store', {}, async (o) => {
      let wakes = 0;
      o.store.onWake(() => {
        wakes += 1;
      });
      // A listening connection wakes once when it subscribes; let that pass first.
      await sleep(150);
      wakes = 0;
      await o.enqueue([{ type: 't', payload: 1 }]);
      await waitFor(() => wakes > 0, 3_000, 'no wake-up after enqueue');
    });

    withOutbox('a wake listener that throws does not stop the others', {}, async (o) => {
      o.store.onWake(() => {
        throw new Error('listener failure');
      });
      const woken = new Promise<void>((resolve) => o.store.onWake(resolve));
      await o.store.setPaused('t', false);
      await withTimeout(woken, 3_000, 'no wake-up');
    });

    withOutbox('ping answers and close is idempotent', {}, async (o) => {
      const other = await o.open();
      await other.ping();
      await other.close();
      await other.close();
    });
  });
}

function ids(claim: Claim): string[] {
  return claim.events.map((event) => event.id);
}

function types(claim: Claim): string[] {
  return claim.events.map((event) => event.type);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Enqueues `total` events of two types, nine in ten on `keys` keys round robin and every tenth
 * unkeyed, and returns each key's ids in order.
 */
export async function enqueueMixed(
  o: Outbox,
  keys: number,
  total: number,
): Promise<Map<string, string[]>> {
  const written = await o.enqueue(
    Array.from({ length: total }, (_, n) => ({
      type: n % 3 === 0 ? 'x' : 'y',
      key: n % 10 === 9 ? null : `k${n % keys}`,
      payload: { n },
    })),
  );
  const expected = new Map<string, string[]>();
  written.forEach((id, n) => {
    if (n % 10 === 9) return;

    const key = `k${n % keys}`;
    expected.set(key, [...(expected.get(key) ?? []), id]);
  });

  return expected;
}

export async function waitFor(
  condition: () => boolean,
  ms: number,
  message: string,
): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(message);

    await sleep(10);
  }
}

async function withTimeout<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(message)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
