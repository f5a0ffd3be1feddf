import assert from 'node:assert/strict';
import { getEventListeners } from 'node:events';
import { describe, it } from 'node:test';
import {
  ConcurrencyLimiter,
  ManualClock,
  isAbortedError,
  isQueueFullError,
  isTaskTimeoutError,
} from '../../src/limiter/index.js';
import type { TaskTimeoutEvent } from '../../src/limiter/index.js';
import { deferred, flush } from './helpers.js';

/** Occupies every slot of `limiter` until the returned function is called. */
function occupy(limiter: ConcurrencyLimiter, count: number): () => Promise<void> {
  const gate = deferred();
  const running = Array.from({ length: count }, () => limiter.run(() => gate.promise));

  return async () => {
    gate.resolve();
    await Promise.all(running);
  };
}

describe('bounded queue', () => {
  it('rejects with a QueueFullError when full under overflow reject', async () => {
    const limiter = new ConcurrencyLimiter({ concurrency: 1, maxQueued: 2, overflow: 'reject' });
    const release = occupy(limiter, 1);
    const waiting = [limiter.run(() => 'a'), limiter.run(() => 'b')];
    const error = await limiter.run(() => 'c').catch((e: unknown) => e);
    assert.ok(isQueueFullError(error));
    assert.equal(error.reason, 'full');
    assert.match(error.message, /queue is full \(2 waiting\)/);
    await release();
    assert.deepEqual(await Promise.all(waiting), ['a', 'b']);
    assert.equal(limiter.getMemoryStats().totalRejected, 1);
  });

  it('drops the oldest waiting task under overflow drop-oldest', async () => {
    const limiter = new ConcurrencyLimiter({
      concurrency: 1,
      maxQueued: 2,
      overflow: 'drop-oldest',
    });
    const release = occupy(limiter, 1);
    const oldest = limiter.run(() => 'a').catch((e: unknown) => e);
    const kept = [limiter.run(() => 'b'), limiter.run(() => 'c')];
    const error = await oldest;
    assert.ok(isQueueFullError(error));
    assert.equal(error.reason, 'dropped');
    assert.equal(limiter.queued, 2);
    await release();
    assert.deepEqual(await Promise.all(kept), ['b', 'c']);
  });

  it('parks tasks beyond the bound under overflow wait and runs them in order later', async () => {
    const limiter = new ConcurrencyLimiter({ concurrency: 1, maxQueued: 1 });
    const release = occupy(limiter, 1);
    const order: string[] = [];
    const tasks = ['a', 'b', 'c'].map((name) => limiter.run(() => order.push(name)));
    assert.equal(limiter.queued, 1);
    assert.equal(limiter.getMemoryStats().waitingForRoom, 2);
    assert.equal(limiter.available, 0);
    await release();
    await Promise.all(tasks);
    assert.deepEqual(order, ['a', 'b', 'c']);
  });

  it('resolves onRoom when a slot frees and onIdle when everything is done', async () => {
    const limiter = new ConcurrencyLimiter(2);
    const release = occupy(limiter, 2);
    let room = false;
    let idle = false;
    void limiter.onRoom().then(() => (room = true));
    void limiter.onIdle().then(() => (idle = true));
    await flush();
    assert.equal(room, false);
    assert.equal(idle, false);
    await release();
    await flush();
    assert.equal(room, true);
    assert.equal(idle, true);
    assert.equal(limiter.available, 2);
  });
});

describe('the waiting order', () => {
  it('serves calls in order as the queue grows, skips aborted ones, and again after', async () => {
    const limiter = new ConcurrencyLimiter(1);
    for (let burst = 0; burst < 2; burst += 1) {
      const release = occupy(limiter, 1);
      const order: number[] = [];
      const controllers = new Map<number, AbortController>();
      const tasks = Array.from({ length: 100 }, (_, i) => {
        // Every fifth task has a signal (it waits as a node); the others are bare calls.
        if (i % 5 !== 0) return limiter.run(() => order.push(i));

        const controller = new AbortController();
        controllers.set(i, controller);

        return limiter.run(() => order.push(i), { signal: controller.signal });
      });
      assert.equal(limiter.queued, 100);
      for (const i of [20, 45, 0, 95]) controllers.get(i)?.abort(new Error(`no ${i}`));
      assert.equal(limiter.queued, 96);
      await release();
      const settled = await Promise.allSettled(tasks);
      const expected = Array.from({ length: 100 }, (_, i) => i).filter(
        (i) => ![0, 20, 45, 95].includes(i),
      );
      assert.deepEqual(order, expected);
      for (const i of [0, 20, 45, 95]) {
        const outcome = settled[i];
        assert.ok(outcome?.status === 'rejected' && isAbortedError(outcome.reason));
      }
      assert.equal(limiter.queued, 0);
      assert.equal(limiter.active, 0);
    }
    assert.equal(limiter.getMemoryStats().totalAborted, 8);
  });

  it('gives a waiting call the limiter timeout and the ctx.signal it aborts', async () => {
    const clock = new ManualClock();
    const limiter = new ConcurrencyLimiter({ concurrency: 1, timeout: 100, clock });
    const release = occupy(limiter, 1);
    let signal: AbortSignal | undefined;
    const finish = deferred();
    const waiting = limiter.run(async (ctx) => {
      signal = ctx.signal;
      await finish.promise;
    });
    await release().catch(() => undefined);
    await flush();
    assert.equal(signal?.aborted, false);
    clock.advance(100);
    assert.ok(isTaskTimeoutError(await waiting.catch((e: unknown) => e)));
    assert.equal(signal?.aborted, true);
    finish.resolve();
    await limiter.onIdle();
  });
});

describe('abort signals', () => {
  it('removes an aborted waiting task at once and drops its listener', async () => {
    const limiter = new ConcurrencyLimiter(1);
    const release = occupy(limiter, 1);
    const controller = new AbortController();
    let ran = false;
    const task = limiter.run(() => (ran = true), { signal: controller.signal });
    assert.equal(limiter.queued, 1);
    assert.equal(getEventListeners(controller.signal, 'abort').length, 1);
    controller.abort(new Error('changed my mind'));
    const error = await task.catch((e: unknown) => e);
    assert.ok(isAbortedError(error));
    assert.match(String((error.cause as Error).message), /changed my mind/);
    assert.equal(limiter.queued, 0);
    assert.equal(getEventListeners(controller.signal, 'abort').length, 0);
    await release();
    assert.equal(ran, false);
    assert.equal(limiter.getMemoryStats().totalAborted, 1);
  });

  it('tells a running task via ctx.signal, rejects at once, holds the slot', async () => {
    const limiter = new ConcurrencyLimiter(1);
    const controller = new AbortController();
    const finish = deferred();
    let seen: AbortSignal | undefined;
    const task = limiter.run(
      async ({ signal }) => {
        seen = signal;
        await finish.promise;

        return 'late';
      },
      { signal: controller.signal },
    );
    await flush();
    controller.abort();
    await assert.rejects(task, { name: 'AbortedError' });
    assert.equal(seen?.aborted, true);
    assert.equal(limiter.active, 1);
    finish.resolve();
    await limiter.onIdle();
    assert.equal(limiter.active, 0);
  });

  it('rejects at once for an already aborted signal', async () => {
    const limiter = new ConcurrencyLimiter(1);
    await assert.rejects(
      limiter.run(() => 1, { signal: AbortSignal.abort() }),
      {
        name: 'AbortedError',
      },
    );
    assert.equal(limiter.active, 0);
  });

  it('leaves no listener on a long-lived shared signal after many tasks', async () => {
    const limiter = new ConcurrencyLimiter(4);
    const controller = new AbortController();
    await Promise.all(
      Array.from({ length: 1000 }, (_, i) =>
        limiter.run(async () => i, { signal: controller.signal }),
      ),
    );
    assert.equal(getEventListeners(controller.signal, 'abort').length, 0);
  });

  it('puts one listener on a signal 50 waiting tasks share, and aborts exactly those', async () => {
    const warnings: Error[] = [];
    const onWarning = (warning: Error): void => void warnings.push(warning);
    process.on('warning', onWarning);
    try {
      const limiter = new ConcurrencyLimiter(2);
      const release = occupy(limiter, 2);
      const shared = new AbortController();
      const other = new AbortController();
      const started: string[] = [];
      const calls: Array<Promise<string>> = [];
      for (let i = 0; i < 60; i += 1) {
        // Every sixth call comes with another signal, or none: those must still run.
        const name = `t${i}`;
        const signal = i % 6 === 0 ? (i % 12 === 0 ? other.signal : undefined) : shared.signal;
        calls.push(limiter.run(() => (started.push(name), name), { signal }));
      }
      assert.equal(limiter.queued, 60);
      assert.equal(getEventListeners(shared.signal, 'abort').length, 1);
      assert.equal(getEventListeners(other.signal, 'abort').length, 1);

      shared.abort(new Error('all of them'));
      // Only the others wait now.
      assert.equal(limiter.queued, 10);
      await release();
      const outcomes = await Promise.allSettled(calls);
      await limiter.onIdle();

      const kept = Array.from({ length: 60 }, (_, i) => i).filter((i) => i % 6 === 0);
      assert.deepEqual(
        started,
        kept.map((i) => `t${i}`),
      );
      outcomes.forEach((outcome, i) => {
        if (i % 6 === 0) assert.deepEqual(outcome, { status: 'fulfilled', value: `t${i}` });
        else assert.ok(outcome.status === 'rejected' && isAbortedError(outcome.reason));
      });
      assert.equal(limiter.getMemoryStats().totalAborted, 50);
      assert.equal(getEventListeners(shared.signal, 'abort').length, 0);
      assert.equal(getEventListeners(other.signal, 'abort').length, 0);
      // Warnings are emitted on a later tick.
      await new Promise((resolve) => setImmediate(resolve));
      assert.deepEqual(
        warnings.map((warning) => warning.name),
        [],
      );
    } finally {
      process.off('warning', onWarning);
    }
  });

  it('keeps the shared listener until the last task of the signal has settled', async () => {
    const limiter = new ConcurrencyLimiter(1);
    const controller = new AbortController();
    const gate = deferred();
    const first = limiter.run(() => gate.promise, { signal: controller.signal });
    const second = limiter.run(() => 'second', { signal: controller.signal });
    assert.equal(getEventListeners(controller.signal, 'abort').length, 1);
    gate.resolve();
    await first;
    // The first has settled; the second still holds the listener until it has run.
    assert.equal(await second, 'second');
    assert.equal(getEventListeners(controller.signal, 'abort').length, 0);
    // A new task on the same signal gets a listener again, and an abort reaches it.
    const hold = deferred();
    const third = limiter.run(() => hold.promise, { signal: controller.signal });
    const fourth = limiter.run(() => 'never', { signal: controller.signal });
    assert.equal(getEventListeners(controller.signal, 'abort').length, 1);
    controller.abort();
    await assert.rejects(third, { name: 'AbortedError' });
    await assert.rejects(fourth, { name: 'AbortedError' });
    hold.resolve();
    await limiter.onIdle();
    assert.equal(getEventListeners(controller.signal, 'abort').length, 0);
  });
});

describe('timeouts', () => {
  it('aborts the signal, rejects with TaskTimeoutError and keeps the slot', async () => {
    const clock = new ManualClock();
    const limiter = new ConcurrencyLimiter({ concurrency: 1, timeout: 100, clock });
    const events: TaskTimeoutEvent[] = [];
    limiter.on('task:timeout', (event) => events.push(event));
    const finish = deferred();
    let signal: AbortSignal | undefined;
    const slow = limiter.run(
      async (ctx) => {
        signal = ctx.signal;
        await finish.promise;
      },
      { item: 'row-1' },
    );
    const next = limiter.run(() => 'next');
    await flush();
    clock.advance(99);
    assert.equal(signal?.aborted, false);
    clock.advance(1);
    const error = await slow.catch((e: unknown) => e);
    assert.ok(isTaskTimeoutError(error));
    assert.equal(error.timeoutMs, 100);
    assert.ok(isTaskTimeoutError(signal?.reason));
    assert.deepEqual(events, [{ timeoutMs: 100, timedOut: 1, item: 'row-1' }]);
    // The timed-out task still holds the only slot: the next one has not started.
    assert.equal(limiter.active, 1);
    assert.equal(limiter.queued, 1);
    assert.equal(limiter.getMemoryStats().timedOut, 1);
    finish.resolve();
    assert.equal(await next, 'next');
    const stats = limiter.getMemoryStats();
    assert.equal(stats.timedOut, 0);
    assert.equal(stats.totalTimedOut, 1);
  });

  it('clears the timer of a task that finishes in time', async () => {
    const clock = new ManualClock();
    const limiter = new ConcurrencyLimiter({ concurrency: 2, clock });
    assert.equal(await limiter.run(() => 'quick', { timeout: 50 }), 'quick');
    assert.equal(clock.pendingTimers, 0);
  });

  it('times each task from its own start on one shared timer', async () => {
    const clock = new ManualClock();
    const limiter = new ConcurrencyLimiter({ concurrency: 10, timeout: 100, clock });
    const gates = [deferred(), deferred(), deferred(), deferred()];
    const signals: AbortSignal[] = [];
    const settled: string[] = [];
    const start = (index: number): Promise<void> =>
      limiter
        .run(async (ctx) => {
          signals[index] = ctx.signal;
          await gates[index]?.promise;
        })
        .then(
          () => void settled.push(`${index}:ok`),
          (error: unknown) => void settled.push(`${index}:${(error as Error).name}`),
        );
    const runs = [start(0)];
    clock.advance(30);
    runs.push(start(1));
    clock.advance(30);
    runs.push(start(2), start(3));
    await flush();
    // Four running tasks with a timeout, one timer.
    assert.equal(clock.pendingTimers, 1);
    gates[0]?.resolve();
    await flush();
    assert.deepEqual(settled, ['0:ok']);
    // Task 1 started at 30: nothing happens at 100 (task 0's deadline), it times out at 130.
    clock.advance(69);
    await flush();
    assert.deepEqual(settled, ['0:ok']);
    clock.advance(1);
    await flush();
    assert.deepEqual(settled, ['0:ok', '1:TaskTimeoutError']);
    assert.equal(signals[1]?.aborted, true);
    assert.equal(signals[2]?.aborted, false);
    // A task that ends after its deadline still held its slot until then.
    assert.equal(limiter.active, 3);
    gates[1]?.resolve();
    gates[2]?.resolve();
    await flush();
    assert.deepEqual(settled, ['0:ok', '1:TaskTimeoutError', '2:ok']);
    clock.advance(30);
    await flush();
    assert.deepEqual(settled, ['0:ok', '1:TaskTimeoutError', '2:ok', '3:TaskTimeoutError']);
    gates[3]?.resolve();
    await Promise.all(runs);
    assert.equal(limiter.active, 0);
    assert.equal(limiter.getMemoryStats().totalTimedOut, 2);
    assert.equal(clock.pendingTimers, 0);
  });

  it('keeps a per-run timeout apart from the shared one, and 0 means none', async () => {
    const clock = new ManualClock();
    const limiter = new ConcurrencyLimiter({ concurrency: 10, timeout: 100, clock });
    const gate = deferred();
    const events: TaskTimeoutEvent[] = [];
    limiter.on('task:timeout', (event) => events.push(event));
    const shared = limiter.run(() => gate.promise, { item: 'shared' });
    const short = limiter.run(() => gate.promise, { timeout: 20, item: 'short' });
    const none = limiter.run(() => gate.promise, { timeout: 0, item: 'none' });
    await flush();
    assert.equal(clock.pendingTimers, 2);
    clock.advance(20);
    await assert.rejects(short, { name: 'TaskTimeoutError', timeoutMs: 20 });
    clock.advance(80);
    await assert.rejects(shared, { name: 'TaskTimeoutError', timeoutMs: 100 });
    clock.advance(10_000);
    assert.deepEqual(
      events.map((event) => `${String(event.item)}:${event.timeoutMs}`),
      ['short:20', 'shared:100'],
    );
    gate.resolve();
    await none;
    assert.equal(limiter.active, 0);
    assert.equal(clock.pendingTimers, 0);
  });

  it('aborts tasks on the shared deadline list at the drain deadline', async () => {
    const clock = new ManualClock();
    const limiter = new ConcurrencyLimiter({ concurrency: 2, timeout: 10_000, clock });
    const gate = deferred();
    let signal: AbortSignal | undefined;
    const running = limiter.run((ctx) => {
      signal = ctx.signal;

      return gate.promise;
    });
    await flush();
    const drained = limiter.drain({ timeout: 50 });
    clock.advance(50);
    await assert.rejects(running, { name: 'AbortedError' });
    assert.equal(signal?.aborted, true);
    gate.resolve();
    assert.equal((await drained).aborted, 1);
    await flush();
    assert.equal(limiter.active, 0);
    assert.equal(clock.pendingTimers, 0);
  });
});
