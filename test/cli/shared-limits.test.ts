import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Redis } from 'ioredis';
import { sharedLimitName } from '../../src/cli/commands/run.js';
import { PG_URL, pgOutbox, spawnRun, waitFor } from '../dispatcher/helpers.js';

const REDIS_URL = 'redis://127.0.0.1:6379';
const EVENTS = 300;
const GLOBAL_LIMIT = 3;

test('two `outbox run` processes never exceed the global concurrency shared in Redis', async () => {
  const outbox = await pgOutbox();
  const name = `test-shared-${randomBytes(4).toString('hex')}`;
  const received = new Set<string>();
  let inFlight = 0;
  let highest = 0;
  const server = createServer((request, response) => {
    inFlight += 1;
    highest = Math.max(highest, inFlight);
    request.resume();
    // Each delivery takes a while, so that both dispatchers want many publishes in flight.
    setTimeout(() => {
      received.add(String(request.headers['ce-id']));
      inFlight -= 1;
      response.writeHead(204).end();
    }, 15);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const hook = `http://127.0.0.1:${(server.address() as AddressInfo).port}/events`;
  const children: ChildProcess[] = [];
  try {
    const ids = await outbox.add(EVENTS, 0);
    for (let index = 0; index < 2; index += 1) {
      const child = spawnRun({
        OUTBOX_DATABASE_URL: PG_URL,
        OUTBOX_SCHEMA: outbox.schema,
        OUTBOX_PUBLISHER_URL: hook,
        OUTBOX_CONCURRENCY: '10',
        OUTBOX_POLL_INTERVAL: '200',
        OUTBOX_REDIS_URL: REDIS_URL,
        OUTBOX_GLOBAL_CONCURRENCY: String(GLOBAL_LIMIT),
        OUTBOX_GLOBAL_LIMIT_NAME: name,
        OUTBOX_LOG_LEVEL: 'warn',
      });
      children.push(child);
    }

    await waitFor(() => received.size === EVENTS, 90_000);

    assert.deepEqual(received, new Set(ids));
    assert.ok(highest <= GLOBAL_LIMIT, `at most ${GLOBAL_LIMIT} in flight, saw ${highest}`);
    assert.ok(highest >= 2, `the two dispatchers published side by side, saw ${highest}`);
  } finally {
    const exits = children.map((child) => new Promise((resolve) => child.once('exit', resolve)));
    for (const child of children) child.kill('SIGTERM');
    await Promise.all(exits);
    server.close();
    await outbox.drop();
    const redis = new Redis(REDIS_URL);
    const keys = await redis.keys(`*${name}*`);
    if (keys.length > 0) await redis.del(...keys);
    await redis.quit();
  }
});

test('the default name of the shared limits is the publisher kind and destination host', () => {
  assert.equal(sharedLimitName('http', 'https://hooks.example.com/a'), 'http:hooks.example.com');
  assert.equal(sharedLimitName('amqp', 'amqp://u:secret@127.0.0.1:5672/'), 'amqp:127.0.0.1:5672');
  assert.equal(sharedLimitName('stdout', 'stdout:'), 'stdout');
});
