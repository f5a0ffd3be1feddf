import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { PG_URL, firstDeliveriesInOrder, pgOutbox, spawnRun, waitFor } from './helpers.js';

const EVENTS = 20_000;
const KEYS = 200;

test('three dispatchers, one killed midway: every event arrives, in order per key', async (t) => {
  const outbox = await pgOutbox();
  const arrivals: { id: string; key: string | null }[] = [];
  const server = createServer((request, response) => {
    request.resume();
    request.on('end', () => {
      const key = request.headers['ce-partitionkey'];
      arrivals.push({
        id: String(request.headers['ce-id']),
        key: typeof key === 'string' ? decodeURIComponent(key) : null,
      });
      response.writeHead(204).end();
    });
  });
  server.keepAliveTimeout = 30_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const hook = `http://127.0.0.1:${(server.address() as AddressInfo).port}/events`;
  const children: ChildProcess[] = [];
  const exits: Promise<number | null>[] = [];
  try {
    const ids = await outbox.add(EVENTS, KEYS);
    for (let index = 0; index < 3; index += 1) {
      const child = spawnRun({
        OUTBOX_DATABASE_URL: PG_URL,
        OUTBOX_SCHEMA: outbox.schema,
        OUTBOX_PUBLISHER_URL: hook,
        OUTBOX_CONCURRENCY: '50',
        // Generous enough that a busy machine does not time out a publish (a timed-out publish
        // that did arrive is a legitimate duplicate, which the count below would blame on the
        // killed process); the killed process's leases still end within seconds.
        OUTBOX_LEASE_MS: '8000',
        OUTBOX_PUBLISH_TIMEOUT: '4000',
        OUTBOX_POLL_INTERVAL: '200',
        OUTBOX_LOG_LEVEL: 'warn',
      });
      children.push(child);
      exits.push(new Promise((resolve) => child.on('exit', (code) => resolve(code))));
    }

    // Kill one dispatcher midway and note what it held under lease.
    await waitFor(() => arrivals.length >= EVENTS * 0.4, 60_000);
    const victim = children[0] as ChildProcess;
    victim.kill('SIGKILL');
    await exits[0];
    const leased = async () => {
      const { rows } = await outbox.pool.query<{ id: string; token: string }>(
        `SELECT id::text, lease_token::text AS token FROM "${outbox.schema}".outbox
         WHERE state = 'pending' AND lease_expires_at > now()`,
      );

      return new Set(rows.map((row) => `${row.id}/${row.token}`));
    };
    const atKill = await leased();
    await new Promise((resolve) => setTimeout(resolve, 600));
    const later = await leased();
    const heldByVictim = [...atKill].filter((entry) => later.has(entry)).length;

    await waitFor(async () => (await outbox.count()) === 0, 90_000);
    const received = new Set(arrivals.map((arrival) => arrival.id));
    assert.deepEqual(received, new Set(ids), 'every event received at least once');
    assert.ok(firstDeliveriesInOrder(arrivals), 'first deliveries in order per key');
    const duplicates = arrivals.length - received.size;
    t.diagnostic(`duplicates ${duplicates}, held by the killed process ${heldByVictim}`);
    assert.ok(
      duplicates <= heldByVictim,
      `${duplicates} duplicates, but the killed process held only ${heldByVictim}`,
    );
    // The killed process held at most its 50 publishing events plus those whose acknowledgement
    // was still buffered (flushed every 10 ms): well under two batches' worth.
    assert.ok(heldByVictim <= 100, `held ${heldByVictim}`);

    for (const child of children.slice(1)) child.kill('SIGTERM');
    assert.deepEqual(await Promise.all(exits.slice(1)), [0, 0]);
  } finally {
    for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
    server.close();
    await outbox.drop();
  }
});
