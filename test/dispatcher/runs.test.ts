import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { isConfigError, loadConfig } from '../../src/config/index.js';
import { dispatcherSettings } from '../../src/cli/commands/run.js';
import { OutboxDispatcher } from '../../src/dispatcher/index.js';
import type { OutboxEvent } from '../../src/event.js';
import type { Publisher, PublishOptions } from '../../src/publisher/contract.js';
import { PublishError } from '../../src/publisher/contract.js';
import type { Claim, ClaimOptions, OutboxStore } from '../../src/store/contract.js';
import { OUTBOXES, firstDeliveriesInOrder, sleep, sqliteOutbox, waitFor } from './helpers.js';

/** One publish call, in the order the publisher saw them. */
interface Call {
  id: string;
  key: string | null;
  ok: boolean;
}

/** Records every publish call (failed ones too); `fail` decides which calls throw. */
class CallRecorder implements Publisher {
  readonly name = 'calls';
  readonly calls: Call[] = [];
  readonly delivered: OutboxEvent[] = [];
  fail: (event: OutboxEvent, call: number) => Error | undefined = () => undefined;
  wait: (event: OutboxEvent) => number = () => Math.random() * 2;
  readonly #seen = new Map<string, number>();

  async publish(event: OutboxEvent, options: PublishOptions): Promise<void> {
    const call = (this.#seen.get(event.id) ?? 0) + 1;
    this.#seen.set(event.id, call);
    const ms = this.wait(event);
    if (ms > 0) await sleep(ms, options.signal);
    const error = this.fail(event, call);
    this.calls.push({ id: event.id, key: event.key, ok: error === undefined });
    if (error !== undefined) throw error;

    this.delivered.push(event);
  }

  async close(): Promise<void> {}
}

/** Wraps `store.claim` to record, per claim, the most events of one key and the options. */
function watchClaims(store: OutboxStore) {
  const seen = { mostPerKey: 0, options: [] as ClaimOptions[] };
  const claim = store.claim.bind(store);
  store.claim = async (options: ClaimOptions): Promise<Claim> => {
    seen.options.push(options);
    const result = await claim(options);
    const perKey = new Map<string, number>();
    for (const event of result.events) {
      if (event.key === null) continue;

      const count = (perKey.get(event.key) ?? 0) + 1;
      perKey.set(event.key, count);
      seen.mostPerKey = Math.max(seen.mostPerKey, count);
    }

    return result;
  };

  return seen;
}

/**
 * Per key, the calls never go back to an earlier id, and a failed call is followed by a call of
 * the same event: nothing later in its key was published before its retry.
 */
function assertRunOrder(calls: readonly Call[]): void {
  const byKey = new Map<string, Call[]>();
  for (const call of calls) {
    if (call.key === null) continue;

    const list = byKey.get(call.key) ?? [];
    list.push(call);
    byKey.set(call.key, list);
  }
  for (const [key, list] of byKey) {
    for (let index = 1; index < list.length; index += 1) {
      const previous = list[index - 1] as Call;
      const call = list[index] as Call;
      assert.ok(
        BigInt(call.id) >= BigInt(previous.id),
        `key ${key}: ${call.id} published after ${previous.id}`,
      );
      if (!previous.ok) {
        assert.equal(call.id, previous.id, `key ${key}: ${call.id} published before the retry`);
      }
    }
  }
}

function assertOnceEach(delivered: readonly OutboxEvent[], ids: readonly string[]): void {
  const got = delivered.map((event) => event.id);
  assert.equal(new Set(got).size, got.length, 'no event delivered twice');
  assert.deepEqual(new Set(got), new Set(ids));
}

for (const { name, open } of OUTBOXES) {
  describe(`runs of a key (${name})`, () => {
    test('events of a run are published in id order; a failure holds back the rest', async () => {
      const outbox = await open({ maxAttempts: 5 });
      const claims = watchClaims(outbox.store);
      const publisher = new CallRecorder();
      const dispatcher = new OutboxDispatcher({
        store: outbox.store,
        publisher,
        concurrency: 4,
        batchSize: 40,
        prefetch: 36,
        claimPerKey: 10,
        publishTimeoutMs: 1000,
        leaseMs: 30_000,
        maxAttempts: 5,
        retryBaseMs: 10,
        retryMaxMs: 40,
        pollIntervalMs: 50,
        breaker: false,
      });
      try {
        const ids = await outbox.add(400, 8);
        const failing = new Set(ids.filter((_, index) => index % 9 === 4));
        publisher.fail = (event, call) =>
          failing.has(event.id) && call === 1
            ? new PublishError('HTTP 502', 'retryable')
            : undefined;
        await dispatcher.start();
        await waitFor(() => publisher.delivered.length >= ids.length);
        await dispatcher.stop();

        assertOnceEach(publisher.delivered, ids);
        assertRunOrder(publisher.calls);
        assert.equal(publisher.calls.filter((call) => !call.ok).length, failing.size);
        assert.ok(claims.mostPerKey > 1, 'some claim held a run of a key');
        assert.ok(claims.mostPerKey <= 10, `a claim held ${claims.mostPerKey} events of a key`);
        assert.ok(claims.options.every((options) => (options.perKey ?? 1) <= options.limit));
        const { counters } = dispatcher.getStatus();
        assert.equal(counters.retried, failing.size);
        assert.ok(counters.released > 0, 'the rest of a failed run was handed back');
        assert.equal(counters.refused, 0);
        assert.equal(await outbox.count(), 0);
      } finally {
        await dispatcher.stop();
        await outbox.drop();
      }
    });

    test('under hold, a dead event of a run keeps the rest of its key back', async () => {
      const outbox = await open({ deadKeyPolicy: 'hold', maxAttempts: 3 });
      const publisher = new CallRecorder();
      const dispatcher = new OutboxDispatcher({
        store: outbox.store,
        publisher,
        concurrency: 3,
        batchSize: 15,
        prefetch: 12,
        claimPerKey: 5,
        publishTimeoutMs: 1000,
        leaseMs: 30_000,
        maxAttempts: 3,
        pollIntervalMs: 50,
        breaker: false,
      });
      const dead: string[] = [];
      dispatcher.on('event:dead', ({ event }) => dead.push(event.id));
      try {
        // Keys k0, k1, k2 in turn: k1 holds indices 1, 4, 7, ..., 28.
        const ids = await outbox.add(30, 3);
        const poison = ids[7] as string;
        let accept = false;
        publisher.fail = (event) =>
          event.id === poison && !accept ? new PublishError('HTTP 400', 'permanent') : undefined;
        await dispatcher.start();
        await waitFor(() => publisher.delivered.length >= 22 && dead.length === 1);
        // Long enough for further claims to come back empty.
        await sleep(300);

        const k1 = ids.filter((_, index) => index % 3 === 1);
        const later = new Set(k1.slice(3));
        assert.deepEqual(dead, [poison]);
        assert.equal(publisher.delivered.length, 22);
        assert.ok(
          publisher.calls.every((call) => !later.has(call.id)),
          'held events published',
        );
        assert.equal(await outbox.count(`state = 'pending'`), later.size);

        accept = true;
        assert.equal(await outbox.store.requeueDead({ ids: [poison] }), 1);
        await waitFor(() => publisher.delivered.length >= ids.length);
        await dispatcher.stop();

        assertOnceEach(publisher.delivered, ids);
        assertRunOrder(publisher.calls);
        assert.equal(await outbox.count(), 0);
      } finally {
        await dispatcher.stop();
        await outbox.drop();
      }
    });

    test('stop() hands back the rest of every run; a new dispatcher keeps the order', async () => {
      const outbox = await open();
      const first = new CallRecorder();
      first.wait = () => 5 + Math.random() * 15;
      const options = {
        store: outbox.store,
        concurrency: 3,
        batchSize: 30,
        prefetch: 27,
        claimPerKey: 10,
        publishTimeoutMs: 1000,
        leaseMs: 30_000,
      };
      const dispatcher = new OutboxDispatcher({ ...options, publisher: first });
      const second = new CallRecorder();
      const next = new OutboxDispatcher({ ...options, publisher: second });
      try {
        const ids = await outbox.add(300, 6);
        await dispatcher.start();
        await waitFor(() => first.delivered.length >= 50);
        await dispatcher.stop({ timeout: 1000 });

        const { counters } = dispatcher.getStatus();
        assert.ok(counters.released > 0, 'queued events of runs were handed back');
        assert.equal((await outbox.store.stats()).inFlight, 0, 'nothing left claimed');

        await next.start();
        await waitFor(() => first.delivered.length + second.delivered.length >= ids.length);
        await next.stop();

        const delivered = [...first.delivered, ...second.delivered];
        assertOnceEach(delivered, ids);
        assert.ok(firstDeliveriesInOrder(delivered), 'per-key order kept across the stop');
      } finally {
        await dispatcher.stop();
        await next.stop();
        await outbox.drop();
      }
    });

    test('an open breaker hands back the queued runs; attempts go to probes only', async () => {
      const outbox = await open({ maxAttempts: 100 });
      const publisher = new CallRecorder();
      let down = true;
      publisher.fail = () => (down ? new PublishError('HTTP 502', 'retryable') : undefined);
      const dispatcher = new OutboxDispatcher({
        store: outbox.store,
        publisher,
        concurrency: 5,
        batchSize: 50,
        prefetch: 45,
        claimPerKey: 10,
        publishTimeoutMs: 1000,
        leaseMs: 30_000,
        maxAttempts: 100,
        retryBaseMs: 10,
        retryMaxMs: 20,
        pollIntervalMs: 50,
        breaker: { minimumCalls: 5, failureThreshold: 0.5, openMs: 200, maxOpenMs: 200 },
      });
      let opened = 0;
      dispatcher.on('circuit-breaker:opened', () => (opened += 1));
      try {
        const ids = await outbox.add(100, 5);
        await dispatcher.start();
        await waitFor(() => opened > 0);
        await sleep(600);
        const callsWhileDown = publisher.calls.length;
        down = false;
        await waitFor(() => publisher.delivered.length >= ids.length);
        await dispatcher.stop();

        // The first failures open the breaker; then a probe every openMs (200 ms).
        assert.ok(callsWhileDown <= 20, `${callsWhileDown} publishes while the breaker was open`);
        assert.ok(dispatcher.getStatus().counters.released > 0);
        assertOnceEach(publisher.delivered, ids);
        assertRunOrder(publisher.calls);
      } finally {
        await dispatcher.stop();
        await outbox.drop();
      }
    });
  });
}

test('a run event whose lease ends before its publish could time out is released', async () => {
  const outbox = await sqliteOutbox();
  const publisher = new CallRecorder();
  publisher.wait = () => 300;
  // The first claim comes back late: of a lease of 4 s, 3.15 s are gone when its run of three
  // starts; the third event would start at 3.75 s, after the last safe start (4 - 0.4 s).
  const claim = outbox.store.claim.bind(outbox.store);
  let first = true;
  outbox.store.claim = async (options) => {
    const sent = Date.now();
    const result = await claim(options);
    if (first && result.events.length > 0) {
      first = false;
      await sleep(3150 - (Date.now() - sent));
    }

    return result;
  };
  const dispatcher = new OutboxDispatcher({
    store: outbox.store,
    publisher,
    concurrency: 1,
    batchSize: 3,
    prefetch: 2,
    claimPerKey: 3,
    publishTimeoutMs: 400,
    leaseMs: 4000,
    pollIntervalMs: 50,
  });
  try {
    const ids = await outbox.add(3, 1);
    await dispatcher.start();
    await waitFor(() => publisher.delivered.length >= 3);
    await dispatcher.stop();

    const { counters } = dispatcher.getStatus();
    assert.deepEqual(
      publisher.calls.map((call) => call.id),
      ids,
      'each published once, in order',
    );
    assert.equal(counters.released, 1, 'the third event was handed back, not published late');
    assert.equal(counters.refused, 0, 'handed back while its lease still held');
  } finally {
    await dispatcher.stop();
    await outbox.drop();
  }
});

test('a timed-out publish that still succeeds later keeps the rest of its run back', async () => {
  const outbox = await sqliteOutbox();
  const publisher = new CallRecorder();
  const ids = await outbox.add(3, 1);
  // The first attempt of the first event ignores its abort and ends well after its timeout.
  const slow = publisher.publish.bind(publisher);
  publisher.publish = async (event, options) => {
    if (event.id === ids[0] && publisher.calls.length === 0) await sleep(300);

    return slow(event, options);
  };
  const dispatcher = new OutboxDispatcher({
    store: outbox.store,
    publisher,
    concurrency: 1,
    batchSize: 3,
    prefetch: 2,
    claimPerKey: 3,
    publishTimeoutMs: 100,
    leaseMs: 5000,
    retryBaseMs: 10,
    retryMaxMs: 20,
    pollIntervalMs: 50,
    breaker: false,
  });
  try {
    await dispatcher.start();
    await waitFor(() => publisher.calls.length >= 4);
    await dispatcher.stop();

    assert.deepEqual(
      publisher.calls.map((call) => call.id),
      [ids[0], ids[0], ids[1], ids[2]],
    );
    assert.equal(dispatcher.getStatus().counters.retried, 1);
  } finally {
    await dispatcher.stop();
    await outbox.drop();
  }
});

test('a failed event of a run is acknowledged after the rest of its run is released', async () => {
  const outbox = await sqliteOutbox({ maxAttempts: 5 });
  // The acknowledgements as the store receives them, with their ids.
  const writes: [string, string[]][] = [];
  const store = outbox.store;
  const fail = store.fail.bind(store);
  store.fail = async (token, failures) => {
    writes.push(['fail', failures.map((failure) => failure.id)]);

    return fail(token, failures);
  };
  const release = store.release.bind(store);
  store.release = async (token, ids) => {
    writes.push(['release', [...ids]]);

    return release(token, ids);
  };
  const publisher = new CallRecorder();
  const dispatcher = new OutboxDispatcher({
    store,
    publisher,
    concurrency: 1,
    batchSize: 5,
    prefetch: 4,
    claimPerKey: 3,
    publishTimeoutMs: 1000,
    leaseMs: 30_000,
    retryBaseMs: 10,
    retryMaxMs: 20,
    pollIntervalMs: 50,
    breaker: false,
  });
  try {
    // k0 holds the first, third and fifth events, k1 the second and fourth. The first fails; k1's
    // slow publishes take their turns before k0's later events, for longer than ackFlushMs.
    const ids = await outbox.add(5, 2);
    const [first, , third, , fifth] = ids;
    publisher.fail = (event, call) =>
      event.id === first && call === 1 ? new PublishError('HTTP 502', 'retryable') : undefined;
    publisher.wait = (event) => (event.key === 'k1' ? 60 : 0);
    await dispatcher.start();
    await waitFor(() => publisher.delivered.length >= ids.length);
    await dispatcher.stop();

    const written = (name: string, id: string | undefined) =>
      writes.findIndex(([operation, list]) => operation === name && list.includes(id as string));
    const failed = written('fail', first);
    assert.ok(failed >= 0, 'the first event was failed');
    assert.ok(written('release', third) >= 0 && written('release', fifth) >= 0);
    assert.ok(
      written('release', third) < failed && written('release', fifth) < failed,
      `written in this order: ${JSON.stringify(writes)}`,
    );
    assertOnceEach(publisher.delivered, ids);
    assertRunOrder(publisher.calls);
  } finally {
    await dispatcher.stop();
    await outbox.drop();
  }
});

test('claimPerKey is checked: an integer from 1, and a lease that covers a whole run', () => {
  const base = { store: {} as OutboxStore, publisher: new CallRecorder() };
  base.store.claim = async () => ({
    token: '',
    events: [],
    leaseExpiresAt: new Date(),
    rejected: [],
  });
  for (const bad of [0, 2.5, '3', 10_001]) {
    assert.throws(
      () => new OutboxDispatcher({ ...base, claimPerKey: bad as number }),
      (error: unknown) =>
        error instanceof RangeError &&
        error.message ===
          `claimPerKey must be an integer from 1 to 10000, got ${JSON.stringify(bad)}`,
    );
  }
  assert.throws(
    () => new OutboxDispatcher({ ...base, claimPerKey: 5 }),
    /leaseMs must be at least 6 × publishTimeoutMs \(10000\) with prefetch 0 and claimPerKey 5, /,
  );
  assert.doesNotThrow(() => new OutboxDispatcher({ ...base, claimPerKey: 5, leaseMs: 60_000 }));

  const invalid = (env: Record<string, string>) => {
    try {
      loadConfig({ env });
    } catch (error) {
      assert.ok(isConfigError(error), String(error));

      return error.message;
    }

    return assert.fail('expected a ConfigError');
  };
  assert.match(invalid({ OUTBOX_CLAIM_PER_KEY: '0' }), /OUTBOX_CLAIM_PER_KEY/);
  assert.match(
    invalid({ OUTBOX_CLAIM_PER_KEY: '10' }),
    /leaseMs \(default leaseMs=30000\): expected at least 11 times publishTimeoutMs \(10000, with /,
  );
  const { config } = loadConfig({
    env: { OUTBOX_CLAIM_PER_KEY: '10', OUTBOX_LEASE_MS: '110000' },
  });
  assert.equal(config.claimPerKey, 10);
  assert.equal(dispatcherSettings(config).claimPerKey, 10);
  assert.equal(loadConfig({ env: {} }).config.claimPerKey, 1);
});
