import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  AmqpPublisher,
  HttpPublisher,
  MqttPublisher,
  NatsPublisher,
  RedisPublisher,
  StdoutPublisher,
  createPublisher,
  encodeCloudEvent,
  openPublisher,
} from '../../src/publisher/index.js';
import { isPublishError } from '../../src/publisher/contract.js';
import { makeEvent } from './helpers.js';

test('chooses the publisher by the URL scheme', async () => {
  const cases: Array<[string, new (...args: never[]) => unknown]> = [
    ['stdout:', StdoutPublisher],
    ['http://127.0.0.1:1/hook', HttpPublisher],
    ['https://127.0.0.1:1/hook', HttpPublisher],
    ['amqp://guest:guest@127.0.0.1:5672', AmqpPublisher],
    ['amqps://guest:guest@127.0.0.1:5671', AmqpPublisher],
    ['nats://127.0.0.1:4222', NatsPublisher],
    ['redis://127.0.0.1:6379', RedisPublisher],
    ['rediss://127.0.0.1:6380', RedisPublisher],
    ['mqtt://127.0.0.1:1883', MqttPublisher],
    ['mqtts://127.0.0.1:8883', MqttPublisher],
  ];
  for (const [url, kind] of cases) {
    const publisher = createPublisher(url);
    assert.ok(publisher instanceof kind, url);
    await publisher.close();
  }
});

test('an unknown scheme is refused, with the password redacted', () => {
  assert.throws(
    () => createPublisher('kafka://user:hunter2@127.0.0.1:9092'),
    (error: unknown) => {
      assert.ok(error instanceof TypeError);
      assert.match(error.message, /unknown scheme kafka:/);
      assert.doesNotMatch(error.message, /hunter2/);

      return true;
    },
  );
});

test('passes each section of the options to its publisher and validates it', () => {
  assert.throws(
    () => createPublisher('nats://127.0.0.1:4222', { nats: { subject: 'a.>' } }),
    /nats\.subject must be a NATS subject without wildcards/,
  );
  assert.throws(
    () => createPublisher('stdout:', { cloudEvents: { mode: 'compact' as 'binary' } }),
    /cloudEvents\.mode must be "binary" or "structured"/,
  );
  assert.throws(
    () =>
      createPublisher('amqp://127.0.0.1', { amqp: { routes: { '*': { exchange: 3 } } } } as never),
    /amqp\.routes\["\*"\] must be an exchange name/,
  );
});

test('openPublisher checks the routes against the broker and closes on failure', async () => {
  await assert.rejects(
    openPublisher('nats://127.0.0.1:4222', { nats: { subject: 'nowhere.at.all.{type}' } }),
    (error: unknown) => isPublishError(error) && /no JetStream stream captures/.test(error.message),
  );
  const publisher = await openPublisher('redis://127.0.0.1:6379');
  await publisher.close();
});

test('CloudEvents: a string payload with a non-JSON content type travels as is', () => {
  const event = makeEvent({ payload: 'a,b\n1,2', headers: { 'content-type': 'text/csv' } });
  const encoded = encodeCloudEvent(event, { source: '/s', mode: 'binary' });
  assert.equal(encoded.contentType, 'text/csv');
  assert.equal(encoded.body.toString(), 'a,b\n1,2');

  const json = encodeCloudEvent(makeEvent({ payload: 'text' }), { source: '/s', mode: 'binary' });
  assert.equal(json.contentType, 'application/json');
  assert.equal(json.body.toString(), '"text"');
});

test('CloudEvents: attribute names the mapping owns are not copied from the event headers', () => {
  const event = makeEvent({ headers: { id: 'forged', 'ce-type': 'x', 'x-tenant': 'acme' } });
  const encoded = encodeCloudEvent(event, { source: '/s', mode: 'binary' });
  assert.equal(encoded.attributes.id, event.id);
  assert.deepEqual(encoded.headers, { 'x-tenant': 'acme' });
});
