import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, describe, test } from 'node:test';

import { Redis } from 'ioredis';

import { GlobalConcurrencyLimit, withGlobalLimits } from '../../src/coordination/index.js';
import type { OutboxEvent } from '../../src/event.js';
import type { Publisher } from '../../src/publisher/contract.js';
import { REDIS_URL, uniqueName } from './helpers.js';

const redis = new Redis(REDIS_URL);
after(() => redis.disconnect());

function event(type: string): OutboxEvent {
  return {
    id: '1',
    type,
    key: null,
    payload: {},
    headers: {},
    createdAt: new Date(),
    availableAt: new Date(),
    attempts: 1,
    lastError: null,
  };
}

/** A publisher whose publishes last until the test lets them go; it records the peak. */
function gatedPublisher() {
  let running = 0;
  const state = { peak: 0, release: () => {} };
  const open = () => {
    let resolve = () => {};
    const promise = new Promise<void>((done) => (resolve = done));

    return { promise, resolve };
  };
  let gate = open();
  state.release = () => {
    gate.resolve();
    gate = open();
  };
  const publisher: Publisher = {
    name: 'gated',
    async publish() {
      running += 1;
      state.peak = Math.max(state.peak, running);
      await gate.promise;
      running -= 1;
    },
    async close() {},
  };

  return { publisher, state };
}

describe('a publisher wrapped in shared limits', () => {
  test("with scope 'type' each event type has a budget of its own", async () => {
    const { publisher, state } = gatedPublisher();
    const name = uniqueName('scope');
    const limited = withGlobalLimits(publisher, {
      redis: REDIS_URL,
      name,
      concurrency: 1,
      scope: 'type',
    });
    const signal = new AbortController().signal;
    try {
      const runs = [
        limited.publish(event('a'), { signal }),
        limited.publish(event('b'), { signal }),
        limited.publish(event('a'), { signal }),
      ];
      await sleep(200);

      assert.equal(state.peak, 2, 'one of each type ran at once, the second "a" waited');
      assert.deepEqual([...limited.limits.keys()].sort(), [`${name}:a`, `${name}:b`]);
      state.release();
      await sleep(100);
      state.release();
      await Promise.all(runs);
    } finally {
      await limited.close();
    }
  });

  test('the permit is handed back when the publish fails', async () => {
    const failing: Publisher = {
      name: 'failing',
      publish: async () => {
        throw new Error('refused');
      },
      close: async () => {},
    };
    const name = uniqueName('fail');
    const limited = withGlobalLimits(failing, { redis: REDIS_URL, name, concurrency: 1 });
    const signal = AbortSignal.timeout(3000);
    try {
      await assert.rejects(limited.publish(event('a'), { signal }), /refused/);
      await assert.rejects(limited.publish(event('a'), { signal }), /refused/);
      assert.equal(await limited.limits.get(name)?.concurrency?.globalActive(), 0);
    } finally {
      await limited.close();
    }
  });

  test('a holder whose lease could not be extended is told its permit is lost', async () => {
    const name = uniqueName('lost');
    const shared = new GlobalConcurrencyLimit({ redis: REDIS_URL, name, limit: 1, leaseMs: 300 });
    const lost: unknown[] = [];
    shared.on('permit:lost', (payload) => lost.push(payload));
    try {
      const permit = await shared.acquire();
      await redis.del(`semaphore:outbox:${name}`);
      await sleep(400);

      assert.equal(lost.length, 1);
      await permit.release();
    } finally {
      await shared.close();
    }
  });

  test('needs a concurrency or a rate', () => {
    const probe: Publisher = { name: 'p', publish: async () => {}, close: async () => {} };

    assert.throws(() => withGlobalLimits(probe, { redis: REDIS_URL }), /needs `concurrency`/);
    assert.throws(
      () => withGlobalLimits(probe, { redis: REDIS_URL, concurrency: 1.5 }),
      /concurrency must be a positive integer, got 1.5/,
    );
  });
});
