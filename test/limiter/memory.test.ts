import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import {
  ConcurrencyLimiter,
  ManualClock,
  MemoryMonitor,
  formatBytes,
} from '../../src/limiter/index.js';
import type { MemoryEvent } from '../../src/limiter/index.js';
import { Histogram } from '../../src/limiter/histogram.js';
import { deferred, flush } from './helpers.js';

const MB = 2 ** 20;

interface LeakFigures {
  before: number;
  peak: number;
  afterRun: number;
  after: number;
  rejected: number;
  beforeRunAll: number;
  runAllPeak: number;
  runAllCount: number;
  afterRunAll: number;
  retained: number;
  processed: number;
  active: number;
  queued: number;
}

describe('memory', () => {
  it('holds no settled task: 1,000,000 tasks through runAll leave the heap where it was', () => {
    const child = spawnSync(
      process.execPath,
      [
        '--expose-gc',
        '--import',
        'tsx',
        fileURLToPath(new URL('./fixtures/leak-child.ts', import.meta.url)),
      ],
      { encoding: 'utf8', timeout: 120_000 },
    );
    assert.equal(child.status, 0, child.stderr);
    const figures = JSON.parse(child.stdout.trim().split('\n').pop() as string) as LeakFigures;
    const { before, peak, afterRun, after, rejected, retained, processed } = figures;
    assert.equal(rejected, 1000);
    // During the run: the limiter holds at most `concurrency` tasks; the settled results
    // (one object per item, kept by the caller) account for the growth.
    assert.ok(peak - before < 120 * MB, `peak growth ${formatBytes(peak - before)}`);
    assert.ok(afterRun > before, 'the results are held while referenced');
    assert.ok(
      after - before < 4 * MB,
      `after the run: ${formatBytes(after - before)} above the start`,
    );
    // runAll: at most `concurrency` tasks plus the results array (8 MB for 1,000,000 items).
    assert.equal(figures.runAllCount, 1_000_000);
    const runAllGrowth = figures.runAllPeak - figures.beforeRunAll;
    assert.ok(runAllGrowth < 32 * MB, `runAll peak growth ${formatBytes(runAllGrowth)}`);
    const left = figures.afterRunAll - before;
    assert.ok(left < 4 * MB, `after runAll: ${formatBytes(left)} above the start`);
    assert.equal(retained, 0, 'settled run() closures were collected');
    assert.equal(processed, 2_020_000 + 10_000);
    assert.equal(figures.active, 0);
    assert.equal(figures.queued, 0);
  });

  it('reports the statistics with readable and byte heap figures and percentiles', async () => {
    const clock = new ManualClock();
    const limiter = new ConcurrencyLimiter({ concurrency: 1, clock, sampleEvery: 1 });
    const gates = [deferred(), deferred()];
    const first = limiter.run(() => gates[0]?.promise);
    const second = limiter.run(() => gates[1]?.promise);
    await flush();
    clock.advance(20);
    gates[0]?.resolve();
    await first;
    clock.advance(5);
    gates[1]?.resolve();
    await second;
    const stats = limiter.getMemoryStats();
    assert.equal(stats.totalProcessed, 2);
    assert.equal(stats.failureRate, 0);
    assert.match(stats.heapUsed, /^\d+(\.\d)?(B|KB|MB|GB)$/);
    assert.ok(stats.heapUsedBytes > 0 && stats.heapTotalBytes >= stats.heapUsedBytes);
    assert.equal(stats.queueWaitMs.count, 2);
    assert.equal(stats.queueWaitMs.max, 20);
    assert.equal(stats.runTimeMs.count, 2);
    assert.equal(stats.runTimeMs.max, 20);
    assert.ok(
      stats.runTimeMs.p50 >= 5 && stats.runTimeMs.p50 <= 5 * 1.125,
      `${stats.runTimeMs.p50}`,
    );
  });

  it('weighs its samples so that the timed counts match the tasks run (runAll)', async () => {
    const items = 20_000;
    for (const [keyed, concurrency] of [
      [false, 4],
      [false, 50],
      [true, 4],
      [true, 50],
    ] as const) {
      const limiter = new ConcurrencyLimiter({
        concurrency,
        sampleEvery: 16,
        ...(keyed ? { perKey: { concurrency: 2 } } : {}),
      });
      const list = Array.from({ length: items }, (_, n) => n);
      await limiter.runAll(list, async (n) => n, keyed ? { key: (n) => `k${n % 8}` } : {});
      const { queueWaitMs, runTimeMs } = limiter.getMemoryStats();
      for (const [name, count] of [
        ['queue wait', queueWaitMs.count],
        ['run time', runTimeMs.count],
      ] as const) {
        assert.ok(
          count >= items * 0.75 && count <= items * 1.25,
          `${keyed ? 'keyed' : 'unkeyed'} x${concurrency} ${name}: ${count} for ${items} tasks`,
        );
      }
    }
  });

  it('keeps percentiles within 12.5 % and the same memory whatever the sample count', () => {
    const histogram = new Histogram();
    for (let i = 1; i <= 100_000; i += 1) histogram.record(i / 100);
    const { p50, p90, p99, max, count } = histogram.snapshot();
    assert.equal(count, 100_000);
    assert.equal(max, 1000);
    for (const [value, truth] of [
      [p50, 500],
      [p90, 900],
      [p99, 990],
    ] as const) {
      assert.ok(value >= truth && value <= truth * 1.125, `${value} vs ${truth}`);
    }
  });

  it('formats bytes readably', () => {
    assert.equal(formatBytes(512), '512B');
    assert.equal(formatBytes(45 * MB), '45MB');
    assert.equal(formatBytes(1.5 * 1024 * MB), '1.5GB');
  });
});

describe('MemoryMonitor', () => {
  it('emits memory:high above the threshold at each reading, then memory:normal', () => {
    const clock = new ManualClock();
    let used = 50;
    const limiter = new ConcurrencyLimiter(3);
    const monitor = new MemoryMonitor({
      clock,
      readHeap: () => ({ used, total: 100, limit: 100 }),
      stats: () => limiter.getMemoryStats(),
    });
    const events: string[] = [];
    let last: MemoryEvent | undefined;
    monitor.on('memory:high', (event) => {
      events.push(`high:${event.ratio}`);
      last = event;
    });
    monitor.on('memory:normal', (event) => events.push(`normal:${event.ratio}`));
    monitor.start();
    clock.advance(10_000);
    assert.deepEqual(events, [], 'default interval 10 s, threshold 90 %');
    used = 90;
    clock.advance(9_999);
    assert.deepEqual(events, []);
    clock.advance(1);
    assert.deepEqual(events, ['high:0.9']);
    assert.equal(last?.stats?.activePromises, 0);
    assert.equal(last?.heapLimit, 100);
    clock.advance(10_000);
    used = 40;
    clock.advance(10_000);
    assert.deepEqual(events, ['high:0.9', 'high:0.9', 'normal:0.4']);
    monitor.stop();
    used = 99;
    clock.advance(60_000);
    assert.equal(events.length, 3);
    assert.equal(clock.pendingTimers, 0);
    assert.equal(monitor.check().ratio, 0.99);
    assert.equal(events.length, 4);
  });

  it('reads the real heap by default and validates its options', () => {
    const reading = new MemoryMonitor().check();
    assert.ok(reading.heapUsed > 0 && reading.heapLimit > reading.heapUsed);
    assert.match(reading.summary, /of .* \(\d+%\)/);
    assert.throws(
      () => new MemoryMonitor({ threshold: 1.5 }),
      /threshold must be a number from 0 to 1, got 1\.5/,
    );
    assert.throws(() => new MemoryMonitor({ interval: 0 }), /interval/);
  });
});
