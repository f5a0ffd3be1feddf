import { EventEmitter } from 'node:events';
import { randomBytes } from 'node:crypto';

import pg from 'pg';

import type { NewOutboxEvent } from '../../src/event.js';

import type { DispatcherStatusView } from '../../src/http/index.js';
import type { DeadView, DeliveredView, RetryView } from '../../src/http/surface.js';
import { enqueueMany, PostgresStore } from '../../src/store/index.js';
import type { OutboxStore } from '../../src/store/contract.js';

export const POSTGRES_URL = 'postgres://postgres@127.0.0.1:5432/test';

/** A real PostgreSQL outbox in a schema of its own, migrated; `dispose()` drops the schema. */
export async function openStore(): Promise<{
  store: PostgresStore;
  insert(events: NewOutboxEvent[]): Promise<string[]>;
  dispose(): Promise<void>;
}> {
  const schema = `ops_http_${randomBytes(4).toString('hex')}`;
  const pool = new pg.Pool({ connectionString: POSTGRES_URL, max: 4 });
  const store = new PostgresStore({ pool, schema });
  await store.migrate();

  return {
    store,
    insert: (events) => enqueueMany(pool, events, { schema }),
    async dispose() {
      await store.close();
      await pool.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      await pool.end();
    },
  };
}

/** Dead-letters every available event of the store, as a dispatcher would after a 4xx. */
export async function deadLetterAll(store: OutboxStore, reason: string): Promise<string[]> {
  const claim = await store.claim({ limit: 100, leaseMs: 30_000 });
  const items = claim.events.map((event) => ({ id: event.id, reason }));
  await store.deadLetter(claim.token, items);

  return items.map((item) => item.id);
}

/**
 * A dispatcher-shaped object whose status the test sets and whose events the test emits: for the
 * behaviours of the endpoint that do not need a running loop (the end-to-end test uses the real
 * `OutboxDispatcher`).
 */
export class StatusSource extends EventEmitter<{
  'event:delivered': [DeliveredView];
  'event:retry': [RetryView & { error: string; retryAt: Date; kind: string }];
  'event:dead': [DeadView & { reason: string }];
}> {
  status: DispatcherStatusView = {
    state: 'running',
    startedAt: new Date(),
    limiter: { activePromises: 3, queuedPromises: 7, limit: 10 },
    breaker: { state: 'closed', failureRate: 0 },
    store: null,
    storeStatsAt: null,
    storeReachable: true,
    memory: { heapUsed: 1234, heapTotal: 2000, rss: 3000, heapLimit: 4000 },
    counters: { delivered: 0, retried: 0, deadLettered: 0 },
    paused: [],
  };

  getStatus(): DispatcherStatusView {
    return this.status;
  }
}

/** Counts the calls of a store's methods, passing them on to the real store. */
export function countingStore(store: OutboxStore): {
  store: OutboxStore;
  calls: Map<string, number>;
} {
  const calls = new Map<string, number>();
  const proxy = new Proxy(store, {
    get(target, property, receiver) {
      const value = Reflect.get(target, property, receiver) as unknown;
      if (typeof value !== 'function' || typeof property !== 'string') {
        return value;
      }

      return (...args: unknown[]) => {
        calls.set(property, (calls.get(property) ?? 0) + 1);

        return (value as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });

  return { store: proxy, calls };
}
