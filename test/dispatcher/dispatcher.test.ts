import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { OutboxDispatcher } from '../../src/dispatcher/index.js';
import type { OutboxEvent } from '../../src/event.js';
import { PublishError } from '../../src/publisher/contract.js';
import {
  RecordingPublisher,
  firstDeliveriesInOrder,
  jsonLogSink,
  pgOutbox,
  sleep,
  waitFor,
} from './helpers.js';

test('delivers every event once, in order per key, claiming only what it can start', async () => {
  const outbox = await pgOutbox();
  const publisher = new RecordingPublisher();
  publisher.behaviour = (_event, signal) => sleep(Math.random() * 2, signal);
  const dispatcher = new OutboxDispatcher({
    store: outbox.store,
    publisher,
    concurrency: 10,
    batchSize: 50,
  });
  const claims: number[] = [];
  let queuedAtClaim = 0;
  dispatcher.on('batch:claimed', ({ count }) => {
    claims.push(count);
    queuedAtClaim = Math.max(queuedAtClaim, dispatcher.limiter.queued);
  });
  try {
    const ids = await outbox.add(2000, 20);
    await dispatcher.start();
    await waitFor(() => publisher.delivered.length >= ids.length);
    await dispatcher.stop();

    assert.equal(publisher.delivered.length, ids.length);
    assert.deepEqual(new Set(publisher.delivered.map((event) => event.id)), new Set(ids));
    assert.ok(firstDeliveriesInOrder(publisher.delivered), 'per-key order kept');
    assert.ok(Math.max(...claims) <= 10, `claims of ${Math.max(...claims)} > concurrency`);
    assert.equal(queuedAtClaim, 0);
    assert.ok(publisher.maxActive <= 10);
    assert.equal(await outbox.count(), 0);
    const status = dispatcher.getStatus();
    assert.equal(status.state, 'stopped');
    assert.equal(status.counters.delivered, 2000);
    assert.equal(status.counters.claimed, 2000);
  } finally {
    await dispatcher.stop();
    await outbox.drop();
  }
});

test('retries a retryable failure, dead-letters a permanent one or an exhausted one', async () => {
  const outbox = await pgOutbox({ maxAttempts: 3 });
  const publisher = new RecordingPublisher();
  const failures = new Map<string, number>();
  publisher.behaviour = (event) => {
    const seen = (failures.get(event.id) ?? 0) + 1;
    failures.set(event.id, seen);
    if (event.type === 'bad.request') throw new PublishError('HTTP 400', 'permanent');
    if (event.type === 'always.down') throw new PublishError('HTTP 502', 'retryable');
    if (event.type === 'flaky' && seen < 3) throw new PublishError('HTTP 503', 'overload');
  };
  const dispatcher = new OutboxDispatcher({
    store: outbox.store,
    publisher,
    maxAttempts: 3,
    retryBaseMs: 10,
    retryMaxMs: 40,
    pollIntervalMs: 50,
    breaker: false,
  });
  const retries: string[] = [];
  const dead: string[] = [];
  dispatcher.on('event:retry', ({ event, kind }) => retries.push(`${event.type}:${kind}`));
  dispatcher.on('event:dead', ({ reason }) => dead.push(reason));
  try {
    await outbox.add(1, 0, 'flaky');
    await outbox.add(1, 0, 'bad.request');
    await outbox.add(1, 0, 'always.down');
    await dispatcher.start();
    await waitFor(() => publisher.delivered.length === 1 && dead.length === 2, 10_000);
    await dispatcher.stop();

    assert.equal(publisher.delivered[0]?.type, 'flaky');
    assert.equal(publisher.delivered[0]?.attempts, 3);
    assert.deepEqual(retries.sort(), [
      'always.down:retryable',
      'always.down:retryable',
      'flaky:overload',
      'flaky:overload',
    ]);
    assert.ok(dead.some((reason) => /^permanent failure: HTTP 400/.test(reason)));
    assert.ok(dead.some((reason) => /^attempts exhausted \(3 of 3\): HTTP 502/.test(reason)));
    const listed = await outbox.store.listDead();
    assert.deepEqual(listed.map((event) => event.type).sort(), ['always.down', 'bad.request']);
    assert.equal(dispatcher.getStatus().counters.deadLettered, 2);
  } finally {
    await dispatcher.stop();
    await outbox.drop();
  }
});

test('stop() in the middle of a load loses nothing and leaves nothing claimed', async () => {
  const outbox = await pgOutbox();
  const first = new RecordingPublisher();
  first.behaviour = (_event, signal) => sleep(20 + Math.random() * 200, signal);
  const dispatcher = new OutboxDispatcher({
    store: outbox.store,
    publisher: first,
    concurrency: 20,
  });
  try {
    const ids = await outbox.add(600, 60);
    await dispatcher.start();
    await waitFor(() => first.delivered.length >= 100);
    const stopping = dispatcher.stop({ timeout: 60 });
    assert.equal(dispatcher.stop(), stopping, 'stop() is idempotent');
    await stopping;
    assert.equal(dispatcher.state, 'stopped');

    const stats = await outbox.store.stats();
    assert.equal(stats.inFlight, 0, 'nothing left claimed');
    assert.equal(stats.dead, 0);
    const counters = dispatcher.getStatus().counters;
    assert.equal(counters.delivered, first.delivered.length);
    assert.equal(stats.pending + stats.scheduled, ids.length - counters.delivered);

    // A second dispatcher finishes the work: every event is delivered at least once.
    const second = new RecordingPublisher();
    const next = new OutboxDispatcher({ store: outbox.store, publisher: second, concurrency: 20 });
    await next.start();
    await waitFor(async () => (await outbox.count()) === 0);
    await next.stop();
    const all = new Set([...first.delivered, ...second.delivered].map((event) => event.id));
    assert.deepEqual(all, new Set(ids));
  } finally {
    await dispatcher.stop();
    await outbox.drop();
  }
});

test('an open breaker pauses claiming, spends attempts on probes only, delivers all', async () => {
  const outbox = await pgOutbox();
  const publisher = new RecordingPublisher();
  let down = true;
  publisher.behaviour = () => {
    if (down) throw new PublishError('connection refused', 'retryable');
  };
  const dispatcher = new OutboxDispatcher({
    store: outbox.store,
    publisher,
    concurrency: 5,
    retryBaseMs: 20,
    retryMaxMs: 50,
    pollIntervalMs: 50,
    breaker: { minimumCalls: 5, failureThreshold: 0.5, openMs: 200, maxOpenMs: 400 },
  });
  const transitions: string[] = [];
  dispatcher.on('circuit-breaker:opened', () => transitions.push('opened'));
  dispatcher.on('circuit-breaker:half-open', () => transitions.push('half-open'));
  dispatcher.on('circuit-breaker:closed', () => transitions.push('closed'));
  let claimedWhileOpen = 0;
  dispatcher.on('batch:claimed', ({ count }) => {
    if (dispatcher.getStatus().breaker.state === 'open') claimedWhileOpen += count;
  });
  try {
    const ids = await outbox.add(200, 0);
    await dispatcher.start();
    await waitFor(() => transitions.includes('opened'));
    const callsAtOpen = publisher.calls;
    await sleep(1500);
    const probes = transitions.filter((name) => name === 'half-open').length;
    assert.ok(probes >= 2, `expected several half-open probes, saw ${probes}`);
    assert.ok(
      publisher.calls - callsAtOpen <= probes + 5,
      `${publisher.calls - callsAtOpen} calls while open, ${probes} probes`,
    );
    assert.equal(claimedWhileOpen, 0);
    assert.equal(dispatcher.getStatus().breaker.state === 'closed', false);

    down = false;
    await waitFor(() => new Set(publisher.delivered.map((event) => event.id)).size === ids.length);
    assert.equal(transitions.at(-1), 'closed');
    await dispatcher.stop();
    assert.equal((await outbox.store.stats()).dead, 0);
    assert.equal(await outbox.count(), 0);
  } finally {
    await dispatcher.stop();
    await outbox.drop();
  }
});

test('a per-type limit holds within the global one', async () => {
  const outbox = await pgOutbox();
  const publisher = new RecordingPublisher();
  publisher.behaviour = (_event, signal) => sleep(5, signal);
  const dispatcher = new OutboxDispatcher({
    store: outbox.store,
    publisher,
    concurrency: 10,
    typeConcurrency: { 'order.*': 2 },
  });
  try {
    await outbox.add(100, 0, 'order.created');
    await outbox.add(100, 0, 'email.sent');
    await dispatcher.start();
    await waitFor(() => publisher.delivered.length >= 200);
    await dispatcher.stop();

    assert.ok((publisher.maxActiveByType.get('order.created') ?? 0) <= 2);
    assert.ok((publisher.maxActiveByType.get('email.sent') ?? 0) > 2);
    assert.ok(publisher.maxActive <= 10);
    assert.equal(await outbox.count(), 0);
  } finally {
    await dispatcher.stop();
    await outbox.drop();
  }
});

test('a notification wakes an idle dispatcher long before the poll interval', async () => {
  const outbox = await pgOutbox();
  const publisher = new RecordingPublisher();
  const dispatcher = new OutboxDispatcher({
    store: outbox.store,
    publisher,
    pollIntervalMs: 10_000,
  });
  try {
    await dispatcher.start();
    await sleep(300);
    assert.equal(dispatcher.loopState, 'idle');
    const started = Date.now();
    await outbox.add(1, 1);
    await waitFor(() => publisher.delivered.length === 1, 5000);
    assert.ok(Date.now() - started < 1000, `took ${Date.now() - started} ms`);
  } finally {
    await dispatcher.stop();
    await outbox.drop();
  }
});

test('logs one line per batch, events only at debug, and never a secret', async () => {
  const { sink, lines } = jsonLogSink();
  const outbox = await pgOutbox();
  const store = outbox.store;
  const publisher = new RecordingPublisher();
  let failed = false;
  publisher.behaviour = () => {
    if (!failed) {
      failed = true;
      throw new Error('cannot reach amqp://user:hunter2@127.0.0.1:5672/vhost');
    }
  };
  const dispatcher = new OutboxDispatcher({
    store,
    publisher,
    logger: pino({ level: 'debug' }, sink),
    retryBaseMs: 10,
    retryMaxMs: 20,
    pollIntervalMs: 50,
  });
  dispatcher.on('event:delivered', () => {
    throw new Error('a careless listener');
  });
  try {
    await outbox.add(2, 2, 'a');
    await dispatcher.start();
    await waitFor(() => publisher.delivered.length === 2);
    await dispatcher.stop();

    const text = JSON.stringify(lines);
    assert.doesNotMatch(text, /hunter2/);
    assert.match(text, /amqp:\/\/user:\*\*\*@127\.0\.0\.1/);
    const batches = lines.filter((line) => line.msg === 'batch done');
    assert.ok(batches.length >= 2);
    for (const batch of batches) {
      assert.equal(batch.level, 30);
      for (const field of ['total', 'succeeded', 'failed', 'durationMs', 'throughput', 'limiter']) {
        assert.ok(field in batch, `batch line has ${field}`);
      }
    }
    const perEvent = lines.filter((line) => line.msg === 'delivered');
    assert.equal(perEvent.length, 2);
    assert.ok(perEvent.every((line) => line.level === 20));
    assert.ok(lines.some((line) => line.msg === 'a listener threw'));
  } finally {
    await dispatcher.stop();
    await outbox.drop();
  }
});

test('the duration of each delivery reaches listeners and the debug log, in runs too', async () => {
  for (const [claimPerKey, read] of [
    [1, 'debug'],
    [1, 'listener'],
    [4, 'debug'],
    [4, 'listener'],
  ] as const) {
    const { sink, lines } = jsonLogSink();
    const outbox = await pgOutbox();
    const publisher = new RecordingPublisher();
    publisher.behaviour = (_event, signal) => sleep(30, signal);
    const dispatcher = new OutboxDispatcher({
      store: outbox.store,
      publisher,
      concurrency: 4,
      claimPerKey,
      publishTimeoutMs: 1000,
      logger: pino({ level: read === 'debug' ? 'debug' : 'info' }, sink),
      pollIntervalMs: 50,
    });
    const durations: number[] = [];
    try {
      await outbox.add(4, 2);
      await dispatcher.start();
      await waitFor(() => publisher.delivered.length === 4);
      // A listener that comes while the dispatcher runs reads the next deliveries.
      if (read === 'listener') {
        dispatcher.on('event:delivered', ({ durationMs }) => durations.push(durationMs));
      }
      await outbox.add(4, 2);
      await waitFor(() => publisher.delivered.length === 8);
      await dispatcher.stop();

      const logged = lines.filter((line) => line.msg === 'delivered').map((line) => line.ms);
      const seen = read === 'debug' ? logged : durations;
      assert.equal(seen.length, read === 'debug' ? 8 : 4, `${read}, claimPerKey ${claimPerKey}`);
      for (const ms of seen) {
        // A publish takes 30 ms (a timer may fire a little early), and more behind its key.
        assert.ok(typeof ms === 'number' && ms >= 25 && ms < 5_000, `duration ${String(ms)}`);
      }
    } finally {
      await dispatcher.stop();
      await outbox.drop();
    }
  }
});

test('prefetch claims ahead into the queue, and stop() releases what never started', async () => {
  const outbox = await pgOutbox();
  const publisher = new RecordingPublisher();
  publisher.behaviour = (_event, signal) => sleep(50, signal);
  const dispatcher = new OutboxDispatcher({
    store: outbox.store,
    publisher,
    concurrency: 2,
    batchSize: 10,
    prefetch: 8,
    publishTimeoutMs: 1000,
    leaseMs: 10_000,
  });
  const claims: number[] = [];
  dispatcher.on('batch:claimed', ({ count }) => claims.push(count));
  try {
    const ids = await outbox.add(40, 0);
    await dispatcher.start();
    await waitFor(() => publisher.delivered.length >= 4);
    assert.ok(Math.max(...claims) > 2, `claims ${claims.join(',')} never went past the slots`);
    assert.ok(Math.max(...claims) <= 10);
    assert.ok(publisher.maxActive <= 2);
    await dispatcher.stop({ timeout: 5000 });

    const { counters } = dispatcher.getStatus();
    assert.ok(counters.released > 0, 'queued events were released');
    const stats = await outbox.store.stats();
    assert.equal(stats.inFlight, 0);
    assert.equal(stats.pending + stats.scheduled, ids.length - counters.delivered);
    assert.equal((await outbox.store.listDead()).length, 0);
  } finally {
    await dispatcher.stop();
    await outbox.drop();
  }
});

test('a lease too short for the publishes queued ahead is refused', () => {
  const store = {} as never;
  assert.throws(
    () =>
      new OutboxDispatcher({
        store: { claim() {} } as never,
        publisher: { publish() {} } as never,
        concurrency: 10,
        prefetch: 40,
        publishTimeoutMs: 10_000,
        leaseMs: 30_000,
      }),
    /leaseMs must be at least 6 × publishTimeoutMs \(10000\) with prefetch 40, got 30000/,
  );
  assert.throws(() => new OutboxDispatcher({ store, publisher: store }), /store must be/);
});

test('memory:high is emitted while the heap is above the threshold', async () => {
  const outbox = await pgOutbox();
  const dispatcher = new OutboxDispatcher({
    store: outbox.store,
    publisher: new RecordingPublisher(),
    maxHeapPercent: 1,
    memoryCheckIntervalMs: 100,
  });
  // About 48 MB of heap: above 1 % of any default heap limit.
  const ballast = new Array<number>(6_000_000).fill(1);
  try {
    const high = new Promise<{ ratio: number }>((resolve) =>
      dispatcher.once('memory:high', resolve),
    );
    await dispatcher.start();
    const event = await high;
    assert.ok(event.ratio > 0.01);
    assert.ok(dispatcher.getStatus().memory.heapLimit > 0);
    assert.equal(ballast.length, 6_000_000);
  } finally {
    await dispatcher.stop();
    await outbox.drop();
  }
});

test('several claimers keep claims in flight together and still keep key order', async () => {
  const outbox = await pgOutbox();
  let claiming = 0;
  let mostClaiming = 0;
  const store = new Proxy(outbox.store, {
    get(target, name) {
      if (name === 'claim') {
        return async (options: Parameters<typeof target.claim>[0]) => {
          claiming += 1;
          mostClaiming = Math.max(mostClaiming, claiming);
          try {
            await sleep(20);

            return await target.claim(options);
          } finally {
            claiming -= 1;
          }
        };
      }
      const value: unknown = Reflect.get(target, name, target);

      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
  const publisher = new RecordingPublisher();
  const dispatcher = new OutboxDispatcher({
    store,
    publisher,
    concurrency: 5,
    batchSize: 20,
    prefetch: 40,
    claimers: 2,
    publishTimeoutMs: 1000,
  });
  try {
    const ids = await outbox.add(1000, 20);
    await dispatcher.start();
    await waitFor(() => publisher.delivered.length >= ids.length);
    await dispatcher.stop();

    assert.equal(mostClaiming, 2);
    assert.equal(publisher.delivered.length, ids.length);
    assert.ok(firstDeliveriesInOrder(publisher.delivered));
    assert.ok(publisher.maxActive <= 5);
    assert.equal(await outbox.count(), 0);
  } finally {
    await dispatcher.stop();
    await outbox.drop();
  }
});

test('processEvent keeps one event at a time per key and stops at its signal', async () => {
  const outbox = await pgOutbox();
  const publisher = new RecordingPublisher();
  publisher.behaviour = (_event, signal) => sleep(30, signal);
  const dispatcher = new OutboxDispatcher({ store: outbox.store, publisher, concurrency: 10 });
  const event = (id: string, key: string | null): OutboxEvent => ({
    id,
    type: 'order.created',
    key,
    payload: { id },
    headers: {},
    createdAt: new Date(),
    availableAt: new Date(),
    attempts: 1,
    lastError: null,
  });
  try {
    const events = [event('1', 'a'), event('2', 'a'), event('3', null), event('4', null)];
    const outcomes = await Promise.all(events.map((one) => dispatcher.processEvent(one)));

    assert.deepEqual(
      outcomes.map((outcome) => outcome.kind),
      ['delivered', 'delivered', 'delivered', 'delivered'],
    );
    // The two events of key `a` ran one after the other, beside the two unkeyed ones.
    assert.equal(publisher.maxActive, 3);
    assert.deepEqual(
      publisher.delivered.filter((one) => one.key === 'a').map((one) => one.id),
      ['1', '2'],
    );

    const controller = new AbortController();
    const aborted = dispatcher.processEvent(event('5', null), { signal: controller.signal });
    controller.abort();
    const outcome = await aborted;

    assert.equal(outcome.kind, 'retry');
    assert.ok(!publisher.delivered.some((one) => one.id === '5'), 'the aborted event went out');
  } finally {
    await dispatcher.stop();
    await outbox.drop();
  }
});
