/**
 * The SQL of the PostgreSQL store, built once per store from validated identifiers. Parameters
 * are always bound, never spliced.
 */
import type { DeadKeyPolicy } from '../options.js';
import type { PgNames } from './migrations.js';
import { qualified } from './migrations.js';

/** Times come back as milliseconds (float8): far cheaper to read than timestamp text. */
const COLUMNS = `o.id, o.type, o.key, o.payload, o.headers,
  date_part('epoch', o.created_at) * 1000 AS created_at,
  date_part('epoch', o.available_at) * 1000 AS available_at, o.attempts, o.last_error`;

const BIGINT_MAX = '9223372036854775807';

/**
 * The most busy keys a claim gathers up front (see `claimSql`). A constant, so that the planner's
 * estimate of the set stays below it and the set is always kept in a hash table.
 */
const BUSY_KEYS_CAP = 10_000;

export const NOT_LEASED = `(o.lease_expires_at IS NULL OR o.lease_expires_at <= now())`;
export const LEASED_BY = `o.lease_token = $2::uuid AND o.lease_expires_at > now()
  AND o.state = 'pending'`;

export interface ClaimVariant {
  policy: DeadKeyPolicy;
  types: boolean;
  excludeTypes: boolean;
  /** Look no further than the oldest `$N` available rows (the last parameter). */
  bounded?: boolean;
  /** Drop the rows of busy keys through a hash of them first (see `claimSql`). */
  busyKeys?: boolean;
  /**
   * Take runs of a key: after each keyed head, the key's next events, at most `$N` more (the
   * last parameter), see `runsSql`.
   */
  runs?: boolean;
}

/**
 * Claims the head events of free keys and any unkeyed events, oldest availability first.
 * Parameters: $1 limit, $2 lease in ms, $3 token, [$4 types], [$5 excluded], [window].
 *
 * A keyed event qualifies only when no earlier event of its key is pending (leased, waiting for
 * a retry or not yet available), none of its key is leased or waiting for a retry at all (a
 * late-committed or requeued earlier event must not run beside it), and under `hold` no earlier
 * event of its key is dead. `SKIP LOCKED` makes concurrent claimers pass over each other's rows;
 * a claimer whose snapshot predates another's committed lease still sees the leased head as
 * pending, so it never takes the event behind it.
 *
 * The claim changes the lease columns, the attempt count and `claimed`, which marks keyed
 * events that have been claimed (the busy-key check finds them through its index). An unkeyed
 * event keeps `claimed` false, so its claim changes no indexed column and PostgreSQL updates the
 * row in place (HOT), with no new index entries. An event that had already used all its
 * attempts (its leases kept expiring) comes back with one attempt too many: the store then
 * dead-letters it with `exhaustedSql` instead of handing it out.
 *
 * The `bounded` variant only looks at the oldest `window` available rows (its last parameter):
 * when most keys are busy, the full scan reads through the whole keyed backlog to find the few
 * free heads, and the store runs this cheaper form right after a claim that came back short.
 *
 * With `busyKeys`, before those index probes, a keyed row whose key has a committed lease or a
 * pending retry is dropped through a hash of those keys, gathered once per claim (at most
 * `BUSY_KEYS_CAP`): the events waiting behind busy keys then cost no probe. The set only repeats
 * the busy-key check, so a partial one (past the cap) costs speed, never correctness. The store
 * asks for it where most keys are busy; elsewhere gathering the set costs more than it saves.
 *
 * With `runs`, the picked heads feed `runsSql`, which adds each key's run after its head.
 */
export function claimSql(names: PgNames, variant: ClaimVariant): string {
  const t = qualified(names);
  const filters = [
    variant.types ? 'AND o.type = ANY($4::text[])' : '',
    variant.excludeTypes ? `AND o.type <> ALL($${variant.types ? 5 : 4}::text[])` : '',
  ].join(' ');
  const hold =
    variant.policy === 'hold'
      ? `AND NOT EXISTS (SELECT 1 FROM ${t} d
           WHERE d.key = o.key AND d.id < o.id AND d.state = 'dead')`
      : '';
  const window = 4 + Number(variant.types) + Number(variant.excludeTypes);
  // Fewer rows than the window: no bound (the largest timestamp and id).
  const bound = variant.bounded
    ? `AND (o.available_at, o.id) <= (
          SELECT COALESCE(max(w.available_at), 'infinity'), COALESCE(max(w.id), ${BIGINT_MAX})
          FROM (SELECT w.available_at, w.id FROM ${t} w
            WHERE w.state = 'pending' AND w.available_at <= now()
            ORDER BY w.available_at, w.id OFFSET $${window} - 1 LIMIT 1) w)`
    : '';
  const busyKeys =
    variant.busyKeys === true
      ? `o.key NOT IN (SELECT k.key FROM ${t} k
            WHERE k.state = 'pending' AND k.claimed AND k.key IS NOT NULL
              AND (k.lease_expires_at > now() OR k.available_at > now())
            LIMIT ${BUSY_KEYS_CAP}) AND`
      : '';
  const runs = variant.runs === true;

  return `
    WITH picked AS (
      SELECT o.id${runs ? ', o.key' : ''} FROM ${t} o
      WHERE o.state = 'pending' AND o.available_at <= now() AND ${NOT_LEASED} ${bound}
        AND o.type NOT IN (SELECT p.type FROM ${qualified(names, '_paused')} p)
        ${filters}
        AND (o.key IS NULL OR (
          ${busyKeys}
          NOT EXISTS (SELECT 1 FROM ${t} h
            WHERE h.key = o.key AND h.id < o.id AND h.state = 'pending' AND h.key IS NOT NULL)
          AND NOT EXISTS (SELECT 1 FROM ${t} b
            WHERE b.key = o.key AND b.state = 'pending' AND b.claimed
              AND b.key IS NOT NULL AND b.id <> o.id
              AND (b.lease_expires_at > now() OR b.available_at > now()))
          ${hold}))
      ORDER BY o.available_at, o.id
      LIMIT $1
      FOR UPDATE OF o SKIP LOCKED
    )${runs ? runsSql(names, variant, window + Number(variant.bounded === true)) : ''}
    UPDATE ${t} o SET attempts = o.attempts + 1, claimed = o.key IS NOT NULL,
      lease_token = $3::uuid, lease_expires_at = now() + $2::float8 * interval '1 millisecond'
    WHERE o.id = ANY(ARRAY(SELECT id FROM ${runs ? 'taken' : 'picked'}))
    RETURNING ${COLUMNS}, date_part('epoch', o.lease_expires_at) * 1000 AS lease_expires_at`;
}

/**
 * The runs of a claim with `perKey` above 1: a CTE `taken` of the ids to lease, in pick order,
 * each keyed head followed by its key's next pending events, at most `$more` of them (`perKey -
 * 1`), up to `$1` ids in all. `picked` is read only as far as `taken` needs, so the claim locks
 * no more heads than it hands out (a CTE that changes nothing is evaluated on demand).
 *
 * For each head, the key's next pending events in id order (through the key index; under `hold`
 * only those before the key's first dead event after the head) are read in the statement's
 * snapshot and each is locked with `FOR UPDATE SKIP LOCKED`, its conditions checked again on
 * the latest version of the row (not leased, still pending and available). The run keeps them
 * while each one, and every one before it, is available, not leased, of a type the claim takes,
 * and locked: it stops at the first that is not, never passing over an event of the key. A later
 * row that fails cannot be taken by anyone else either: its key's head is locked by this claim.
 */
function runsSql(names: PgNames, variant: ClaimVariant, more: number): string {
  const t = qualified(names);
  const filters = [
    variant.types ? 'AND c.type = ANY($4::text[])' : '',
    variant.excludeTypes ? `AND c.type <> ALL($${variant.types ? 5 : 4}::text[])` : '',
  ].join(' ');
  const hold =
    variant.policy === 'hold'
      ? `AND c.id < COALESCE((SELECT min(d.id) FROM ${t} d
           WHERE d.key = h.key AND d.id > h.id AND d.state = 'dead'), ${BIGINT_MAX})`
      : '';
  const free = (alias: string) =>
    `(${alias}.lease_expires_at IS NULL OR ${alias}.lease_expires_at <= now())`;

  return `,
    taken AS (
      SELECT x.id FROM picked h CROSS JOIN LATERAL (
        SELECT h.id, 0::bigint AS n
        UNION ALL
        SELECT r.id, r.n FROM (
          SELECT c.id, c.n, bool_and(c.ok AND l.id IS NOT NULL) OVER (ORDER BY c.n) AS ok
          FROM (
            SELECT c.id, row_number() OVER (ORDER BY c.id) AS n,
              (c.available_at <= now() AND ${free('c')} ${filters}
                AND c.type NOT IN (SELECT p.type FROM ${qualified(names, '_paused')} p))
                IS TRUE AS ok
            FROM ${t} c
            WHERE h.key IS NOT NULL AND c.key = h.key AND c.key IS NOT NULL AND c.id > h.id
              AND c.state = 'pending' ${hold}
            ORDER BY c.id
            LIMIT $${more}) c
          LEFT JOIN LATERAL (
            SELECT l.id FROM ${t} l
            WHERE l.id = c.id AND c.ok AND l.state = 'pending' AND ${free('l')}
              AND l.available_at <= now()
            FOR UPDATE OF l SKIP LOCKED) l ON true) r
        WHERE r.ok) x
      LIMIT $1)`;
}

/**
 * Opens a transaction and waits, at most `waitMs`, for the outbox's claim turn: a transaction-level
 * advisory lock, so that claims made in turn run one at a time and each sees the leases of the one
 * before (see `PostgresStore`). The claim that follows waits for other locks (a migration's, say)
 * as any claim does: the timeout only bounds the wait for the turn. Plain text, no parameters
 * (one round trip for the four statements): the names are validated identifiers and `waitMs` an
 * integer. A wait that runs out fails with `lock_not_available` (55P03) and leaves the
 * transaction to be rolled back.
 */
export function claimTurnSql(names: PgNames, waitMs: number): string {
  const lock = `outbox-claim:${names.schema}.${names.table}`;

  return `BEGIN; SET LOCAL lock_timeout = ${Math.trunc(waitMs)};
    SELECT pg_advisory_xact_lock(hashtextextended('${lock}', 0));
    SET LOCAL lock_timeout TO DEFAULT`;
}

/** $1 ids, $2 token, $3 reason prefix. Gives back the attempt the claim counted. */
export function exhaustedSql(names: PgNames): string {
  return `
    UPDATE ${qualified(names)} o SET state = 'dead', dead_at = now(),
      attempts = o.attempts - 1, lease_token = NULL, lease_expires_at = NULL,
      last_error = 'dead-lettered at claim: claimed ' || (o.attempts - 1) || ' times without '
        || 'an acknowledgement (its dispatcher crashed or stalled each time)'
    WHERE o.id = ANY($1::bigint[]) AND ${LEASED_BY}
    RETURNING o.id, o.last_error`;
}

export function completeSql(names: PgNames, retain: boolean): string {
  const t = qualified(names);
  const change = retain
    ? `UPDATE ${t} o SET state = 'delivered', delivered_at = now(), lease_token = NULL,
        lease_expires_at = NULL
      WHERE o.id = ANY($1::bigint[]) AND ${LEASED_BY} RETURNING o.id`
    : `DELETE FROM ${t} o WHERE o.id = ANY($1::bigint[]) AND ${LEASED_BY} RETURNING o.id`;

  return countedSql(change);
}

/**
 * Wraps an acknowledgement that returns `o.id` per changed row into one row: `n`, the rows
 * changed, and `ids`, the changed ids as text only when some of the given ones were not changed.
 * One row instead of one per event saves the client most of its work on the reply.
 */
function countedSql(change: string): string {
  return `WITH d AS (${change})
    SELECT count(*)::int AS n,
      CASE WHEN count(*) < cardinality($1::bigint[]) THEN array_agg(d.id::text) END AS ids
    FROM d`;
}

/**
 * $1 ids, $2 token, $3 errors, $4 retry times (null: backoff), $5 maxAttempts, $6 base ms,
 * $7 max ms. Backoff: full jitter, a random delay up to min(max, base * 2^(attempts - 1)).
 */
export function failSql(names: PgNames): string {
  const t = qualified(names);
  const exhausted = 'o.attempts >= $5';

  return `
    UPDATE ${t} o SET
      state = CASE WHEN ${exhausted} THEN 'dead' ELSE 'pending' END,
      dead_at = CASE WHEN ${exhausted} THEN now() ELSE NULL END,
      available_at = CASE WHEN ${exhausted} THEN o.available_at
        ELSE COALESCE(f.retry_at, now() + floor(random() * least($7::float8,
          $6::float8 * power(2::float8, greatest(o.attempts - 1, 0)))) * interval '1 millisecond')
        END,
      last_error = f.error, lease_token = NULL, lease_expires_at = NULL
    FROM unnest($1::bigint[], $3::text[], $4::timestamptz[]) AS f(id, error, retry_at)
    WHERE o.id = f.id AND ${LEASED_BY}
    RETURNING o.id, o.state`;
}

/** $1 ids, $2 token, $3 reasons. */
export function deadLetterSql(names: PgNames): string {
  return `
    UPDATE ${qualified(names)} o SET state = 'dead', dead_at = now(), last_error = f.reason,
      lease_token = NULL, lease_expires_at = NULL
    FROM unnest($1::bigint[], $3::text[]) AS f(id, reason)
    WHERE o.id = f.id AND ${LEASED_BY}
    RETURNING o.id`;
}

export function releaseSql(names: PgNames): string {
  return `
    UPDATE ${qualified(names)} o SET attempts = greatest(o.attempts - 1, 0),
      claimed = o.claimed AND o.attempts > 1, lease_token = NULL, lease_expires_at = NULL
    WHERE o.id = ANY($1::bigint[]) AND ${LEASED_BY}
    RETURNING o.id`;
}

/** $1 ids, $2 token, $3 lease ms. */
export function extendSql(names: PgNames): string {
  return `
    UPDATE ${qualified(names)} o
    SET lease_expires_at = now() + $3::float8 * interval '1 millisecond'
    WHERE o.id = ANY($1::bigint[]) AND ${LEASED_BY}
    RETURNING o.id`;
}

export function listDeadSql(names: PgNames): string {
  return `
    SELECT ${COLUMNS}, o.dead_at FROM ${qualified(names)} o
    WHERE o.state = 'dead' AND o.dead_at IS NOT NULL AND ($1::text IS NULL OR o.type = $1)
      AND ($2::bigint IS NULL OR o.id > $2)
    ORDER BY o.id LIMIT $3`;
}

export function requeueSql(names: PgNames, by: 'ids' | 'type' | 'all'): string {
  const where = { ids: 'AND o.id = ANY($1::bigint[])', type: 'AND o.type = $1', all: '' }[by];

  return `
    UPDATE ${qualified(names)} o SET state = 'pending', attempts = 0, claimed = false,
      available_at = now(), dead_at = NULL, lease_token = NULL, lease_expires_at = NULL
    WHERE o.state = 'dead' ${where}`;
}

/** $1 retention ms, $2 batch size. */
export function purgeSql(names: PgNames): string {
  const t = qualified(names);

  return `
    DELETE FROM ${t} WHERE id IN (
      SELECT id FROM ${t}
      WHERE state = 'delivered'
        AND delivered_at <= now() - $1::float8 * interval '1 millisecond'
      LIMIT $2)`;
}

export function statsSql(names: PgNames): string {
  const notLeased = NOT_LEASED.replaceAll('o.', '');
  const ready = `state = 'pending' AND available_at <= now() AND ${notLeased}`;

  return `
    SELECT type,
      count(*) FILTER (WHERE ${ready})::int AS pending,
      count(*) FILTER (WHERE state = 'pending' AND lease_expires_at > now())::int AS in_flight,
      count(*) FILTER (WHERE state = 'pending' AND available_at > now()
        AND ${notLeased})::int AS scheduled,
      count(*) FILTER (WHERE state = 'dead')::int AS dead,
      COALESCE(EXTRACT(EPOCH FROM now() - min(available_at) FILTER (WHERE ${ready})) * 1000, 0)
        ::float8 AS oldest_ms
    FROM ${qualified(names)}
    WHERE state IN ('pending', 'dead')
    GROUP BY type`;
}

/** Keys with a dead event and a later pending one: held under the `hold` policy. */
export function heldKeysSql(names: PgNames): string {
  const t = qualified(names);

  return `
    SELECT count(DISTINCT d.key)::int AS held FROM ${t} d
    WHERE d.state = 'dead' AND d.key IS NOT NULL
      AND EXISTS (SELECT 1 FROM ${t} p
        WHERE p.key = d.key AND p.id > d.id AND p.state = 'pending' AND p.key IS NOT NULL)`;
}
