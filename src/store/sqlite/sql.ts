/** The SQL of the SQLite store; the same rules as the PostgreSQL store, with times in ms. */
import type { DeadKeyPolicy } from '../options.js';

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
 * Picks the head events of free keys and any unkeyed events (see the PostgreSQL store for the
 * rules), returning `COLUMNS` as they are before the claim.
 *
 * The busy-key check (is another event of the key leased or waiting for a retry?) runs only for a
 * head that was requeued and not claimed since (`attempts = 0` with a `last_error`). Any other
 * head has been pending, as the lowest pending id of its key, since before every later event of
 * the key could have been claimed: SQLite hands out ids in commit order, one writer at a time,
 * so an event cannot appear below one already claimed. Only a requeue puts an event back below
 * them. The check then reads the key's later events through the key index; no index of leased
 * events is needed, so a claim writes no index entry. Parameters: @now, @limit, [@types],
 * [@exclude]. Paused types are read in the same transaction and passed in `@exclude`, which
 * spares the common case (nothing paused) a check per row. The claim's transaction then leases
 * the picked rows with `leaseSql`.
 *
 * Picking and leasing are two statements, not one `UPDATE … RETURNING`, because SQLite runs
 * `RETURNING` as a trigger program per row, which cost more than the rest of a claim's update.
 */
export function claimSql(
  table: string,
  variant: { policy: DeadKeyPolicy; types: boolean; excludeTypes: boolean },
): string {
  const t = `"${table}"`;
  const hold =
    variant.policy === 'hold'
      ? `AND NOT EXISTS (SELECT 1 FROM ${t} d
           WHERE d.key = o.key AND d.id < o.id AND d.state = 'dead')`
      : '';

  return `
    SELECT ${COLUMNS} FROM ${t} o
    WHERE o.state = 'pending' AND o.available_at <= @now AND ${NOT_LEASED}
      ${variant.types ? 'AND o.type IN (SELECT value FROM json_each(@types))' : ''}
      ${variant.excludeTypes ? 'AND o.type NOT IN (SELECT value FROM json_each(@exclude))' : ''}
      AND (o.key IS NULL OR (
        NOT EXISTS (SELECT 1 FROM ${t} h
          WHERE h.key = o.key AND h.id < o.id AND h.state = 'pending' AND h.key IS NOT NULL)
        AND (o.attempts > 0 OR o.last_error IS NULL OR NOT EXISTS (SELECT 1 FROM ${t} b
          WHERE b.key = o.key AND b.key IS NOT NULL AND b.id > o.id AND b.state = 'pending'
            AND b.attempts > 0 AND (b.lease_expires_at > @now OR b.available_at > @now)))
        ${hold}))
    ORDER BY o.available_at, o.id
    LIMIT ${boundLimit('limit')}`;
}

/**
 * The events that follow a claimed head in its key, for a claim with `perKey` above 1: the key's
 * next pending events in id order, at most @more, read through the key index. Under `hold` the
 * run ends before the key's first dead event after the head (an uncorrelated subquery, run once
 * per execution). Returns `COLUMNS` and the lease's end; the claim then checks each row in order
 * and stops at the first it may not take. Parameters: @key, @head (the head's id), @more.
 */
export function runSql(table: string, policy: DeadKeyPolicy): string {
  const t = `"${table}"`;
  const hold =
    policy === 'hold'
      ? `AND o.id < COALESCE((SELECT min(d.id) FROM ${t} d
           WHERE d.key = @key AND d.id > @head AND d.state = 'dead'), 9223372036854775807)`
      : '';

  return `
    SELECT ${COLUMNS}, o.lease_expires_at FROM ${t} o
    WHERE o.key = @key AND o.key IS NOT NULL AND o.id > @head AND o.state = 'pending' ${hold}
    ORDER BY o.key, o.id
    LIMIT ${boundLimit('more')}`;
}

/**
 * Hands back rows the claim leased but will not hand out (the later events of a key whose run
 * met an unreadable row): the lease is cleared and the attempt given back. Parameter: @ids.
 */
export function unleaseSql(table: string): string {
  return `UPDATE "${table}" SET attempts = MAX(attempts - 1, 0), lease_token = NULL,
      lease_expires_at = NULL
    WHERE id IN (SELECT value FROM json_each(@ids))`;
}

/**
 * How a statement over a claim's rows names them: the ids in the JSON array @ids, or, when the
 * ids are every integer from @first to @last, that range. The range is read straight from the
 * table's B-tree; the list is parsed and probed id by id, which cost the benchmark's unkeyed
 * claims of 100 (their ids consecutive) about a third of the lease and a quarter of the delete.
 */
export type IdSelection = 'list' | 'range';

/** The condition on `o.id` of an `IdSelection`. */
export function idsWhere(selection: IdSelection): string {
  return selection === 'range'
    ? 'o.id BETWEEN @first AND @last'
    : 'o.id IN (SELECT value FROM json_each(@ids))';
}

/**
 * The ids of a statement over a claim's rows as bound parameters: a range when `ids` (in any
 * form `Number` reads) are consecutive integers in ascending order, else a JSON array. A repeated
 * id or one out of order makes a list, so the range never covers a row that was not named.
 */
export function bindIds(ids: readonly (string | number)[]): {
  selection: IdSelection;
  params: { first: number; last: number } | { ids: string };
} {
  const first = Number(ids[0]);
  let consecutive = Number.isSafeInteger(first);
  for (let n = 1; consecutive && n < ids.length; n += 1) consecutive = Number(ids[n]) === first + n;
  if (consecutive && ids.length > 0) {
    return { selection: 'range', params: { first, last: first + ids.length - 1 } };
  }

  return { selection: 'list', params: { ids: JSON.stringify(ids.map(Number)) } };
}

/**
 * Leases the rows named by `selection` and counts the attempt. Parameters: @ids or @first and
 * @last, @token, @leaseUntil. Only the lease columns and the attempt count change, which no index
 * covers or names in its condition, so that no index is touched.
 */
export function leaseSql(table: string, selection: IdSelection): string {
  return `UPDATE "${table}" AS o SET attempts = attempts + 1, lease_token = @token,
      lease_expires_at = @leaseUntil
    WHERE ${idsWhere(selection)}`;
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
