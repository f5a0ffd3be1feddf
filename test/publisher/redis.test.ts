import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runPublisherConformance } from './conformance.js';
import { URL, stream, target } from './targets/redis.js';
import { Redis } from 'ioredis';
import { RedisPublisher } from '../../src/publisher/index.js';
import { makeEvent, signal } from './helpers.js';

runPublisherConformance(target);

test('without a dedup window, XADD appends every publish and trims to maxLen', async () => {
  const key = `${stream}:plain`;
  const publisher = new RedisPublisher(URL, { stream: key, maxLen: 10 });
  const event = makeEvent({ key: 'k' });
  await publisher.publish(event, { signal: signal() });
  await publisher.publish(event, { signal: signal() });
  for (let index = 0; index < 300; index += 1) {
    await publisher.publish(makeEvent(), { signal: signal() });
  }
  await publisher.close();

  const redis = new Redis(URL);
  const length = await redis.xlen(key);
  const first = await redis.xrange(key, '-', '+', 'COUNT', 1);
  await redis.del(key);
  redis.disconnect();
  assert.ok(length >= 10 && length < 302, `length ${length}`);
  assert.ok(first.length === 1);
});
