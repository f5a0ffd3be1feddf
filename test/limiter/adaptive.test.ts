import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AdaptiveLimit } from '../../src/limiter/adaptive.js';
import { ConcurrencyLimiter, ManualClock } from '../../src/limiter/index.js';
import type { LimitChangedEvent } from '../../src/limiter/index.js';
import { deferred, flush } from './helpers.js';

const tooMany = (): Promise<never> =>
  Promise.reject(Object.assign(new Error('too many requests'), { status: 429 }));

describe('adaptive concurrency', () => {
  it('falls on overload once per wave, recovers with successes, stays in min..max', async () => {
    const limiter = new ConcurrencyLimiter({
      concurrency: 10,
      adaptive: { min: 2, max: 12, backoff: 0.5 },
    });
    const changes: LimitChangedEvent[] = [];
    limiter.on('limit:changed', (event) => changes.push(event));
    // Ten overloads that were all in flight together count as one.
    await Promise.allSettled(Array.from({ length: 10 }, () => limiter.run(tooMany)));
    assert.equal(limiter.limit, 5);
    assert.deepEqual(changes[0], { limit: 5, previous: 10, reason: 'overload' });
    // Overloads after that wave shrink it again, never below min.
    for (let i = 0; i < 5; i += 1) await limiter.run(tooMany).catch(() => undefined);
    assert.equal(limiter.limit, 2);
    assert.equal(limiter.getMemoryStats().limit, 2);
    // Successes with the limit in use make it grow back, never above max.
    for (let round = 0; round < 40; round += 1) {
      await Promise.all(Array.from({ length: limiter.limit }, () => limiter.run(async () => 1)));
    }
    assert.equal(limiter.limit, 12);
    assert.ok(changes.some((change) => change.reason === 'increase'));
  });

  it('does not grow while less than half of the limit is in use', async () => {
    const limiter = new ConcurrencyLimiter({ concurrency: 8, adaptive: { max: 20 } });
    for (let i = 0; i < 200; i += 1) await limiter.run(async () => i);
    assert.equal(limiter.limit, 8);
  });

  it('counts a timeout as overload', async () => {
    const clock = new ManualClock();
    const limiter = new ConcurrencyLimiter({
      concurrency: 4,
      clock,
      timeout: 100,
      adaptive: { backoff: 0.5 },
    });
    const hang = deferred();
    const task = limiter.run(() => hang.promise);
    await flush();
    clock.advance(100);
    await assert.rejects(task, { name: 'TaskTimeoutError' });
    assert.equal(limiter.limit, 2);
    hang.resolve();
    await limiter.onIdle();
  });

  it('ignores failures that are not overload', async () => {
    const limiter = new ConcurrencyLimiter({ concurrency: 4, adaptive: {} });
    await limiter.run(() => Promise.reject(new Error('plain failure'))).catch(() => undefined);
    assert.equal(limiter.limit, 4);
  });

  it('shrinks on a latency gradient when recent run times exceed the long-term average', () => {
    const limit = new AdaptiveLimit(20, { max: 40, latency: { tolerance: 1.5, window: 10 } });
    for (let i = 0; i < 100; i += 1) limit.onRunTime(10, 20);
    assert.equal(limit.limit, 20);
    for (let i = 0; i < 10; i += 1) limit.onRunTime(40, 20);
    assert.ok(limit.limit < 20, `limit ${limit.limit}`);
    assert.ok(limit.limit >= 18, 'one window shrinks it gently');
  });
});
