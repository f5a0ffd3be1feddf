import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConcurrencyLimiter, isQueueFullError } from '../../src/limiter/index.js';
import { deferred, flush, Gauge, random, turns } from './helpers.js';

describe('per-key limits', () => {
  it('never runs more than M per key nor N overall, over many seeds', async () => {
    for (let seed = 1; seed <= 30; seed += 1) {
      const next = random(seed);
      const perKey = 1 + Math.floor(next() * 3);
      const limit = perKey + Math.floor(next() * 6);
      const limiter = new ConcurrencyLimiter({
        concurrency: limit,
        perKey: { concurrency: perKey },
      });
      const overall = new Gauge();
      const byKey = new Map<string, Gauge>();
      const tasks = Array.from({ length: 80 }, () => {
        const key = `k${Math.floor(next() * 5)}`;
        const gauge = byKey.get(key) ?? new Gauge();
        byKey.set(key, gauge);

        return limiter.run(
          async () => {
            overall.enter();
            gauge.enter();
            await turns(Math.floor(next() * 3));
            gauge.leave();
            overall.leave();
            if (next() < 0.2) throw new Error('failed');
          },
          { key },
        );
      });
      await Promise.allSettled(tasks);
      assert.ok(overall.highest <= limit, `seed ${seed}: ${overall.highest} > ${limit}`);
      for (const [key, gauge] of byKey) {
        assert.ok(gauge.highest <= perKey, `seed ${seed} ${key}: ${gauge.highest} > ${perKey}`);
      }
      assert.equal(limiter.getMemoryStats().keys, 0, 'idle keys are forgotten');
    }
  });

  it('keeps each key in order as its lane grows, skipping aborted tasks', async () => {
    const limiter = new ConcurrencyLimiter({ concurrency: 2, perKey: { concurrency: 1 } });
    const gate = deferred();
    const blockers = ['a', 'b'].map((key) => limiter.run(() => gate.promise, { key }));
    const order: string[] = [];
    const controller = new AbortController();
    const tasks = Array.from({ length: 40 }, (_, i) => {
      const key = i % 2 === 0 ? 'a' : 'b';
      const name = `${key}${i}`;
      // Task 10 (key a) has a signal and is aborted while it waits; the rest are bare calls.
      if (i === 10) return limiter.run(() => order.push(name), { key, signal: controller.signal });

      return limiter.run(() => order.push(name), { key });
    });
    assert.equal(limiter.queued, 40);
    controller.abort();
    gate.resolve();
    await Promise.all(blockers);
    const settled = await Promise.allSettled(tasks);
    assert.equal(settled.filter((outcome) => outcome.status === 'rejected').length, 1);
    const ofKey = (key: string): string[] => order.filter((name) => name.startsWith(key));
    const expected = (key: string, first: number): string[] =>
      Array.from({ length: 20 }, (_, j) => `${key}${first + 2 * j}`).filter((n) => n !== 'a10');
    assert.deepEqual(ofKey('a'), expected('a', 0));
    assert.deepEqual(ofKey('b'), expected('b', 1));
    // Round robin: the keys take turns.
    assert.deepEqual(order.slice(0, 4), ['a0', 'b1', 'a2', 'b3']);
    assert.equal(limiter.getMemoryStats().keys, 0);
  });

  it('keeps the per-key and global caps in runAll batches, over many seeds', async () => {
    for (let seed = 1; seed <= 30; seed += 1) {
      const next = random(seed * 13);
      const perKey = 1 + Math.floor(next() * 3);
      const limit = perKey + Math.floor(next() * 6);
      const limiter = new ConcurrencyLimiter({
        concurrency: limit,
        perKey: { concurrency: perKey },
      });
      const overall = new Gauge();
      const byKey = new Map<string, Gauge>();
      const keyOf = (i: number): string => `k${(i * 7 + seed) % 4}`;
      const items = Array.from({ length: 120 }, (_, i) => i);
      const results = await limiter.runAllSettled(
        items,
        async (i) => {
          const gauge = byKey.get(keyOf(i)) ?? new Gauge();
          byKey.set(keyOf(i), gauge);
          overall.enter();
          gauge.enter();
          await turns(Math.floor(next() * 3));
          gauge.leave();
          overall.leave();
          if (next() < 0.2) throw new Error('failed');

          return i;
        },
        { key: keyOf },
      );
      assert.equal(results.length, 120);
      results.forEach((result, i) => {
        if (result.status === 'fulfilled') assert.equal(result.value, i);
      });
      assert.ok(overall.highest <= limit, `seed ${seed}: ${overall.highest} > ${limit}`);
      for (const [key, gauge] of byKey) {
        assert.ok(gauge.highest <= perKey, `seed ${seed} ${key}: ${gauge.highest} > ${perKey}`);
      }
      assert.equal(limiter.active, 0);
      assert.equal(limiter.getMemoryStats().keys, 0);
      assert.equal(limiter.getMemoryStats().totalProcessed, 120);
    }
  });

  it('serves keys round robin so one hot key cannot starve the others', async () => {
    const limiter = new ConcurrencyLimiter({ concurrency: 1, perKey: { concurrency: 1 } });
    const gate = deferred();
    const order: string[] = [];
    const first = limiter.run(() => gate.promise, { key: 'hot' });
    const tasks: Promise<unknown>[] = [];
    for (let i = 0; i < 6; i += 1) tasks.push(limiter.run(() => order.push('hot'), { key: 'hot' }));
    tasks.push(limiter.run(() => order.push('a'), { key: 'a' }));
    tasks.push(limiter.run(() => order.push('b'), { key: 'b' }));
    tasks.push(limiter.run(() => order.push('a'), { key: 'a' }));
    gate.resolve();
    await Promise.all([first, ...tasks]);
    // The hot key just ran, so it rejoins the round last: a, b, then hot, and so on.
    assert.deepEqual(order, ['a', 'b', 'hot', 'a', 'hot', 'hot', 'hot', 'hot', 'hot']);
  });

  it('lets another key start at once while one key is at its cap', async () => {
    const limiter = new ConcurrencyLimiter({ concurrency: 4, perKey: { concurrency: 1 } });
    const gate = deferred();
    const blocked = [
      limiter.run(() => gate.promise, { key: 'x' }),
      limiter.run(() => 1, { key: 'x' }),
    ];
    let started = false;
    const other = limiter.run(() => (started = true), { key: 'y' });
    assert.equal(started, true);
    assert.equal(limiter.queued, 1);
    gate.resolve();
    await Promise.all([...blocked, other]);
  });

  it('refuses a task of a new key beyond maxKeys with a QueueFullError', async () => {
    const limiter = new ConcurrencyLimiter({
      concurrency: 4,
      perKey: { concurrency: 1, maxKeys: 2 },
    });
    const gate = deferred();
    const running = [
      limiter.run(() => gate.promise, { key: 'a' }),
      limiter.run(() => gate.promise, { key: 'b' }),
    ];
    const error = await limiter.run(() => 1, { key: 'c' }).catch((e: unknown) => e);
    assert.ok(isQueueFullError(error));
    assert.equal(error.reason, 'keys');
    const known = limiter.run(() => 'known key', { key: 'a' });
    assert.equal(limiter.queued, 1);
    gate.resolve();
    await Promise.all(running);
    assert.equal(await known, 'known key');
    await flush();
    assert.equal(limiter.getMemoryStats().keys, 0);
    assert.equal(await limiter.run(() => 'now fine', { key: 'c' }), 'now fine');
  });

  it('applies keys to runAll items', async () => {
    const limiter = new ConcurrencyLimiter({ concurrency: 6, perKey: { concurrency: 2 } });
    const byKey = new Map<string, Gauge>();
    const items = Array.from({ length: 60 }, (_, i) => i);
    const results = await limiter.runAll(
      items,
      async (i) => {
        const gauge = byKey.get(`k${i % 3}`) ?? new Gauge();
        byKey.set(`k${i % 3}`, gauge);
        gauge.enter();
        await turns(1);
        gauge.leave();

        return i;
      },
      { key: (i) => `k${i % 3}` },
    );
    assert.deepEqual(results, items);
    for (const gauge of byKey.values()) assert.equal(gauge.highest, 2);
  });
});
