import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  ConcurrencyLimiter,
  ManualClock,
  isAbortedError,
  isShuttingDownError,
} from '../../src/limiter/index.js';
import { deferred, flush } from './helpers.js';

describe('drain', () => {
  it('hands back the unstarted items, waits for running ones and takes no new work', async () => {
    const limiter = new ConcurrencyLimiter(2);
    const gate = deferred();
    const running = [1, 2].map((id) =>
      limiter.run(() => gate.promise.then(() => id), { item: id }),
    );
    const waiting = [3, 4, 5].map((id) => limiter.run(() => id, { item: { id } }));
    const drained = limiter.drain();
    for (const task of waiting) {
      const error = await task.catch((e: unknown) => e);
      assert.ok(isShuttingDownError(error));
    }
    await assert.rejects(
      limiter.run(() => 6),
      { name: 'ShuttingDownError' },
    );
    assert.equal(limiter.closed, true);
    assert.equal(limiter.available, 0);
    gate.resolve();
    assert.deepEqual(await Promise.all(running), [1, 2]);
    assert.deepEqual(await drained, {
      unstarted: [{ id: 3 }, { id: 4 }, { id: 5 }],
      aborted: 0,
      completed: 2,
    });
    assert.equal(limiter.drain(), drained, 'idempotent');
  });

  it('aborts stragglers through their signals at the deadline', async () => {
    const clock = new ManualClock();
    const limiter = new ConcurrencyLimiter({ concurrency: 3, clock });
    const quick = deferred();
    let stragglerSignal: AbortSignal | undefined;
    const hang = deferred();
    const tasks = [
      limiter.run(() => quick.promise),
      limiter.run(async ({ signal }) => {
        stragglerSignal = signal;
        await hang.promise;
      }),
    ];
    await flush();
    const drained = limiter.drain({ timeout: 1_000 });
    quick.resolve();
    await tasks[0];
    clock.advance(999);
    assert.equal(stragglerSignal?.aborted, false);
    clock.advance(1);
    const result = await drained;
    assert.deepEqual(result, { unstarted: [], aborted: 1, completed: 1 });
    assert.equal(stragglerSignal?.aborted, true);
    assert.ok(isShuttingDownError(stragglerSignal?.reason));
    const error = await tasks[1]?.catch((e: unknown) => e);
    assert.ok(isAbortedError(error));
    // It keeps its slot until it really ends.
    assert.equal(limiter.active, 1);
    hang.resolve();
    await limiter.onIdle();
    assert.equal(limiter.active, 0);
  });

  it('wakes onRoom waiters so that a feeding loop sees the shutdown', async () => {
    const limiter = new ConcurrencyLimiter(1);
    const gate = deferred();
    const running = limiter.run(() => gate.promise);
    let woke = false;
    void limiter.onRoom().then(() => (woke = true));
    await flush();
    assert.equal(woke, false);
    const drained = limiter.drain();
    await flush();
    assert.equal(woke, true);
    await assert.rejects(
      limiter.run(() => 1),
      { name: 'ShuttingDownError' },
    );
    gate.resolve();
    await running;
    await drained;
  });

  it('resolves at once when nothing runs', async () => {
    const limiter = new ConcurrencyLimiter(2);
    assert.deepEqual(await limiter.drain({ timeout: 10 }), {
      unstarted: [],
      aborted: 0,
      completed: 0,
    });
  });

  it('stops a runAll: it rejects with ShuttingDownError and pulls nothing more', async () => {
    const limiter = new ConcurrencyLimiter(2);
    let pulled = 0;
    function* items(): Generator<number> {
      for (let i = 0; i < 100; i += 1) {
        pulled += 1;
        yield i;
      }
    }
    const gate = deferred();
    const run = limiter.runAll(items(), () => gate.promise);
    await flush();
    const drained = limiter.drain();
    gate.resolve();
    await assert.rejects(run, { name: 'ShuttingDownError' });
    await drained;
    assert.ok(pulled <= 4, `pulled ${pulled}`);
  });

  it('leaves the process free to exit: no timer is left behind', async () => {
    const clock = new ManualClock();
    const limiter = new ConcurrencyLimiter({ concurrency: 1, clock, breaker: {} });
    await limiter.run(() => 1);
    await limiter.drain({ timeout: 5_000 });
    assert.equal(clock.pendingTimers, 0);
  });
});
