import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  CircuitBreaker,
  ConcurrencyLimiter,
  ManualClock,
  isCircuitOpenError,
} from '../../src/limiter/index.js';
import type { BreakerState } from '../../src/limiter/index.js';
import { deferred, flush } from './helpers.js';

function breakerWithLog(options: ConstructorParameters<typeof CircuitBreaker>[0] = {}): {
  breaker: CircuitBreaker;
  clock: ManualClock;
  log: string[];
} {
  const clock = new ManualClock(1_000_000);
  const breaker = new CircuitBreaker({ clock, ...options });
  const log: string[] = [];
  breaker.on('circuit-breaker:opened', (e) => log.push(`opened:${e.reason}:${e.openForMs}`));
  breaker.on('circuit-breaker:half-open', (e) => log.push(`half-open:${e.probes}`));
  breaker.on('circuit-breaker:closed', (e) => log.push(`closed:${e.reason}`));

  return { breaker, clock, log };
}

function record(breaker: CircuitBreaker, successes: number, failures: number): void {
  for (let i = 0; i < successes; i += 1) breaker.release(breaker.acquire(), 'success');
  for (let i = 0; i < failures; i += 1) breaker.release(breaker.acquire(), 'failure');
}

describe('CircuitBreaker', () => {
  it('does not open on one failure in an empty window', () => {
    const { breaker } = breakerWithLog();
    record(breaker, 0, 1);
    assert.equal(breaker.state, 'closed');
  });

  it('opens only above the threshold once the minimum volume is reached', () => {
    const { breaker, log } = breakerWithLog({ minimumCalls: 10, failureThreshold: 0.5 });
    record(breaker, 5, 4);
    assert.equal(breaker.state, 'closed', '9 calls: below the minimum');
    record(breaker, 0, 1);
    assert.equal(breaker.state, 'closed', '5 of 10 is not above 0.5');
    record(breaker, 0, 1);
    assert.equal(breaker.state, 'open', '6 of 11 is above 0.5');
    assert.equal(breaker.isBroken, true);
    assert.deepEqual(log, ['opened:failure-rate:5000']);
  });

  it('forgets failures once they leave the rolling window', () => {
    const { breaker, clock } = breakerWithLog({ minimumCalls: 4, windowMs: 10_000, buckets: 10 });
    record(breaker, 0, 3);
    clock.advance(10_000);
    record(breaker, 3, 1);
    assert.equal(breaker.state, 'closed');
    assert.equal(breaker.stats().calls, 4);
    assert.equal(breaker.stats().failures, 1);
    // Partly expired: the failures of the bucket 9 s ago survive, older ones go.
    clock.advance(9_000);
    record(breaker, 0, 1);
    assert.equal(breaker.stats().calls, 5);
    clock.advance(1_000);
    assert.equal(breaker.stats().calls, 1);
  });

  it('opens after consecutive failures at low volume when asked to', () => {
    const { breaker, log } = breakerWithLog({ consecutiveFailures: 3 });
    record(breaker, 0, 2);
    record(breaker, 1, 2);
    assert.equal(breaker.state, 'closed');
    record(breaker, 0, 1);
    assert.equal(breaker.state, 'open');
    assert.deepEqual(log, ['opened:consecutive-failures:5000']);
  });

  it('turns half-open on its own timer, lets a bounded number of probes through and closes', () => {
    const { breaker, clock, log } = breakerWithLog({
      consecutiveFailures: 1,
      openMs: 1_000,
      halfOpenProbes: 2,
    });
    record(breaker, 0, 1);
    assert.equal(breaker.acquire(), 0);
    assert.equal(breaker.retryAfterMs, 1_000);
    clock.advance(999);
    assert.equal(breaker.state, 'open');
    clock.advance(1);
    assert.equal(breaker.state, 'half-open', 'no call was needed to move on');
    const first = breaker.acquire();
    const second = breaker.acquire();
    assert.equal(first, 2);
    assert.equal(second, 2);
    assert.equal(breaker.acquire(), 0, 'the probe budget is spent');
    breaker.release(first, 'success');
    assert.equal(breaker.state, 'half-open');
    breaker.release(second, 'success');
    assert.equal(breaker.state, 'closed');
    assert.deepEqual(log, [
      'opened:consecutive-failures:1000',
      'half-open:2',
      'closed:probes-succeeded',
    ]);
  });

  it('reopens for twice as long after a failed probe, up to the cap; resets on close', () => {
    const { breaker, clock, log } = breakerWithLog({
      consecutiveFailures: 1,
      openMs: 1_000,
      maxOpenMs: 3_000,
    });
    record(breaker, 0, 1);
    for (const wait of [1_000, 2_000, 3_000]) {
      clock.advance(wait);
      assert.equal(breaker.state, 'half-open');
      breaker.release(breaker.acquire(), 'failure');
    }
    clock.advance(3_000);
    breaker.release(breaker.acquire(), 'success');
    record(breaker, 0, 1);
    assert.deepEqual(log, [
      'opened:consecutive-failures:1000',
      'half-open:1',
      'opened:probe-failed:2000',
      'half-open:1',
      'opened:probe-failed:3000',
      'half-open:1',
      'opened:probe-failed:3000',
      'half-open:1',
      'closed:probes-succeeded',
      'opened:consecutive-failures:1000',
    ]);
  });

  it('reopens when probes hang past the half-open deadline, ignoring their late outcome', () => {
    const { breaker, clock, log } = breakerWithLog({
      consecutiveFailures: 1,
      openMs: 1_000,
      halfOpenTimeoutMs: 5_000,
    });
    record(breaker, 0, 1);
    clock.advance(1_000);
    const hung = breaker.acquire();
    clock.advance(5_000);
    assert.equal(breaker.state, 'open');
    clock.advance(2_000);
    assert.equal(breaker.state, 'half-open');
    breaker.release(hung, 'success');
    assert.equal(breaker.state, 'half-open', 'a probe of the earlier period does not count');
    assert.deepEqual(log.slice(1), ['half-open:1', 'opened:probe-timeout:2000', 'half-open:1']);
  });

  it('executes functions alone and refuses with a CircuitOpenError while open', async () => {
    const { breaker } = breakerWithLog({ consecutiveFailures: 2 });
    assert.equal(await breaker.execute(() => 'ok'), 'ok');
    await assert.rejects(
      breaker.execute(() => Promise.reject(new Error('x'))),
      /x/,
    );
    await assert.rejects(
      breaker.execute(() => Promise.reject(new Error('y'))),
      /y/,
    );
    const error = await breaker.execute(() => 'never').catch((e: unknown) => e);
    assert.ok(isCircuitOpenError(error));
    assert.equal(error.retryAfterMs, 5_000);
  });

  it('with the real clock, batches successes until a failure or the next turn', async () => {
    const breaker = new CircuitBreaker({ minimumCalls: 4, failureThreshold: 0.5 });
    for (let i = 0; i < 3; i += 1) breaker.release(breaker.acquire(), 'success');
    breaker.recordSuccesses(2);
    breaker.release(breaker.acquire(), 'failure');
    assert.equal(breaker.stats().calls, 6, 'the pending successes came first');
    assert.equal(breaker.state, 'closed');
    breaker.release(breaker.acquire(), 'success');
    await flush();
    assert.equal(breaker.stats().calls, 7);
    for (let i = 0; i < 7; i += 1) breaker.release(breaker.acquire(), 'failure');
    assert.equal(breaker.state, 'open', '8 failures of 14 calls');
    breaker.close();
  });

  it('does not count ignored outcomes', () => {
    const { breaker } = breakerWithLog({ consecutiveFailures: 2 });
    record(breaker, 0, 1);
    breaker.release(breaker.acquire(), 'ignore');
    record(breaker, 0, 1);
    assert.equal(breaker.state, 'open');
    assert.equal(breaker.stats().calls, 2);
  });
});

describe('the breaker inside the limiter', () => {
  it('counts every runAll item, and stops the batch from starting items while open', async () => {
    const clock = new ManualClock();
    const limiter = new ConcurrencyLimiter({
      concurrency: 4,
      clock,
      whileOpen: 'reject',
      breaker: { minimumCalls: 50, failureThreshold: 0.5 },
    });
    const breaker = limiter.breaker as CircuitBreaker;
    await limiter.runAll(
      Array.from({ length: 40 }, (_, i) => i),
      async (i) => i,
    );
    assert.equal(breaker.stats().calls, 40);
    let started = 0;
    const results = await limiter.runAllSettled(
      Array.from({ length: 200 }, (_, i) => i),
      async (i) => {
        started += 1;
        if (i >= 20) throw new Error('down');
      },
    );
    assert.equal(breaker.state, 'open');
    // 40 + 20 successes, then failures until the rate passes 0.5: 61 failures, 121 calls;
    // at most 3 more items were already running when it opened.
    assert.ok(started >= 81 && started <= 84, `started ${started}`);
    const refused = results.filter(
      (r) => r.status === 'rejected' && isCircuitOpenError(r.reason),
    ).length;
    assert.equal(refused, 200 - started);
  });

  it('counts every item of a runAll batch with per-key limits', async () => {
    const clock = new ManualClock();
    const limiter = new ConcurrencyLimiter({
      concurrency: 8,
      clock,
      perKey: { concurrency: 2 },
      breaker: { minimumCalls: 10_000 },
    });
    const breaker = limiter.breaker as CircuitBreaker;
    const results = await limiter.runAllSettled(
      Array.from({ length: 3_000 }, (_, i) => i),
      async (i) => {
        if (i % 100 === 7) throw new Error('failed');

        return i;
      },
      { key: (i) => `k${i % 5}` },
    );
    assert.equal(results.length, 3_000);
    assert.equal(breaker.stats().calls, 3_000);
    assert.equal(breaker.stats().failures, 30);
    const stats = limiter.getMemoryStats();
    assert.equal(stats.totalProcessed, 3_000);
    assert.equal(stats.totalFailed, 30);
  });

  it('starts no task while open, exactly the probes while half-open, all once closed', async () => {
    const clock = new ManualClock();
    const limiter = new ConcurrencyLimiter({
      concurrency: 4,
      clock,
      breaker: { consecutiveFailures: 2, openMs: 1_000, halfOpenProbes: 1 },
    });
    const states: BreakerState[] = [];
    const onEvent = (): number => states.push(limiter.breaker?.state as BreakerState);
    limiter.on('circuit-breaker:opened', onEvent);
    limiter.on('circuit-breaker:half-open', onEvent);
    limiter.on('circuit-breaker:closed', onEvent);
    const failing = () => Promise.reject(new Error('down'));
    await Promise.allSettled([limiter.run(failing), limiter.run(failing)]);
    assert.equal(limiter.isBroken, true);
    assert.equal(limiter.available, 0);

    let started = 0;
    const probe = deferred();
    const tasks = Array.from({ length: 6 }, (_, i) =>
      limiter.run(async () => {
        started += 1;
        if (i === 0) await probe.promise;

        return i;
      }),
    );
    await flush();
    assert.equal(started, 0, 'nothing starts while open');
    assert.equal(limiter.queued, 6);
    clock.advance(1_000);
    await flush();
    assert.equal(started, 1, 'one probe while half-open');
    assert.equal(limiter.available, 0);
    probe.resolve();
    assert.deepEqual(await Promise.all(tasks), [0, 1, 2, 3, 4, 5]);
    assert.equal(started, 6);
    assert.deepEqual(states, ['open', 'half-open', 'closed']);
  });

  it('rejects waiting and new tasks while open when whileOpen is reject', async () => {
    const clock = new ManualClock();
    const limiter = new ConcurrencyLimiter({
      concurrency: 1,
      clock,
      whileOpen: 'reject',
      breaker: { consecutiveFailures: 1 },
    });
    const gate = deferred();
    const failing = limiter.run(async () => {
      await gate.promise;
      throw new Error('down');
    });
    const waiting = limiter.run(() => 'never');
    gate.resolve();
    await assert.rejects(failing, /down/);
    const error = await waiting.catch((e: unknown) => e);
    assert.ok(isCircuitOpenError(error));
    assert.equal(error.retryAfterMs, 5_000);
    await assert.rejects(
      limiter.run(() => 'new'),
      { name: 'CircuitOpenError' },
    );
    assert.equal(limiter.getMemoryStats().totalRejected, 2);
  });

  it('resolves onRoom when an open breaker turns half-open', async () => {
    const clock = new ManualClock();
    const limiter = new ConcurrencyLimiter({
      concurrency: 2,
      clock,
      breaker: { consecutiveFailures: 1, openMs: 500 },
    });
    await limiter.run(() => Promise.reject(new Error('x'))).catch(() => undefined);
    let room = false;
    void limiter.onRoom().then(() => (room = true));
    await flush();
    assert.equal(room, false);
    clock.advance(500);
    await flush();
    assert.equal(room, true);
    assert.equal(limiter.available, 1);
  });

  it('counts overload and failure but not ignored rejections, as classified', async () => {
    const clock = new ManualClock();
    const limiter = new ConcurrencyLimiter({
      concurrency: 1,
      clock,
      breaker: { consecutiveFailures: 2 },
      classify: (error) => ((error as Error).message === 'bad input' ? 'ignore' : 'failure'),
    });
    const reject = (message: string) => () => Promise.reject(new Error(message));
    await limiter.run(reject('bad input')).catch(() => undefined);
    await limiter.run(reject('down')).catch(() => undefined);
    await limiter.run(reject('bad input')).catch(() => undefined);
    assert.equal(limiter.isBroken, false);
    await limiter.run(reject('down')).catch(() => undefined);
    assert.equal(limiter.isBroken, true);
  });
});
