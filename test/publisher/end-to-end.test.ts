// End to end: events enqueued into a PostgreSQL outbox by `outbox enqueue` reach a consumer of
// each destination through `outbox run`, with their metadata, in order per key.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import pg from 'pg';
import type { ConformanceTarget } from './conformance.js';
import { waitFor } from './conformance.js';
import { RUN } from './helpers.js';
import { target as amqp } from './targets/amqp.js';
import { target as http } from './targets/http.js';
import { target as mqtt } from './targets/mqtt.js';
import { target as nats } from './targets/nats.js';
import { target as redis } from './targets/redis.js';

const ROOT = join(import.meta.dirname, '..', '..');
const DATABASE = 'postgres://postgres@127.0.0.1:5432/test';
const EVENTS = 300;
const KEYS = 10;
const TRACEPARENT = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';

function outbox(args: string[], env: Record<string, string>): ChildProcess {
  return spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ...env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
}

function finished(child: ChildProcess): Promise<{ code: number | null; output: string }> {
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));

  return new Promise((resolve) => child.on('close', (code) => resolve({ code, output })));
}

async function sql(text: string): Promise<void> {
  const client = new pg.Client({ connectionString: DATABASE });
  await client.connect();
  try {
    await client.query(text);
  } finally {
    await client.end();
  }
}

function endToEnd(target: ConformanceTarget): void {
  describe(`${target.name} end to end`, () => {
    const schema = `pub_e2e_${RUN}_${target.name.replace(/\W+/g, '_').toLowerCase()}`;
    before(async () => {
      await target.setup?.();
      await sql(`CREATE SCHEMA ${schema}`);
    });
    after(async () => {
      await sql(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      await target.teardown?.();
    });

    test('events from a PostgreSQL outbox reach a consumer through outbox run', async () => {
      const env = { OUTBOX_DATABASE_URL: DATABASE, OUTBOX_SCHEMA: schema };
      const migrated = await finished(outbox(['migrate'], env));
      assert.equal(migrated.code, 0, migrated.output);

      const consumer = await target.consume();
      const lines = Array.from({ length: EVENTS }, (_, n) =>
        JSON.stringify({
          type: n % 2 === 0 ? 'order.created' : 'order.paid',
          key: `order-${n % KEYS}`,
          payload: { n, run: RUN },
          headers: { traceparent: TRACEPARENT },
        }),
      );
      const enqueue = outbox(['enqueue'], env);
      enqueue.stdin?.end(`${lines.join('\n')}\n`);
      const enqueued = await finished(enqueue);
      assert.equal(enqueued.code, 0, enqueued.output);

      const { url, options } = target.cli();
      const run = outbox(['run'], {
        ...env,
        OUTBOX_PUBLISHER_URL: url,
        OUTBOX_PUBLISHER_OPTIONS: JSON.stringify({
          ...options,
          cloudEvents: { source: '/conformance' },
        }),
        OUTBOX_POLL_INTERVAL: '200',
        OUTBOX_CONCURRENCY: '50',
        OUTBOX_LOG_LEVEL: 'warn',
      });
      const exit = finished(run);
      try {
        const mine = () =>
          consumer.received.filter((message) => (message.data as { run?: string }).run === RUN);
        await waitFor(() => new Set(mine().map((m) => m.id)).size >= EVENTS, 'every event', 60_000);

        const received = mine();
        const numbers = new Set(received.map((message) => (message.data as { n: number }).n));
        assert.equal(numbers.size, EVENTS);
        for (const message of received) {
          const n = (message.data as { n: number }).n;
          assert.equal(message.type, n % 2 === 0 ? 'order.created' : 'order.paid');
          assert.equal(message.key, `order-${n % KEYS}`);
          assert.equal(message.traceparent, TRACEPARENT);
          assert.equal(message.source, '/conformance');
          assert.equal(message.dedupId, message.id);
        }

        // The first delivery of each event, per key, in the order it was enqueued.
        for (let key = 0; key < KEYS; key += 1) {
          const seen = new Set<number>();
          const order: number[] = [];
          for (const message of received) {
            const n = (message.data as { n: number }).n;
            if (n % KEYS === key && !seen.has(n)) {
              seen.add(n);
              order.push(n);
            }
          }
          assert.deepEqual(
            order,
            [...order].sort((a, b) => a - b),
            `key order-${key}`,
          );
        }
      } finally {
        run.kill('SIGTERM');
        const { code, output } = await exit;
        await consumer.close();
        assert.equal(code, 0, output);
      }
    });
  });
}

for (const target of [http, amqp, nats, redis, mqtt]) endToEnd(target);
