import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { SampleRing, Sampler } from '../../src/http/samples.js';
import type { StoreFigures } from '../../src/http/store-figures.js';
import { StatusSource } from './helpers.js';

describe('the chart samples', () => {
  test('the ring keeps the latest samples, oldest first', () => {
    const ring = new SampleRing(3);
    for (let t = 1; t <= 5; t += 1) {
      ring.push({ t, delivered: t, failed: 0, lagSeconds: 0, pending: 0, inFlight: 0, dead: 0 });
    }

    assert.deepEqual(
      ring.toArray().map((sample) => sample.t),
      [3, 4, 5],
    );
  });

  test('throughput is the change of the counters per second between samples', () => {
    const source = new StatusSource();
    const figures = {
      snapshot: {
        stats: {
          pending: 4,
          inFlight: 1,
          scheduled: 0,
          dead: 2,
          oldestPendingAgeMs: 1500,
          byType: {},
        },
        types: [],
        at: new Date(),
        paused: [],
        error: null,
      },
    } as unknown as StoreFigures;
    const sampler = new Sampler(source, figures, 1000, 10);
    sampler.take(10_000);
    source.status.counters = { delivered: 50, retried: 3, deadLettered: 1 };
    const sample = sampler.take(12_000);

    assert.equal(sample.delivered, 25);
    assert.equal(sample.failed, 2);
    assert.equal(sample.lagSeconds, 1.5);
    assert.equal(sample.pending, 4);
    assert.equal(sample.dead, 2);
  });
});
