import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, describe, test } from 'node:test';

import { Redis } from 'ioredis';
import pg from 'pg';

import { GlobalConcurrencyLimit, GlobalRateLimit } from '../../src/coordination/index.js';
import { enqueueMany, PostgresStore } from '../../src/store/index.js';
import {
  freePort,
  REDIS_URL,
  runFixture,
  startFixture,
  uniqueName,
  waitForOutput,
} from './helpers.js';

const POSTGRES_URL = 'postgres://postgres@127.0.0.1:5432/test';
const redis = new Redis(REDIS_URL);
const names: string[] = [];

after(async () => {
  for (const name of names) {
    const keys = await redis.keys(`*${name}*`);
    if (keys.length > 0) {
      await redis.del(...keys);
    }
  }

  redis.disconnect();
});

function track(prefix: string): string {
  const name = uniqueName(prefix);
  names.push(name);

  return name;
}

describe('a concurrency limit shared through Redis', () => {
  test('several dispatcher processes never publish more at once than the limit', async () => {
    const name = track('dispatchers');
    const schema = `ops_coord_${name.slice(-8)}`;
    const pool = new pg.Pool({ connectionString: POSTGRES_URL, max: 2 });
    const store = new PostgresStore({ pool, schema });
    await store.migrate();
    const children = [1, 2, 3].map(() =>
      startFixture('dispatcher-process.ts', [schema, name, '4']),
    );
    try {
      await Promise.all(children.map((child) => waitForOutput(child, 'started')));
      const events = Array.from({ length: 150 }, (_, i) => ({ type: 'probe.tested', payload: i }));
      const ids = await enqueueMany(pool, events, { schema });
      await waitUntilAsync(async () => (await redis.llen(`${name}:delivered`)) >= 150, 30_000);

      const delivered = await redis.lrange(`${name}:delivered`, 0, -1);
      assert.deepEqual([...new Set(delivered)].sort(), [...ids].sort());
      assert.equal(await redis.get(`${name}:max`), '4');
      assert.equal(await redis.get(`${name}:inflight`), '0');
    } finally {
      await Promise.all(
        children.map(async (child) => {
          child.kill('SIGTERM');
          await once(child, 'exit');
        }),
      );
      await store.close();
      await pool.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      await pool.end();
    }
  });

  test("a crashed holder's permits expire after their lease", async () => {
    const name = track('crash');
    const holder = startFixture('holder-process.ts', [name, '2', '2', '3000']);
    await waitForOutput(holder, 'held');
    const shared = new GlobalConcurrencyLimit({ redis: REDIS_URL, name, limit: 2, leaseMs: 3000 });
    try {
      // The live holder extends its permits: they outlast one lease (3 s: long enough for a
      // busy machine to run the holder's refresh in time).
      await sleep(3500);
      assert.equal(await shared.globalActive(), 2);

      holder.kill('SIGKILL');
      await once(holder, 'exit');
      const killedAt = Date.now();
      const permit = await shared.acquire(AbortSignal.timeout(8000));
      const waited = Date.now() - killedAt;

      assert.equal(permit.shared, true);
      assert.ok(waited <= 4500, `waited ${waited} ms for an expired permit`);
      await permit.release();
    } finally {
      holder.kill('SIGKILL');
      await shared.close();
    }
  });

  test('a waiting caller gives up with the reason of its aborted signal', async () => {
    const name = track('abort');
    const shared = new GlobalConcurrencyLimit({ redis: REDIS_URL, name, limit: 1 });
    try {
      const held = await shared.acquire();
      const reason = new Error('gave up');
      const controller = new AbortController();
      setTimeout(() => controller.abort(reason), 50);

      await assert.rejects(shared.acquire(controller.signal), (error) => error === reason);
      await held.release();
      const again = await shared.acquire(AbortSignal.timeout(2000));
      await again.release();
    } finally {
      await shared.close();
    }
  });

  test('with Redis unreachable it applies the local limit and warns once', async () => {
    const port = await freePort();
    const shared = new GlobalConcurrencyLimit({
      redis: `redis://127.0.0.1:${port}`,
      name: uniqueName('down'),
      limit: 5,
      fallbackLimit: 2,
    });
    const warnings: unknown[] = [];
    shared.on('coordination:fallback', (payload) => warnings.push(payload));
    try {
      const first = await shared.acquire();
      const second = await shared.acquire();
      let thirdHeld = false;
      const third = shared.acquire().then((permit) => {
        thirdHeld = true;

        return permit;
      });
      await sleep(100);

      assert.equal(first.shared, false);
      assert.equal(thirdHeld, false);
      assert.equal(shared.mode, 'local');
      await first.release();
      await (await third).release();
      await second.release();
      assert.equal(warnings.length, 1);
      assert.match(JSON.stringify(warnings[0]), /"limit":"concurrency"/);
    } finally {
      await shared.close();
    }
  });

  test('it falls back when Redis goes away and shares again when Redis returns', async () => {
    const port = await freePort();
    const startRedis = () =>
      spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', ''], {
        stdio: 'ignore',
      });
    let server = startRedis();
    const shared = new GlobalConcurrencyLimit({
      redis: `redis://127.0.0.1:${port}`,
      name: uniqueName('flap'),
      limit: 3,
    });
    const events: string[] = [];
    shared.on('coordination:fallback', () => events.push('fallback'));
    shared.on('coordination:restored', () => events.push('restored'));
    try {
      await waitUntil(() => shared.client.status === 'ready');
      const before = await shared.acquire();
      assert.equal(before.shared, true);
      await before.release();

      server.kill('SIGKILL');
      await once(server, 'exit');
      await waitUntil(() => shared.client.status !== 'ready');
      const during = await shared.acquire();
      assert.equal(during.shared, false);
      await during.release();

      server = startRedis();
      await waitUntil(() => shared.client.status === 'ready');
      const afterwards = await shared.acquire();
      assert.equal(afterwards.shared, true);
      await afterwards.release();
      assert.deepEqual(events, ['fallback', 'restored']);
    } finally {
      await shared.close();
      server.kill('SIGKILL');
    }
  });
});

describe('a rate limit shared through Redis', () => {
  test('two processes together stay within the budget of each window', async () => {
    const name = track('rate');
    const runs = [1, 2].map(() =>
      runFixture('publisher-process.ts', [name, '15', '5', '', '10', '1']),
    );
    await Promise.all(runs);
    const starts = (await redis.lrange(`${name}:starts`, 0, -1)).map(Number).sort((a, b) => a - b);

    assert.equal(starts.length, 30);
    // Fixed windows of 1 s and 10 per window: any 21 consecutive starts span a whole window.
    for (let i = 0; i + 20 < starts.length; i += 1) {
      const span = (starts[i + 20] ?? 0) - (starts[i] ?? 0);
      assert.ok(span >= 900, `21 publishes started within ${span} ms`);
    }
  });

  test('with Redis unreachable it counts locally and warns', async () => {
    const port = await freePort();
    const rate = new GlobalRateLimit({
      redis: `redis://127.0.0.1:${port}`,
      name: uniqueName('rate-down'),
      limit: 100,
      fallbackLimit: 3,
    });
    const warnings: unknown[] = [];
    rate.on('coordination:fallback', (payload) => warnings.push(payload));
    try {
      const started = Date.now();
      for (let i = 0; i < 4; i += 1) {
        await rate.acquire(AbortSignal.timeout(3000));
      }

      assert.equal(rate.mode, 'local');
      assert.ok(Date.now() - started >= 500, 'the fourth call waited for the next window');
      assert.equal(warnings.length, 1);
    } finally {
      await rate.close();
    }
  });

  test('options that make no sense are refused with the option named', () => {
    assert.throws(
      () => new GlobalRateLimit({ redis: REDIS_URL, name: 'x', limit: 0 }),
      /limit must be a positive integer, got 0/,
    );
    assert.throws(
      () => new GlobalRateLimit({ redis: REDIS_URL, name: 'x', limit: 1, intervalMs: 1500 }),
      /intervalMs must be a whole number of seconds/,
    );
    assert.throws(
      () => new GlobalConcurrencyLimit({ redis: 'http://nope', name: 'x', limit: 1 }),
      /redis must be a redis:\/\/ or rediss:\/\/ URL/,
    );
  });
});

async function waitUntil(condition: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) {
      throw new Error('condition not met in time');
    }

    await sleep(20);
  }
}

async function waitUntilAsync(condition: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) {
      throw new Error('condition not met in time');
    }

    await sleep(50);
  }
}
