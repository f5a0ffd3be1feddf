/**
 * The operator side of the PostgreSQL store: dead letters, purging, pauses and figures. The
 * store's methods delegate here; `query` runs through the store's error mapping.
 */
import type pg from 'pg';
import type {
  DeadEvent,
  DeadSelection,
  ListDeadOptions,
  OutboxStats,
  PurgeOptions,
} from '../contract.js';
import { checkInteger, type ResolvedCommonOptions } from '../options.js';
import { accumulateStats, emptyStats, leniently } from '../shared.js';
import type { PgNames } from './migrations.js';
import { RAW_JSON_TYPES, toRaw, type PgEventRow } from './rows.js';
import * as sql from './sql.js';

export interface OperatorContext {
  names: PgNames;
  options: Readonly<ResolvedCommonOptions>;
  query<R extends pg.QueryResultRow = pg.QueryResultRow>(
    config: pg.QueryConfig,
  ): Promise<pg.QueryResult<R>>;
}

export async function listDead(
  context: OperatorContext,
  options: ListDeadOptions,
): Promise<DeadEvent[]> {
  const limit = checkInteger('limit', options.limit ?? 100, 1, 10_000);
  const result = await context.query<PgEventRow & { dead_at: Date }>({
    text: sql.listDeadSql(context.names),
    values: [options.type ?? null, options.afterId ?? null, limit],
    types: RAW_JSON_TYPES,
  });

  return result.rows.map((row) => ({ ...leniently(toRaw(row)), deadAt: row.dead_at }));
}

export async function requeueDead(
  context: OperatorContext,
  selection: DeadSelection,
): Promise<number> {
  let config: pg.QueryConfig;
  if ('ids' in selection) {
    config = { text: sql.requeueSql(context.names, 'ids'), values: [[...selection.ids]] };
  } else if ('type' in selection) {
    config = { text: sql.requeueSql(context.names, 'type'), values: [selection.type] };
  } else if (selection.all === true) {
    config = { text: sql.requeueSql(context.names, 'all') };
  } else {
    throw new TypeError('requeueDead needs { ids }, { type } or { all: true }');
  }

  const result = await context.query(config);

  return result.rowCount ?? 0;
}

export async function purgeDelivered(
  context: OperatorContext,
  options: PurgeOptions,
): Promise<number> {
  const batchSize = checkInteger('batchSize', options.batchSize ?? 1000, 1);
  const maxBatches =
    options.maxBatches === undefined ? Infinity : checkInteger('maxBatches', options.maxBatches, 1);
  const text = sql.purgeSql(context.names);
  let total = 0;
  for (let batch = 0; batch < maxBatches; batch += 1) {
    const result = await context.query({
      text,
      values: [context.options.retentionMs, batchSize],
    });
    const count = result.rowCount ?? 0;
    total += count;
    if (count < batchSize) break;
  }

  return total;
}

export async function setPaused(
  context: OperatorContext,
  type: string,
  paused: boolean,
): Promise<void> {
  const table = `"${context.names.schema}"."${context.names.table}_paused"`;
  const text = paused
    ? `INSERT INTO ${table} (type) VALUES ($1) ON CONFLICT (type) DO NOTHING`
    : `DELETE FROM ${table} WHERE type = $1`;
  await context.query({ text, values: [type] });
}

export async function listPaused(context: OperatorContext): Promise<string[]> {
  const table = `"${context.names.schema}"."${context.names.table}_paused"`;
  const result = await context.query<{ type: string }>({
    text: `SELECT type FROM ${table} ORDER BY type`,
  });

  return result.rows.map((row) => row.type);
}

export async function stats(context: OperatorContext): Promise<OutboxStats> {
  const result = await context.query<{
    type: string;
    pending: number;
    in_flight: number;
    scheduled: number;
    dead: number;
    oldest_ms: number;
  }>({ text: sql.statsSql(context.names) });
  const figures = emptyStats();
  for (const row of result.rows) {
    accumulateStats(figures, row.type, {
      pending: row.pending,
      inFlight: row.in_flight,
      scheduled: row.scheduled,
      dead: row.dead,
      oldestPendingAgeMs: Math.max(0, Math.round(row.oldest_ms)),
    });
  }

  if (context.options.deadKeyPolicy === 'hold' && figures.dead > 0) {
    const held = await context.query<{ held: number }>({ text: sql.heldKeysSql(context.names) });
    figures.heldKeys = held.rows[0]?.held ?? 0;
  }

  return figures;
}
