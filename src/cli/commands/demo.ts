import { mkdirSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { dirname, join } from 'node:path';
import Database from 'better-sqlite3';
import { OutboxDispatcher } from '../../dispatcher/index.js';
import { createPublisher } from '../../publisher/index.js';
import { SqliteStore, enqueueSync } from '../../store/index.js';
import { UsageError } from '../errors.js';
import { createLogger } from '../logger.js';
import { untilStopSignal } from '../signals.js';

export interface DemoOptions {
  /** The SQLite file. Default `.outbox/demo.sqlite`. */
  file?: string;
  /** Orders per second. Default 20. */
  rate?: string;
  /** Seconds to run; default until Ctrl-C. */
  duration?: string;
  /** Share of webhook calls answered 503, to show retries. Default 0.05. */
  failRate?: string;
  /** Log level of the dispatcher's logs on standard error. Default `warn`. */
  logLevel?: string;
}

function numberOption(name: string, value: string | undefined, fallback: number, max: number) {
  if (value === undefined) return fallback;

  const parsed = Number(value);
  if (!Number.isFinite(parsed) || parsed < 0 || parsed > max) {
    throw new UsageError(`--${name} must be a number from 0 to ${max}, got ${value}`);
  }

  return parsed;
}

/**
 * `outbox demo`: an SQLite outbox, a producer writing orders and their events in one
 * transaction, a webhook receiver in the same process, and the dispatcher between them.
 */
export async function demoCommand(options: DemoOptions): Promise<void> {
  const file = options.file ?? join('.outbox', 'demo.sqlite');
  mkdirSync(dirname(file), { recursive: true });
  const rate = numberOption('rate', options.rate, 20, 10_000);
  const duration = numberOption('duration', options.duration, 0, 86_400);
  const failRate = numberOption('fail-rate', options.failRate, 0.05, 1);
  const logger = createLogger(options.logLevel ?? 'warn');

  // The business database, which also holds the outbox.
  const db = new Database(file);
  db.pragma('journal_mode = WAL');
  const store = new SqliteStore({ database: db, maxAttempts: 10 });
  await store.migrate();
  db.exec(`CREATE TABLE IF NOT EXISTS demo_orders (
    id INTEGER PRIMARY KEY, customer TEXT NOT NULL, total_cents INTEGER NOT NULL,
    created_at INTEGER NOT NULL)`);
  const insertOrder = db.prepare(
    'INSERT INTO demo_orders (customer, total_cents, created_at) VALUES (?, ?, ?)',
  );
  const placeOrder = db.transaction((customer: string, cents: number) => {
    const order = insertOrder.run(customer, cents, Date.now());
    enqueueSync(db, {
      type: 'order.created',
      key: customer,
      payload: { orderId: Number(order.lastInsertRowid), customer, totalCents: cents },
    });
  });

  // The webhook receiver.
  let received = 0;
  let refused = 0;
  const server = createServer((request, response) => {
    request.resume();
    request.on('end', () => {
      if (Math.random() < failRate) {
        refused += 1;
        response.writeHead(503, { 'retry-after': '1' }).end();

        return;
      }

      received += 1;
      response.writeHead(204).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const hook = `http://127.0.0.1:${(server.address() as AddressInfo).port}/events`;

  // The dispatcher between them.
  const publisher = createPublisher(hook);
  const dispatcher = new OutboxDispatcher({
    store,
    publisher,
    logger,
    concurrency: 5,
    pollIntervalMs: 1000,
    retryBaseMs: 250,
    retryMaxMs: 2000,
    publishTimeoutMs: 2000,
    leaseMs: 10_000,
    statsIntervalMs: 1000,
  });
  await dispatcher.start();

  const out = process.stdout;
  out.write(
    `outbox demo: SQLite outbox ${file}, webhook receiver ${hook}\n` +
      `producing ${rate} orders/s, ${Math.round(failRate * 100)} % of webhook calls ` +
      `answered 503 to show retries. Ctrl-C stops gracefully.\n`,
  );

  // The producer: one order and its event per transaction.
  let produced = 0;
  const customers = ['alice', 'bob', 'carol', 'dave', 'erin', 'frank'];
  const producer =
    rate > 0
      ? setInterval(() => {
          const customer = customers[produced % customers.length] ?? 'alice';
          placeOrder(customer, 100 + Math.floor(Math.random() * 10_000));
          produced += 1;
        }, 1000 / rate)
      : undefined;

  const progress = setInterval(() => {
    const { counters, store: figures } = dispatcher.getStatus();
    out.write(
      `produced ${produced}  delivered ${counters.delivered}  retried ${counters.retried}  ` +
        `dead ${counters.deadLettered}  pending ${figures?.pending ?? '?'}  ` +
        `webhook: ${received} received, ${refused} refused\n`,
    );
  }, 1000);

  const { signal, dispose } = untilStopSignal();
  const timer =
    duration > 0 ? new Promise((resolve) => setTimeout(resolve, duration * 1000)) : undefined;
  await Promise.race(timer === undefined ? [signal] : [signal, timer]);

  out.write('stopping: no new orders, letting the events in flight finish…\n');
  clearInterval(producer);
  clearInterval(progress);
  try {
    await dispatcher.stop({ timeout: 5000 });
  } finally {
    await publisher.close();
    await store.close();
    await new Promise((resolve) => server.close(resolve));
    db.close();
    dispose();
  }
  const { counters } = dispatcher.getStatus();
  out.write(
    `stopped: produced ${produced}, delivered ${counters.delivered}, ` +
      `webhook received ${received}. Undelivered events stay in ${file} for the next run.\n`,
  );
}
