// The Redis publisher's batches: many publishes appended by one script call, each settling on
// its own entry, against the real Redis.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createConnection, createServer } from 'node:net';
import type { AddressInfo, Socket } from 'node:net';
import { Redis } from 'ioredis';
import type { OutboxEvent } from '../../src/event.js';
import { isPublishError } from '../../src/publisher/contract.js';
import { RedisPublisher } from '../../src/publisher/index.js';
import { makeEvent, RUN, signal } from './helpers.js';
import { URL } from './targets/redis.js';

const prefix = `outbox-test:${RUN}:batch`;
const notStream = `${prefix}:string`;
let redis: Redis;

before(async () => {
  redis = new Redis(URL);
  await redis.set(notStream, 'x');
});

after(async () => {
  const keys = await redis.keys(`${prefix}*`);
  if (keys.length > 0) await redis.del(...keys);
  redis.disconnect();
});

/** The ids of a stream's entries, oldest first. */
async function storedIds(stream: string): Promise<string[]> {
  const entries = await redis.xrange(stream, '-', '+');

  return entries.map(([, fields]) => fields[fields.indexOf('id') + 1]!);
}

/** Publishes all at once (one tick, so one batch up to its size); the outcome of each. */
function publishAll(publisher: RedisPublisher, events: OutboxEvent[]) {
  return Promise.allSettled(events.map((event) => publisher.publish(event, { signal: signal() })));
}

test('1,000 publishes in flight are all appended, in the order they were published', async () => {
  const stream = `${prefix}:order`;
  const publisher = new RedisPublisher(URL, { stream });
  const events = Array.from({ length: 1000 }, (_, index) => makeEvent({ key: `k${index % 7}` }));
  const outcomes = await publishAll(publisher, events);
  await publisher.close();

  assert.deepEqual(
    outcomes.filter((outcome) => outcome.status === 'rejected'),
    [],
  );
  assert.deepEqual(
    await storedIds(stream),
    events.map((event) => event.id),
  );
});

test('a failing entry fails alone, as permanent; the rest of its batch is appended', async () => {
  const stream = `${prefix}:mixed`;
  const publisher = new RedisPublisher(URL, { stream, routes: { 'bad.*': notStream } });
  const events = Array.from({ length: 9 }, (_, index) =>
    makeEvent({ type: index === 4 ? 'bad.one' : 'order.created' }),
  );
  const outcomes = await publishAll(publisher, events);
  await publisher.close();

  const failed = outcomes[4]!;
  assert.equal(failed.status, 'rejected');
  const error: unknown = failed.reason;
  assert.ok(isPublishError(error), String(error));
  assert.equal(error.kind, 'permanent');
  assert.match(error.message, new RegExp(`XADD of event ${events[4]!.id} to ${notStream}`));
  assert.match(error.message, /WRONGTYPE/);
  assert.deepEqual(
    outcomes.map((outcome) => outcome.status),
    events.map((_, index) => (index === 4 ? 'rejected' : 'fulfilled')),
  );
  assert.deepEqual(
    await storedIds(stream),
    events.filter((_, index) => index !== 4).map((event) => event.id),
  );
});

test('an entry with more fields than a script can append fails as permanent, alone', async () => {
  const stream = `${prefix}:wide`;
  const publisher = new RedisPublisher(URL, { stream });
  const headers: Record<string, string> = {};
  for (let index = 0; index < 4000; index += 1) headers[`x-h${index}`] = 'v';
  const wide = makeEvent({ headers });
  const events = [makeEvent(), wide, makeEvent()];
  const outcomes = await publishAll(publisher, events);
  await publisher.close();

  const failed = outcomes[1]!;
  assert.equal(failed.status, 'rejected');
  assert.ok(isPublishError(failed.reason) && failed.reason.kind === 'permanent');
  assert.match(String(failed.reason), /too many headers/);
  assert.deepEqual(await storedIds(stream), [events[0]!.id, events[2]!.id]);
});

test('with a dedup window, an id seen in its batch or a later one is appended once', async () => {
  const stream = `${prefix}:dedup`;
  const publisher = new RedisPublisher(URL, { stream, dedupWindowSeconds: 60, maxLen: 1000 });
  const first = makeEvent();
  const second = makeEvent();
  const outcomes = await publishAll(publisher, [first, first, second, first]);
  await publisher.publish(second, { signal: signal() });
  await publisher.close();

  assert.deepEqual(
    outcomes.map((outcome) => outcome.status),
    ['fulfilled', 'fulfilled', 'fulfilled', 'fulfilled'],
  );
  assert.deepEqual(await storedIds(stream), [first.id, second.id]);
  const ttl = await redis.ttl(`${stream}:dedup:${first.id}`);
  assert.ok(ttl > 0 && ttl <= 60, `ttl ${ttl}`);
  const [entry] = await redis.xrange(stream, '-', '+', 'COUNT', 1);
  assert.equal(await redis.get(`${stream}:dedup:${first.id}`), entry?.[0]);
});

test('maxLen trims the stream batches append to, with and without a dedup window', async () => {
  for (const dedupWindowSeconds of [0, 60]) {
    const stream = `${prefix}:trim:${dedupWindowSeconds}`;
    const publisher = new RedisPublisher(URL, { stream, maxLen: 10, dedupWindowSeconds });
    await publishAll(
      publisher,
      Array.from({ length: 600 }, () => makeEvent()),
    );
    await publisher.close();

    const length = await redis.xlen(stream);
    assert.ok(length >= 10 && length < 600, `dedup ${dedupWindowSeconds}: length ${length}`);
  }
});

test('routes send the events of one batch to their own streams', async () => {
  const publisher = new RedisPublisher(URL, {
    stream: `${prefix}:other`,
    routes: { 'order.*': `${prefix}:{type}:{key}` },
  });
  const events = [
    makeEvent({ type: 'order.created', key: 'a' }),
    makeEvent({ type: 'order.paid', key: 'b' }),
    makeEvent({ type: 'invoice.sent' }),
    makeEvent({ type: 'order.created', key: 'a' }),
  ];
  await publishAll(publisher, events);
  await publisher.close();

  assert.deepEqual(await storedIds(`${prefix}:order.created:a`), [events[0]!.id, events[3]!.id]);
  assert.deepEqual(await storedIds(`${prefix}:order.paid:b`), [events[1]!.id]);
  assert.deepEqual(await storedIds(`${prefix}:other`), [events[2]!.id]);
});

test('a Redis that forgot the script (SCRIPT FLUSH) is sent it again, and appends', async () => {
  const stream = `${prefix}:noscript`;
  const publisher = new RedisPublisher(URL, { stream });
  const early = makeEvent();
  await publisher.publish(early, { signal: signal() });
  await redis.script('FLUSH');
  const events = Array.from({ length: 250 }, () => makeEvent());
  const outcomes = await publishAll(publisher, events);
  await publisher.close();

  assert.deepEqual(
    outcomes.filter((outcome) => outcome.status === 'rejected'),
    [],
  );
  assert.deepEqual(await storedIds(stream), [early.id, ...events.map((event) => event.id)]);
});

test('publishes in flight on a lost connection fail as retryable, and close returns', async () => {
  // A proxy to Redis that swallows what the publisher sends once cut, then drops the connection
  // and refuses new ones: the batches in flight never get their reply.
  const sockets = new Set<Socket>();
  let cut = false;
  const proxy = createServer((client) => {
    const upstream = createConnection(6379, '127.0.0.1');
    sockets.add(client).add(upstream);
    client.on('data', (data) => {
      if (!cut) upstream.write(data);
    });
    upstream.pipe(client);
    client.on('error', () => undefined);
    upstream.on('error', () => undefined);
  });
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  const port = (proxy.address() as AddressInfo).port;
  const publisher = new RedisPublisher(`redis://127.0.0.1:${port}`, {
    stream: `${prefix}:lost`,
    connectTimeoutMs: 500,
    closeTimeoutMs: 1000,
  });
  await publisher.check();
  cut = true;
  const started = Date.now();
  const pending = publishAll(
    publisher,
    Array.from({ length: 300 }, () => makeEvent()),
  );
  await new Promise((resolve) => setTimeout(resolve, 100));
  proxy.close();
  for (const socket of sockets) socket.destroy();
  const outcomes = await pending;
  await publisher.close();

  assert.ok(Date.now() - started < 8000, `settled after ${Date.now() - started} ms`);
  for (const outcome of outcomes) {
    assert.equal(outcome.status, 'rejected');
    assert.ok(isPublishError(outcome.reason), String(outcome.reason));
    assert.equal(outcome.reason.kind, 'retryable', outcome.reason.message);
  }
});
