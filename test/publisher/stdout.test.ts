import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { StdoutPublisher } from '../../src/publisher/index.js';
import { makeEvent, signal } from './helpers.js';

test('writes one structured CloudEvent per line', async () => {
  const stream = new PassThrough();
  const chunks: Buffer[] = [];
  stream.on('data', (chunk: Buffer) => chunks.push(chunk));
  const publisher = new StdoutPublisher({ stream, cloudEvents: { source: '/test' } });
  const first = makeEvent({ key: 'k1', headers: { traceparent: 'tp' } });
  const second = makeEvent({ type: 'order.paid' });
  await publisher.publish(first, { signal: signal() });
  await publisher.publish(second, { signal: signal() });
  await publisher.close();

  const lines = Buffer.concat(chunks).toString().trimEnd().split('\n');
  assert.equal(lines.length, 2);
  const parsed = lines.map((line) => JSON.parse(line) as Record<string, unknown>);
  assert.equal(parsed[0]!.id, first.id);
  assert.equal(parsed[0]!.partitionkey, 'k1');
  assert.equal(parsed[0]!.traceparent, 'tp');
  assert.equal(parsed[0]!.source, '/test');
  assert.deepEqual(parsed[0]!.data, first.payload);
  assert.equal(parsed[1]!.type, 'order.paid');
});

test('rejects publishes after close', async () => {
  const publisher = new StdoutPublisher({ stream: new PassThrough() });
  await publisher.close();
  await publisher.close();
  await assert.rejects(publisher.publish(makeEvent(), { signal: signal() }), /closed/);
});
