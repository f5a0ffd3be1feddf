/** The SQL of the SQLite store; the same rules as the PostgreSQL store, with times in ms. */
import type { DeadKeyPolicy } from '../options.js';
import { headsTable } from './heads.js';

export const COLUMNS = `o.id, o.type, o.key, o.payload, o.headers, o.created_at,
  o.available_at, o.attempts, o.last_error`;

/**
 * A bound LIMIT, written so that the planner does not read its value. SQLite's planner looks at
 * the value bound to a plain `LIMIT @param`, which marks the statement for a full re-prepare
 * whenever that parameter is bound again: at every execution. For the claim that was about
 * 180 µs of parsing and planning each time, against 15 µs for running it on an empty table.
 * `@param + 0` is an expression, which the planner leaves alone; the query plan is the same.
 */
export function boundLimit(parameter: string): string {
  return `@${parameter} + 0`;
}

const NOT_LEASED = `(o.lease_expires_at IS NULL OR o.lease_expires_at <= @now)`;
export const LEASED_BY = `o.lease_token = @token AND o.lease_expires_at > @now
  AND o.state = 'pending'`;

/**
 * Picks unkeyed events and the heads of keys (see `heads.ts`), oldest availability first,
 * returning `COLUMNS` as they are before the claim, then the availability and id the two walks
 * are merged on. Each walk reads its own index in that order and SQLite merges them, stopping at
 * the limit: the unkeyed events through the outbox's unkeyed index, the keys through the heads
 * table, so no event that waits behind its key's head is read. A key whose head is leased or
 * waits for a retry is passed over by the lease and availability tests of that one row. Under
 * `hold`, a head with an earlier dead event of its key is passed over too. Parameters: @now,
 * @limit, [@types], [@exclude]. Paused types are read in the same transaction and passed in
 * `@exclude`, which spares the common case (nothing paused) a check per row. The claim's
 * transaction then leases the picked rows with `leaseSql`.
 *
 * Picking and leasing are two statements, not one `UPDATE … RETURNING`, because SQLite runs
 * `RETURNING` as a trigger program per row, which cost more than the rest of a claim's update.
 */
export function claimSql(
  table: string,
  variant: { policy: DeadKeyPolicy; types: boolean; excludeTypes: boolean },
): string {
  const t = `"${table}"`;
  const filters = `AND ${NOT_LEASED}
      ${variant.types ? 'AND o.type IN (SELECT value FROM json_each(@types))' : ''}
      ${variant.excludeTypes ? 'AND o.type NOT IN (SELECT value FROM json_each(@exclude))' : ''}`;
  const hold =
    variant.policy === 'hold'
      ? `AND NOT EXISTS (SELECT 1 FROM ${t} d
           WHERE d.key = o.key AND d.id < o.id AND d.state = 'dead')`
      : '';

  return `
    SELECT ${COLUMNS}, o.available_at AS ready_at, o.id AS ready_id FROM ${t} o
    WHERE o.state = 'pending' AND o.key IS NULL AND o.available_at <= @now ${filters}
    UNION ALL
    SELECT ${COLUMNS}, h.available_at, h.id FROM ${headsTable(table)} h
      JOIN ${t} o ON o.id = h.id
    WHERE h.available_at <= @now AND o.available_at <= @now AND o.state = 'pending' ${filters}
      ${hold}
    ORDER BY ready_at, ready_id
    LIMIT ${boundLimit('limit')}`;
}

/**
 * Leases the rows whose ids are in the JSON array @ids and counts the attempt. Parameters: @ids,
 * @token, @leaseUntil. Only the lease columns and the attempt count change: no index covers them
 * or names them in its condition, so the lease writes no index entry, and no trigger runs.
 */
export function leaseSql(table: string): string {
  return `UPDATE "${table}" SET attempts = attempts + 1, lease_token = @token,
      lease_expires_at = @leaseUntil
    WHERE id IN (SELECT value FROM json_each(@ids))`;
}

export function statsSql(table: string): string {
  const ready = `state = 'pending' AND available_at <= @now
    AND (lease_expires_at IS NULL OR lease_expires_at <= @now)`;

  return `
    SELECT type,
      SUM(CASE WHEN ${ready} THEN 1 ELSE 0 END) AS pending,
      SUM(CASE WHEN state = 'pending' AND lease_expires_at > @now THEN 1 ELSE 0 END)
        AS in_flight,
      SUM(CASE WHEN state = 'pending' AND available_at > @now
        AND (lease_expires_at IS NULL OR lease_expires_at <= @now) THEN 1 ELSE 0 END)
        AS scheduled,
      SUM(CASE WHEN state = 'dead' THEN 1 ELSE 0 END) AS dead,
      MIN(CASE WHEN ${ready} THEN available_at END) AS oldest
    FROM "${table}"
    WHERE state IN ('pending', 'dead')
    GROUP BY type`;
}

/** Keys with a dead event and a later pending one: held under the `hold` policy. */
export function heldKeysSql(table: string): string {
  return `
    SELECT count(DISTINCT d.key) AS held FROM "${table}" d
    WHERE d.state = 'dead' AND d.key IS NOT NULL
      AND EXISTS (SELECT 1 FROM "${table}" p
        WHERE p.key = d.key AND p.id > d.id AND p.state = 'pending' AND p.key IS NOT NULL)`;
}
