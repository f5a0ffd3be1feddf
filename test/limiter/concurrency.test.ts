import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConcurrencyLimiter } from '../../src/limiter/index.js';
import { Gauge, random, turns } from './helpers.js';

const SEEDS = Array.from({ length: 40 }, (_, i) => i + 1);

describe('exact concurrency', () => {
  it('never exceeds the limit and reaches it under random durations and failures', async () => {
    for (const seed of SEEDS) {
      const next = random(seed);
      const limit = 1 + Math.floor(next() * 8);
      const limiter = new ConcurrencyLimiter(limit);
      const gauge = new Gauge();
      const tasks = Array.from({ length: 60 }, (_, i) =>
        limiter.run(async () => {
          gauge.enter();
          assert.ok(limiter.active <= limit, `seed ${seed}: active ${limiter.active} > ${limit}`);
          await turns(Math.floor(next() * 4));
          gauge.leave();
          if (next() < 0.3) throw new Error(`task ${i} failed`);

          return i;
        }),
      );
      const results = await Promise.allSettled(tasks);
      assert.equal(gauge.highest, limit, `seed ${seed}: highest ${gauge.highest}, limit ${limit}`);
      results.forEach((result, i) => {
        if (result.status === 'fulfilled') assert.equal(result.value, i);
        else assert.match(String(result.reason), new RegExp(`task ${i} failed`));
      });
      assert.equal(limiter.active, 0);
      assert.equal(limiter.queued, 0);
      const stats = limiter.getMemoryStats();
      assert.equal(stats.totalProcessed, 60);
      assert.equal(stats.totalFailed, results.filter((r) => r.status === 'rejected').length);
    }
  });

  it('keeps runAll and run() together within one limit, over many seeds', async () => {
    for (const seed of SEEDS) {
      const next = random(seed * 7);
      const limit = 1 + Math.floor(next() * 6);
      const limiter = new ConcurrencyLimiter(limit);
      const gauge = new Gauge();
      const work = async (value: number): Promise<number> => {
        gauge.enter();
        await turns(Math.floor(next() * 3));
        gauge.leave();
        if (next() < 0.2) throw new Error('no');

        return value * 2;
      };
      const items = Array.from({ length: 50 }, (_, i) => i);
      const [settled, single] = await Promise.all([
        limiter.runAllSettled(items, work),
        Promise.allSettled(items.slice(0, 10).map((i) => limiter.run(() => work(i)))),
      ]);
      assert.ok(gauge.highest <= limit, `seed ${seed}: ${gauge.highest} > ${limit}`);
      assert.equal(gauge.highest, limit);
      assert.equal(settled.length, 50);
      settled.forEach((result, i) => {
        if (result.status === 'fulfilled') assert.equal(result.value, i * 2);
      });
      assert.equal(single.length, 10);
      assert.equal(limiter.active, 0);
    }
  });

  it('accepts a number or an options object', () => {
    assert.equal(new ConcurrencyLimiter(3).limit, 3);
    assert.equal(new ConcurrencyLimiter({ concurrency: 5 }).limit, 5);
    assert.equal(new ConcurrencyLimiter(4).available, 4);
  });

  it('runs a synchronous function and passes its value through', async () => {
    const limiter = new ConcurrencyLimiter(1);
    assert.equal(await limiter.run(() => 42), 42);
  });

  it('survives many queued tasks that throw synchronously without deep stacks', async () => {
    const limiter = new ConcurrencyLimiter(1);
    const tasks = Array.from({ length: 20_000 }, () =>
      limiter.run(() => {
        throw new Error('sync');
      }),
    );
    const results = await Promise.allSettled(tasks);
    assert.ok(results.every((result) => result.status === 'rejected'));
    assert.equal(limiter.getMemoryStats().totalFailed, 20_000);
  });
});

describe('runAll and runAllSettled', () => {
  it('settles batch items that throw synchronously while run() tasks compete', async () => {
    const limiter = new ConcurrencyLimiter(2);
    const blockers = Array.from({ length: 50 }, () => limiter.run(async () => turns(1)));
    const results = await limiter.runAllSettled(
      Array.from({ length: 20_000 }, (_, i) => i),
      () => {
        throw new Error('sync');
      },
    );
    await Promise.all(blockers);
    assert.equal(results.length, 20_000);
    assert.ok(results.every((result) => result.status === 'rejected'));
    assert.equal(limiter.active, 0);
  });

  it('keeps input order for arrays, iterables and async iterables', async () => {
    const limiter = new ConcurrencyLimiter(3);
    const next = random(5);
    const work = async (value: number): Promise<number> => {
      await turns(Math.floor(next() * 3));

      return value * 10;
    };
    function* generate(): Generator<number> {
      for (let i = 0; i < 20; i += 1) yield i;
    }
    async function* generateAsync(): AsyncGenerator<number> {
      for (let i = 0; i < 20; i += 1) {
        await turns(1);
        yield i;
      }
    }
    const expected = Array.from({ length: 20 }, (_, i) => i * 10);
    assert.deepEqual(await limiter.runAll([...generate()], work), expected);
    assert.deepEqual(await limiter.runAll(generate(), work), expected);
    assert.deepEqual(await limiter.runAll(generateAsync(), work), expected);
    assert.deepEqual(await limiter.runAll(new Set([3, 1, 2]), work), [30, 10, 20]);
    assert.deepEqual(await limiter.runAll([], work), []);
  });

  it('pulls items lazily, never more than the limit ahead of the finished ones', async () => {
    const limiter = new ConcurrencyLimiter(4);
    let pulled = 0;
    let finished = 0;
    function* source(): Generator<number> {
      for (let i = 0; i < 100; i += 1) {
        pulled += 1;
        assert.ok(pulled - finished <= 4, `pulled ${pulled}, finished ${finished}`);
        yield i;
      }
    }
    await limiter.runAll(source(), async () => {
      await turns(1);
      finished += 1;
    });
    assert.equal(finished, 100);
  });

  it('rejects on the first failure, starts nothing more and closes the iterator', async () => {
    const limiter = new ConcurrencyLimiter(2);
    let started = 0;
    let closed = false;
    function* source(): Generator<number> {
      try {
        for (let i = 0; i < 1000; i += 1) yield i;
      } finally {
        closed = true;
      }
    }
    await assert.rejects(
      limiter.runAll(source(), async (i) => {
        started += 1;
        await turns(1);
        if (i === 5) throw new Error('five');
      }),
      /five/,
    );
    const startedAtFailure = started;
    await limiter.onIdle();
    await turns(3);
    assert.equal(started, startedAtFailure);
    assert.ok(started <= 7, `started ${started}`);
    assert.equal(closed, true);
  });

  it('settles every item with runAllSettled, in order', async () => {
    const limiter = new ConcurrencyLimiter(3);
    const results = await limiter.runAllSettled([1, 2, 3, 4], async (i) => {
      if (i % 2 === 0) throw new Error(`even ${i}`);

      return i;
    });
    assert.deepEqual(
      results.map((r) => (r.status === 'fulfilled' ? r.value : (r.reason as Error).message)),
      [1, 'even 2', 3, 'even 4'],
    );
  });

  it('rejects when the async iterable throws', async () => {
    const limiter = new ConcurrencyLimiter(2);
    async function* broken(): AsyncGenerator<number> {
      yield 1;
      throw new Error('source broke');
    }
    await assert.rejects(
      limiter.runAll(broken(), async (i) => i),
      /source broke/,
    );
  });

  it('grows its workers when the limit is raised during a batch', async () => {
    const limiter = new ConcurrencyLimiter(1);
    const gauge = new Gauge();
    const run = limiter.runAll(
      Array.from({ length: 40 }, (_, i) => i),
      async () => {
        gauge.enter();
        await turns(2);
        gauge.leave();
      },
    );
    await turns(3);
    limiter.setLimit(4);
    await run;
    assert.equal(gauge.highest, 4);
  });

  it('stops pulling when its signal aborts', async () => {
    const limiter = new ConcurrencyLimiter(2);
    const controller = new AbortController();
    let started = 0;
    const run = limiter.runAll(
      Array.from({ length: 100 }, (_, i) => i),
      async (_i, ctx) => {
        started += 1;
        if (started === 3) controller.abort(new Error('enough'));
        await turns(1);

        return ctx.signal.aborted;
      },
      { signal: controller.signal },
    );
    await assert.rejects(run, { name: 'AbortedError' });
    await limiter.onIdle();
    assert.ok(started <= 4, `started ${started}`);
  });
});

describe('options', () => {
  it('throws a TypeError or RangeError naming the option, the value and the expectation', () => {
    assert.throws(() => new ConcurrencyLimiter(0), {
      name: 'RangeError',
      message: 'concurrency must be an integer >= 1, got 0',
    });
    assert.throws(() => new ConcurrencyLimiter({ concurrency: 1.5 }), /concurrency.*1\.5/);
    assert.throws(() => new ConcurrencyLimiter({ concurrency: '3' as unknown as number }), {
      name: 'TypeError',
      message: 'concurrency must be an integer >= 1, got "3"',
    });
    assert.throws(() => new ConcurrencyLimiter({ concurrency: 1, overflow: 'drop' as 'reject' }), {
      name: 'RangeError',
      message: /overflow must be one of 'wait', 'reject', 'drop-oldest', got "drop"/,
    });
    assert.throws(() => new ConcurrencyLimiter({ concurrency: 1, maxQueued: -1 }), /maxQueued/);
    assert.throws(
      () => new ConcurrencyLimiter({ concurrency: 1, perKey: { concurrency: 0 } }),
      /perKey\.concurrency must be an integer >= 1, got 0/,
    );
    assert.throws(
      () => new ConcurrencyLimiter({ concurrency: 1, breaker: { failureThreshold: 2 } }),
      /breaker\.failureThreshold must be a number from 0 to 1, got 2/,
    );
    assert.throws(
      () => new ConcurrencyLimiter({ concurrency: 4, adaptive: { min: 0 } }),
      /adaptive\.min/,
    );
    assert.throws(() => new ConcurrencyLimiter(2).run(null as never), /fn must be a function/);
    assert.throws(() => new ConcurrencyLimiter(2).setLimit(0), /limit must be an integer >= 1/);
  });
});
