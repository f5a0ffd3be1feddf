import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runPublisherConformance } from './conformance.js';
import { URL, exchange, lonely, target } from './targets/amqp.js';
import amqp from 'amqplib';
import { AmqpPublisher } from '../../src/publisher/index.js';
import { isPublishError } from '../../src/publisher/contract.js';
import { makeEvent, signal } from './helpers.js';

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
