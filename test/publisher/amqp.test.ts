import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runPublisherConformance } from './conformance.js';
import { URL, exchange, lonely, target } from './targets/amqp.js';
import amqp from 'amqplib';
import { AmqpPublisher } from '../../src/publisher/index.js';
import { isPublishError } from '../../src/publisher/contract.js';
import { makeEvent, signal } from './helpers.js';

const TRACEPARENT = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';

runPublisherConformance(target);

test('an event no queue is bound for is returned and fails as permanent', async () => {
  const publisher = new AmqpPublisher(URL, { exchange: lonely });
  await assert.rejects(publisher.publish(makeEvent(), { signal: signal() }), (error: unknown) => {
    assert.ok(isPublishError(error));
    assert.equal(error.kind, 'permanent');
    assert.match(error.message, /returned/);

    return true;
  });
  await publisher.close();
});

test('a wrong password fails as retryable without showing the password', async () => {
  const publisher = new AmqpPublisher('amqp://guest:hunter2@127.0.0.1:5672', { exchange });
  await assert.rejects(publisher.publish(makeEvent(), { signal: signal() }), (error: unknown) => {
    assert.ok(isPublishError(error));
    assert.doesNotMatch(error.message, /hunter2/);

    return true;
  });
  await publisher.close();
});

test('a full queue that rejects publishes makes the publish fail as overload', async () => {
  const full = `${exchange}-full`;
  const connection = await amqp.connect(URL);
  const channel = await connection.createChannel();
  await channel.assertExchange(full, 'topic', { durable: true });
  await channel.assertQueue(full, {
    durable: true,
    arguments: { 'x-max-length': 1, 'x-overflow': 'reject-publish' },
  });
  await channel.bindQueue(full, full, '#');
  const publisher = new AmqpPublisher(URL, { exchange: full });
  try {
    await publisher.publish(makeEvent(), { signal: signal() });
    await assert.rejects(publisher.publish(makeEvent(), { signal: signal() }), (error: unknown) => {
      assert.ok(isPublishError(error));
      assert.equal(error.kind, 'overload');

      return true;
    });
  } finally {
    await publisher.close();
    await channel.deleteQueue(full);
    await channel.deleteExchange(full);
    await connection.close();
  }
});

test('each message carries its own headers only, the header table being reused', async () => {
  const headed = `${exchange}-headers`;
  const connection = await amqp.connect(URL);
  const channel = await connection.createChannel();
  await channel.assertExchange(headed, 'topic', { durable: true });
  const { queue } = await channel.assertQueue('', { exclusive: true });
  await channel.bindQueue(queue, headed, '#');
  const publisher = new AmqpPublisher(URL, { exchange: headed });
  const many: Record<string, string> = {};
  for (let index = 0; index < 40; index += 1) many[`x-many-${index}`] = String(index);
  const sent = [
    makeEvent({ key: 'order-1', headers: { 'x-tenant': 'acme', traceparent: TRACEPARENT } }),
    makeEvent(),
    makeEvent({ headers: many }),
    makeEvent({ key: 'order-2', headers: { 'x-other': 'yes' } }),
    makeEvent({ headers: { 'x-tenant': 'globex' } }),
  ];
  try {
    for (const event of sent) await publisher.publish(event, { signal: signal() });
    const received: Array<Record<string, unknown>> = [];
    for (;;) {
      const message = await channel.get(queue, { noAck: true });
      if (message === false) break;
      received.push((message.properties.headers ?? {}) as Record<string, unknown>);
    }

    const attributes = (...extra: string[]) =>
      ['specversion', 'id', 'source', 'type', 'time', ...extra].map(
        (name) => `cloudEvents:${name}`,
      );
    const expected = [
      ['x-tenant', 'traceparent', ...attributes('partitionkey', 'traceparent')],
      attributes(),
      [...Object.keys(many), ...attributes()],
      ['x-other', ...attributes('partitionkey')],
      ['x-tenant', ...attributes()],
    ];
    assert.equal(received.length, sent.length);
    received.forEach((headers, index) => {
      assert.deepEqual(
        Object.keys(headers).sort(),
        [...expected[index]!].sort(),
        `message ${index}`,
      );
      assert.equal(String(headers['cloudEvents:id']), sent[index]!.id);
    });
    assert.equal(String(received[0]!['x-tenant']), 'acme');
    assert.equal(String(received[0]!['cloudEvents:partitionkey']), 'order-1');
    assert.equal(String(received[3]!['cloudEvents:partitionkey']), 'order-2');
    assert.equal(String(received[4]!['x-tenant']), 'globex');
  } finally {
    await publisher.close();
    await channel.deleteExchange(headed);
    await connection.close();
  }
});
