import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { AckBuffer } from '../../src/dispatcher/acks.js';
import type { AckResult, OutboxStore } from '../../src/store/contract.js';
import { OUTBOXES } from './helpers.js';

const BUFFER = { flushMs: 60_000, maxPending: 1000, retryMinMs: 10, retryMaxMs: 20 };

/**
 * Wraps a store's acknowledgements: each call is recorded by name, and `before` runs first (a
 * claim by another dispatcher, say), in the moment between the previous write and this one.
 */
function recordAcks(store: OutboxStore, before: (name: string) => Promise<void>) {
  const calls: string[] = [];
  const wrap =
    <A extends unknown[]>(name: string, write: (...args: A) => Promise<AckResult>) =>
    async (...args: A): Promise<AckResult> => {
      calls.push(name);
      await before(name);

      return write(...args);
    };
  const wrapped: OutboxStore = Object.create(store) as OutboxStore;
  wrapped.complete = wrap('complete', store.complete.bind(store));
  wrapped.fail = wrap('fail', store.fail.bind(store));
  wrapped.deadLetter = wrap('deadLetter', store.deadLetter.bind(store));
  wrapped.release = wrap('release', store.release.bind(store));

  return { store: wrapped, calls };
}

for (const { name, open } of OUTBOXES) {
  describe(`acknowledgements (${name})`, () => {
    test('a run is released before its failed event: no claim takes it in between', async () => {
      const outbox = await open({ maxAttempts: 5 });
      try {
        const ids = await outbox.add(3, 1);
        const claim = await outbox.store.claim({ limit: 3, leaseMs: 30_000, perKey: 3 });
        assert.deepEqual(
          claim.events.map((event) => event.id),
          ids,
        );

        // Another dispatcher claims just before each write.
        const seen: string[][] = [];
        const { store, calls } = recordAcks(outbox.store, async () => {
          const other = await outbox.store.claim({ limit: 10, leaseMs: 30_000 });
          seen.push(other.events.map((event) => event.id));
        });
        const acks = new AckBuffer(store, BUFFER);
        const [failed, ...tail] = ids as [string, ...string[]];
        acks.fail(claim.token, { id: failed, error: 'HTTP 502', retryAt: new Date() });
        for (const id of tail) acks.release(claim.token, id);
        await acks.flush();
        acks.close();

        assert.deepEqual(calls, ['release', 'fail']);
        assert.deepEqual(seen, [[], []], 'nothing claimable while the run was leased');
        const after = await outbox.store.claim({ limit: 10, leaseMs: 30_000, perKey: 3 });
        assert.deepEqual(
          after.events.map((event) => event.id),
          ids,
          'the key comes back whole, led by the failed event',
        );
      } finally {
        await outbox.drop();
      }
    });

    test('a fail and a release of different keys in one write are both applied', async () => {
      const outbox = await open({ maxAttempts: 5 });
      try {
        // Keys k0 and k1 in turn: k0 holds the first and third events, k1 the second and fourth.
        const ids = await outbox.add(4, 2);
        const claim = await outbox.store.claim({ limit: 4, leaseMs: 30_000, perKey: 2 });
        assert.equal(claim.events.length, 4);

        const { store, calls } = recordAcks(outbox.store, async () => undefined);
        const results: [string, AckResult][] = [];
        const acks = new AckBuffer(store, {
          ...BUFFER,
          onResult: (operation, _token, result) => results.push([operation, result]),
        });
        const later = new Date(Date.now() + 60_000);
        acks.fail(claim.token, { id: ids[0] as string, error: 'HTTP 502', retryAt: later });
        acks.release(claim.token, ids[1] as string);
        acks.release(claim.token, ids[3] as string);
        acks.complete(claim.token, ids[2] as string);
        await acks.flush();
        acks.close();

        assert.deepEqual(calls, ['complete', 'release', 'fail']);
        assert.ok(results.every(([, result]) => result.refused.length === 0));
        const again = await outbox.store.claim({ limit: 10, leaseMs: 30_000, perKey: 2 });
        assert.deepEqual(
          again.events.map((event) => event.id),
          [ids[1], ids[3]],
          'k1 released; k0 waits for its retry',
        );
        assert.equal(await outbox.count(`state = 'pending'`), 3);
      } finally {
        await outbox.drop();
      }
    });

    test('a release that fails keeps the fail back; both are written on the next try', async () => {
      const outbox = await open({ maxAttempts: 5 });
      try {
        const ids = await outbox.add(2, 1);
        const claim = await outbox.store.claim({ limit: 2, leaseMs: 30_000, perKey: 2 });
        assert.equal(claim.events.length, 2);

        let down = true;
        const { store, calls } = recordAcks(outbox.store, async (call) => {
          if (call === 'release' && down) throw new Error('connection lost');
        });
        const errors: string[] = [];
        const acks = new AckBuffer(store, {
          ...BUFFER,
          onError: (operation) => errors.push(operation),
        });
        acks.fail(claim.token, { id: ids[0] as string, error: 'HTTP 502', retryAt: new Date() });
        acks.release(claim.token, ids[1] as string);
        await assert.rejects(acks.flush(), /connection lost/);

        assert.deepEqual(calls, ['release']);
        assert.deepEqual(errors, ['release']);
        assert.equal(acks.size, 2, 'both still pending');

        down = false;
        assert.equal(await acks.flushUntil(Date.now() + 5000), 0);
        acks.close();

        assert.deepEqual(calls, ['release', 'release', 'fail']);
        const again = await outbox.store.claim({ limit: 10, leaseMs: 30_000, perKey: 2 });
        assert.deepEqual(
          again.events.map((event) => event.id),
          ids,
        );
      } finally {
        await outbox.drop();
      }
    });
  });
}
