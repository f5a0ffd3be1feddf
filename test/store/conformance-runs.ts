/**
 * The conformance tests of runs of a key (`ClaimOptions.perKey`): which events a claim hands out,
 * under which lease, and that order per key holds with several claimers taking runs.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Claim, OutboxStore } from '../../src/store/contract.js';
import type { CommonStoreOptions } from '../../src/store/options.js';
import { enqueueMixed } from './conformance.js';
import type { Outbox, StoreHarness } from './conformance.js';

const LEASE = 60_000;

export function registerRunConformance(harness: StoreHarness): void {
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

  describe(`${harness.name} store: runs of a key`, () => {
    withOutbox('a claim hands out runs of each key in id order, under its lease', {}, async (o) => {
      const [a1, b1, a2, u1, a3, b2, a4, a5] = await o.enqueue([
        { type: 't', key: 'a', payload: 1 },
        { type: 't', key: 'b', payload: 1 },
        { type: 't', key: 'a', payload: 2 },
        { type: 't', payload: 'unkeyed' },
        { type: 't', key: 'a', payload: 3 },
        { type: 't', key: 'b', payload: 2 },
        { type: 't', key: 'a', payload: 4 },
        { type: 't', key: 'a', payload: 5 },
      ]);
      const first = await o.store.claim({ limit: 10, leaseMs: LEASE, perKey: 3 });
      assert.deepEqual(ids(first), [a1, b1, a2, u1, a3, b2]);
      assert.ok(first.events.every((event) => event.attempts === 1));
      assert.equal((await o.store.stats()).inFlight, 6);

      const other = await o.open();
      assert.equal((await other.claim({ limit: 10, leaseMs: LEASE, perKey: 3 })).events.length, 0);
      assert.equal((await other.claim({ limit: 10, leaseMs: LEASE })).events.length, 0);

      // The head and the next event delivered, the third handed back: it leads the next run.
      assert.deepEqual(
        (await o.store.complete(first.token, [a1, a2, b1, b2, u1] as string[])).applied,
        [a1, a2, b1, b2, u1],
      );
      assert.deepEqual((await o.store.release(first.token, [a3 as string])).applied, [a3]);
      const second = await other.claim({ limit: 10, leaseMs: LEASE, perKey: 3 });
      assert.deepEqual(ids(second), [a3, a4, a5]);
      assert.deepEqual(
        second.events.map((event) => event.attempts),
        [1, 1, 1],
      );
      assert.deepEqual((await other.complete(second.token, ids(second))).applied, ids(second));
      assert.equal(await o.count(), 0);
    });

    withOutbox('the claim limit bounds the events of all runs together', {}, async (o) => {
      const a = await o.enqueue(
        Array.from({ length: 5 }, (_, n) => ({ type: 't', key: 'a', payload: n })),
      );
      const b = await o.enqueue(
        Array.from({ length: 3 }, (_, n) => ({ type: 't', key: 'b', payload: n })),
      );
      const first = await o.store.claim({ limit: 4, leaseMs: LEASE, perKey: 3 });
      assert.deepEqual(ids(first), [...a.slice(0, 3), b[0]]);
      await o.store.complete(first.token, ids(first));
      const second = await o.store.claim({ limit: 4, leaseMs: LEASE, perKey: 3 });
      assert.deepEqual(ids(second), [...a.slice(3), ...b.slice(1)]);
    });

    withOutbox('a run stops at an event scheduled later, never skipping it', {}, async (o) => {
      const [a1, a2, a3] = await o.enqueue([
        { type: 't', key: 'a', payload: 1 },
        { type: 't', key: 'a', payload: 2, availableAt: new Date(o.now() + 300) },
        { type: 't', key: 'a', payload: 3 },
      ]);
      const first = await o.store.claim({ limit: 10, leaseMs: LEASE, perKey: 3 });
      assert.deepEqual(ids(first), [a1]);
      await o.store.complete(first.token, [a1 as string]);
      assert.equal(
        (await o.store.claim({ limit: 10, leaseMs: LEASE, perKey: 3 })).events.length,
        0,
      );
      await o.tick(400);
      assert.deepEqual(ids(await o.store.claim({ limit: 10, leaseMs: LEASE, perKey: 3 })), [
        a2,
        a3,
      ]);
    });

    withOutbox('a run stops at a type the claim may not take', {}, async (o) => {
      const [a1, a2, a3] = await o.enqueue([
        { type: 'x', key: 'a', payload: 1 },
        { type: 'y', key: 'a', payload: 2 },
        { type: 'x', key: 'a', payload: 3 },
      ]);
      const onlyX = await o.store.claim({ limit: 10, leaseMs: LEASE, perKey: 3, types: ['x'] });
      assert.deepEqual(ids(onlyX), [a1]);
      await o.store.release(onlyX.token, ids(onlyX));
      const notY = await o.store.claim({
        limit: 10,
        leaseMs: LEASE,
        perKey: 3,
        excludeTypes: ['y'],
      });
      assert.deepEqual(ids(notY), [a1]);
      await o.store.release(notY.token, ids(notY));
      await o.store.setPaused('y', true);
      const paused = await o.store.claim({ limit: 10, leaseMs: LEASE, perKey: 3 });
      assert.deepEqual(ids(paused), [a1]);
      await o.store.release(paused.token, ids(paused));
      await o.store.setPaused('y', false);
      const all = await o.store.claim({ limit: 10, leaseMs: LEASE, perKey: 3 });
      assert.deepEqual(ids(all), [a1, a2, a3]);
    });

    withOutbox(
      'a run ends before a dead event under hold and passes it under skip',
      {},
      async (o) => {
        const [a1, a2, a3] = await o.enqueue([
          { type: 't', key: 'a', payload: 1 },
          { type: 't', key: 'a', payload: 2 },
          { type: 't', key: 'a', payload: 3 },
        ]);
        // a1 dead, then a2 dead past it (skip), then a1 requeued: a1 pending, a2 dead, a3 pending.
        const skipper = await o.open({ deadKeyPolicy: 'skip' });
        const first = await skipper.claim({ limit: 10, leaseMs: LEASE });
        await skipper.deadLetter(first.token, [{ id: a1 as string, reason: 'x' }]);
        const second = await skipper.claim({ limit: 10, leaseMs: LEASE });
        assert.deepEqual(ids(second), [a2]);
        await skipper.deadLetter(second.token, [{ id: a2 as string, reason: 'x' }]);
        assert.equal(await o.store.requeueDead({ ids: [a1 as string] }), 1);

        const held = await o.store.claim({ limit: 10, leaseMs: LEASE, perKey: 3 });
        assert.deepEqual(ids(held), [a1]);
        await o.store.release(held.token, ids(held));
        const skipped = await skipper.claim({ limit: 10, leaseMs: LEASE, perKey: 3 });
        assert.deepEqual(ids(skipped), [a1, a3]);
      },
    );

    withOutbox(
      'an unreadable row of a run is dead-lettered and the rest of its key handed back',
      { maxPayloadBytes: 1024 },
      async (o) => {
        for (const payload of ['1', JSON.stringify({ blob: 'x'.repeat(2000) }), '3', '4']) {
          await o.insertRaw({ type: 't', key: 'a', payload });
        }
        await o.insertRaw({ type: 't', key: 'b', payload: '5' });
        const first = await o.store.claim({ limit: 10, leaseMs: LEASE, perKey: 4 });
        assert.deepEqual(
          first.events.map((event) => [event.key, event.payload]),
          [
            ['a', 1],
            ['b', 5],
          ],
        );
        assert.equal(first.rejected.length, 1);
        assert.match(first.rejected[0]?.reason ?? '', /payload too large/);
        const stats = await o.store.stats();
        assert.deepEqual([stats.inFlight, stats.pending, stats.dead], [2, 2, 1]);
        await o.store.complete(first.token, ids(first));
        // Under hold the key waits for the dead event; under skip the tail flows, its attempt
        // not counted by the claim that handed it back.
        assert.equal(
          (await o.store.claim({ limit: 10, leaseMs: LEASE, perKey: 4 })).events.length,
          0,
        );
        assert.equal((await o.store.stats()).heldKeys, 1);
        const skipper = await o.open({ deadKeyPolicy: 'skip', maxPayloadBytes: 1024 });
        const tail = await skipper.claim({ limit: 10, leaseMs: LEASE, perKey: 4 });
        assert.deepEqual(
          tail.events.map((event) => [event.payload, event.attempts]),
          [
            [3, 1],
            [4, 1],
          ],
        );
      },
    );

    withOutbox(
      'an event requeued below a run waits until the run is done',
      { deadKeyPolicy: 'skip' },
      async (o) => {
        const [a1, a2, a3] = await o.enqueue([
          { type: 't', key: 'a', payload: 1 },
          { type: 't', key: 'a', payload: 2 },
          { type: 't', key: 'a', payload: 3 },
        ]);
        const first = await o.store.claim({ limit: 10, leaseMs: LEASE, perKey: 3 });
        assert.deepEqual(ids(first), [a1, a2, a3]);
        await o.store.deadLetter(first.token, [{ id: a1 as string, reason: 'x' }]);
        assert.equal(await o.store.requeueDead({ ids: [a1 as string] }), 1);
        const other = await o.open({ deadKeyPolicy: 'skip' });
        assert.equal(
          (await other.claim({ limit: 10, leaseMs: LEASE, perKey: 3 })).events.length,
          0,
        );
        await o.store.complete(first.token, [a2 as string]);
        assert.equal(
          (await other.claim({ limit: 10, leaseMs: LEASE, perKey: 3 })).events.length,
          0,
        );
        await o.store.complete(first.token, [a3 as string]);
        assert.deepEqual(ids(await other.claim({ limit: 10, leaseMs: LEASE, perKey: 3 })), [a1]);
      },
    );

    withOutbox('perKey 1 hands out one event per key, as a claim without it', {}, async (o) => {
      const [a1, , b1] = await o.enqueue([
        { type: 't', key: 'a', payload: 1 },
        { type: 't', key: 'a', payload: 2 },
        { type: 't', key: 'b', payload: 1 },
      ]);
      const claim = await o.store.claim({ limit: 10, leaseMs: LEASE, perKey: 1 });
      assert.deepEqual(ids(claim), [a1, b1]);
    });

    withOutbox('perKey is checked, naming the option and the value', {}, async (o) => {
      await assert.rejects(
        o.store.claim({ limit: 10, leaseMs: LEASE, perKey: 0 }),
        (error) =>
          error instanceof RangeError && /perKey must be between 1 and .*got 0/.test(error.message),
      );
      await assert.rejects(
        o.store.claim({ limit: 10, leaseMs: LEASE, perKey: 11 }),
        (error) =>
          error instanceof RangeError && /perKey .*limit \(10\); got 11/.test(error.message),
      );
      await assert.rejects(
        o.store.claim({ limit: 10, leaseMs: LEASE, perKey: 1.5 }),
        (error) =>
          error instanceof TypeError && /perKey must be an integer; got 1.5/.test(error.message),
      );
    });

    withOutbox(
      'four claimers taking runs keep order per key and never share a key',
      { maxAttempts: 100 },
      async (o) => {
        const keys = 50;
        const total = 2000;
        const expected = await enqueueMixed(o, keys, total);

        const stores = [o.store, ...(await Promise.all([o.open(), o.open(), o.open()]))];
        const holders = new Map<string, string>();
        const leased = new Set<string>();
        const delivered = new Map<string, string[]>();
        let done = 0;
        let round = 0;
        const deadline = Date.now() + 60_000;
        const worker = async (store: OutboxStore, seed: number) => {
          while (done < total) {
            assert.ok(Date.now() < deadline, `only ${done} of ${total} delivered in time`);
            round += 1;
            const claim = await store.claim({
              limit: 20 + seed * 15,
              leaseMs: LEASE,
              perKey: 2 + seed,
            });
            if (claim.events.length === 0) {
              await new Promise((resolve) => setTimeout(resolve, 2));
              continue;
            }

            checkRuns(claim, holders, leased);
            await new Promise((resolve) => setImmediate(resolve));

            // The consumer's side of a run: in id order per key; once an event of a key is not
            // delivered, the later ones of that key in the claim are released.
            const stopped = new Set<string>();
            const failed: string[] = [];
            const released: string[] = [];
            const good: string[] = [];
            for (const event of claim.events) {
              const key = event.key;
              if (key !== null && stopped.has(key)) {
                released.push(event.id);
                continue;
              }

              const roll = (Number(event.id) + round) % 23;
              if (roll === 0 || roll === 1) {
                (roll === 0 ? failed : released).push(event.id);
                if (key !== null) stopped.add(key);
                continue;
              }

              good.push(event.id);
              if (key !== null) delivered.set(key, [...(delivered.get(key) ?? []), event.id]);
            }
            for (const event of claim.events) {
              leased.delete(event.id);
              if (event.key !== null) holders.delete(event.key);
            }
            const retryAt = new Date(0);
            await Promise.all([
              store.fail(
                claim.token,
                failed.map((id) => ({ id, error: 'flaky', retryAt })),
              ),
              store.release(claim.token, released),
              store.complete(claim.token, good),
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
}

/**
 * Checks a claim against the events held by the other claims: events in id order, none handed
 * out twice, no key held by two claims.
 */
function checkRuns(claim: Claim, holders: Map<string, string>, leased: Set<string>): void {
  let previous = -1n;
  for (const event of claim.events) {
    assert.ok(BigInt(event.id) > previous, `claim not in id order at ${event.id}`);
    previous = BigInt(event.id);
    assert.ok(!leased.has(event.id), `event ${event.id} claimed twice`);
    leased.add(event.id);
    if (event.key === null) continue;

    const holder = holders.get(event.key);
    assert.ok(holder === undefined || holder === claim.token, `key ${event.key} held twice`);
    holders.set(event.key, claim.token);
  }
}

function ids(claim: Claim): string[] {
  return claim.events.map((event) => event.id);
}
