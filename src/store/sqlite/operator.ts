/**
 * The operator side of the SQLite store: dead letters, purging, pauses and figures. The store's
 * methods delegate here; `run` maps errors the way the store does.
 */
import type Database from 'better-sqlite3';
import type {
  DeadEvent,
  DeadSelection,
  ListDeadOptions,
  OutboxStats,
  PurgeOptions,
} from '../contract.js';
import { checkInteger, type ResolvedCommonOptions } from '../options.js';
import { accumulateStats, emptyStats, leniently } from '../shared.js';
import { toRaw, type SqliteEventRow } from './rows.js';
import * as sql from './sql.js';

export interface OperatorContext {
  table: string;
  options: Readonly<ResolvedCommonOptions>;
  now(): number;
  run<T>(operation: () => T): T;
  statement(name: string, text: () => string): Database.Statement;
  prepare(text: string): Database.Statement;
}

export async function listDead(c: OperatorContext, options: ListDeadOptions): Promise<DeadEvent[]> {
  const limit = checkInteger('limit', options.limit ?? 100, 1, 10_000);
  const list = c.statement(
    'list_dead',
    () => `SELECT ${sql.COLUMNS}, o.dead_at FROM "${c.table}" o
      WHERE o.state = 'dead' AND o.dead_at IS NOT NULL AND (@type IS NULL OR o.type = @type)
        AND (@after IS NULL OR o.id > @after)
      ORDER BY o.id LIMIT ${sql.boundLimit('limit')}`,
  );
  const rows = c.run(
    () =>
      list.all({
        type: options.type ?? null,
        after: options.afterId === undefined ? null : Number(options.afterId),
        limit,
      }) as (SqliteEventRow & { dead_at: number })[],
  );

  return rows.map((row) => ({ ...leniently(toRaw(row)), deadAt: new Date(row.dead_at) }));
}

export async function requeueDead(c: OperatorContext, selection: DeadSelection): Promise<number> {
  const set = `UPDATE "${c.table}" SET state = 'pending', attempts = 0,
    available_at = @now, dead_at = NULL, lease_token = NULL, lease_expires_at = NULL
    WHERE state = 'dead'`;
  const now = c.now();
  let changes: number;
  if ('ids' in selection) {
    const ids = JSON.stringify(selection.ids.map(Number));
    changes = c.run(
      () =>
        c.prepare(`${set} AND id IN (SELECT value FROM json_each(@ids))`).run({ now, ids }).changes,
    );
  } else if ('type' in selection) {
    changes = c.run(
      () => c.prepare(`${set} AND type = @type`).run({ now, type: selection.type }).changes,
    );
  } else if (selection.all === true) {
    changes = c.run(() => c.prepare(set).run({ now }).changes);
  } else {
    throw new TypeError('requeueDead needs { ids }, { type } or { all: true }');
  }

  return changes;
}

export async function purgeDelivered(c: OperatorContext, options: PurgeOptions): Promise<number> {
  const batchSize = checkInteger('batchSize', options.batchSize ?? 1000, 1);
  const maxBatches =
    options.maxBatches === undefined ? Infinity : checkInteger('maxBatches', options.maxBatches, 1);
  const purge = c.statement(
    'purge',
    () => `DELETE FROM "${c.table}" WHERE id IN (
      SELECT id FROM "${c.table}"
      WHERE state = 'delivered' AND delivered_at <= @before
        LIMIT ${sql.boundLimit('batchSize')})`,
  );
  let total = 0;
  for (let batch = 0; batch < maxBatches; batch += 1) {
    const before = c.now() - c.options.retentionMs;
    const count = c.run(() => purge.run({ before, batchSize }).changes);
    total += count;
    if (count < batchSize) break;

    // Let other work (and other connections) in between two batches.
    await new Promise((resolve) => setImmediate(resolve));
  }

  return total;
}

export async function setPaused(c: OperatorContext, type: string, paused: boolean): Promise<void> {
  const table = `"${c.table}_paused"`;
  if (paused) {
    c.run(() =>
      c
        .prepare(`INSERT INTO ${table} (type, paused_at) VALUES (?, ?) ON CONFLICT DO NOTHING`)
        .run(type, c.now()),
    );

    return;
  }

  c.run(() => c.prepare(`DELETE FROM ${table} WHERE type = ?`).run(type));
}

export async function listPaused(c: OperatorContext): Promise<string[]> {
  const rows = c.run(
    () =>
      c.prepare(`SELECT type FROM "${c.table}_paused" ORDER BY type`).all() as {
        type: string;
      }[],
  );

  return rows.map((row) => row.type);
}

export async function stats(c: OperatorContext): Promise<OutboxStats> {
  const now = c.now();
  const rows = c.run(
    () =>
      c.statement('stats', () => sql.statsSql(c.table)).all({ now }) as {
        type: string;
        pending: number;
        in_flight: number;
        scheduled: number;
        dead: number;
        oldest: number | null;
      }[],
  );
  const figures = emptyStats();
  for (const row of rows) {
    accumulateStats(figures, row.type, {
      pending: row.pending,
      inFlight: row.in_flight,
      scheduled: row.scheduled,
      dead: row.dead,
      oldestPendingAgeMs: row.oldest === null ? 0 : Math.max(0, now - row.oldest),
    });
  }

  if (c.options.deadKeyPolicy === 'hold' && figures.dead > 0) {
    const held = c.run(
      () => c.statement('held', () => sql.heldKeysSql(c.table)).get() as { held: number },
    );
    figures.heldKeys = held.held;
  }

  return figures;
}
