/**
 * The heads of the keys of the SQLite outbox. `<table>_heads` holds one row per key with pending
 * events: the event whose turn it is (its id, and its `available_at` so that heads can be walked
 * in availability order). A claim hands out a keyed event only when it is its key's head, and it
 * walks the heads instead of the keyed backlog, so it never reads the events waiting behind one.
 *
 * SQLite's single writer makes each step exact: no other transaction can change the key's rows
 * in between. The heads live in their own small table rather than in a column of the outbox row:
 * passing the turn then rewrites a few entries on a handful of pages instead of the next event's
 * whole row, wherever in the table that row lies.
 *
 * - New events are adopted by the next claim, not by a trigger on insert: the claim reads the
 *   events with an id above `<table>_heads_seen`, and a keyed one whose key has no earlier pending
 *   event becomes its key's head. Ids are handed out in commit order (one writer at a time), so
 *   no event can appear below the mark later. An `INSERT` trigger would make every producer
 *   statement keep a statement journal (see `passTurn`), which doubled the CPU time of bulk
 *   inserts.
 * - When the head leaves `pending` (deleted on completion or by hand, delivered, dead-lettered), a
 *   trigger passes the turn to the key's pending event with the lowest id.
 * - The head keeps its turn while it is leased, after a release, and while it waits for a retry:
 *   that is what holds back the later events of its key. A trigger copies a retry's new
 *   `available_at`.
 * - An event that becomes pending again (a requeued dead event) takes the turn when its key has
 *   no head, or when the head comes later and has not been claimed since it became pending.
 *   Otherwise it waits for the head to leave, after which the lowest id goes first.
 */

/** The heads table, for the outbox table's bare name. */
export function headsTable(table: string): string {
  return `"${table}_heads"`;
}

/** The key's pending event with the lowest id other than `self`, from the covering key index. */
function nextPending(t: string, key: string, self: string, column: string): string {
  return `(SELECT p.${column} FROM ${t} p
    WHERE p.key = ${key} AND p.key IS NOT NULL AND p.state = 'pending' AND p.id <> ${self}
    ORDER BY p.id LIMIT 1)`;
}

/**
 * Passes the turn of the key of the event `old`, which has just left `pending`, if it was the
 * head: to the key's pending event with the lowest id. No SQL function is called here: a function
 * call counts as a possible abort, which would make SQLite keep a statement journal for every
 * acknowledgement that fires this trigger.
 */
function passTurn(t: string, heads: string): string {
  return `INSERT OR IGNORE INTO ${heads} (available_at, id)
      SELECT p.available_at, p.id FROM ${t} p
      WHERE p.key = old.key AND p.key IS NOT NULL AND p.state = 'pending' AND p.id <> old.id
        AND EXISTS (SELECT 1 FROM ${heads} h
          WHERE h.available_at = old.available_at AND h.id = old.id)
      ORDER BY p.id LIMIT 1;
      DELETE FROM ${heads} WHERE available_at = old.available_at AND id = old.id;`;
}

/** The heads tables and the triggers that keep the heads, for the outbox table's bare name. */
export function headsSql(table: string): string {
  const t = `"${table}"`;
  const heads = headsTable(table);
  const next = (column: string) => nextPending(t, 'new.key', 'new.id', column);

  return `
    CREATE TABLE IF NOT EXISTS ${heads} (
      available_at INTEGER NOT NULL,
      id INTEGER NOT NULL,
      PRIMARY KEY (available_at, id)
    ) WITHOUT ROWID;

    CREATE TABLE IF NOT EXISTS "${table}_heads_seen" (id INTEGER NOT NULL);

    CREATE TRIGGER IF NOT EXISTS "${table}_head_delete" AFTER DELETE ON ${t}
    WHEN old.key IS NOT NULL AND old.state = 'pending'
    BEGIN
      ${passTurn(t, heads)}
    END;

    CREATE TRIGGER IF NOT EXISTS "${table}_head_leave" AFTER UPDATE OF state ON ${t}
    WHEN old.key IS NOT NULL AND old.state = 'pending' AND new.state <> 'pending'
    BEGIN
      ${passTurn(t, heads)}
    END;

    CREATE TRIGGER IF NOT EXISTS "${table}_head_return" AFTER UPDATE OF state ON ${t}
    WHEN new.key IS NOT NULL AND new.state = 'pending' AND old.state <> 'pending'
    BEGIN
      DELETE FROM ${heads} WHERE available_at = ${next('available_at')} AND id = ${next('id')}
        AND id > new.id AND (SELECT n.attempts FROM ${t} n WHERE n.id = ${heads}.id) = 0;
      INSERT OR IGNORE INTO ${heads} (available_at, id)
        SELECT new.available_at, new.id WHERE NOT EXISTS (SELECT 1 FROM ${t} p
          JOIN ${heads} h ON h.available_at = p.available_at AND h.id = p.id
          WHERE p.key = new.key AND p.key IS NOT NULL AND p.state = 'pending'
            AND p.id <> new.id);
    END;

    CREATE TRIGGER IF NOT EXISTS "${table}_head_available" AFTER UPDATE OF available_at ON ${t}
    WHEN new.key IS NOT NULL AND new.state = 'pending' AND old.state = 'pending'
    BEGIN
      UPDATE OR IGNORE ${heads} SET available_at = new.available_at
      WHERE available_at = old.available_at AND id = new.id;
    END;`;
}

/**
 * Fills the heads table from the events already pending when it is created: per key, the event
 * that is leased or waiting for a retry (the turn the earlier claims gave out), else the lowest
 * pending id. `now` is the current time in milliseconds, as SQL.
 */
export function fillHeadsSql(table: string, now: string): string {
  const t = `"${table}"`;

  return `
    INSERT INTO ${headsTable(table)} (available_at, id)
    SELECT o.available_at, o.id FROM ${t} o WHERE o.id IN (
      SELECT COALESCE(
        (SELECT min(b.id) FROM ${t} b
          WHERE b.key = k.key AND b.state = 'pending' AND b.attempts > 0
            AND (b.lease_expires_at > ${now} OR b.available_at > ${now})),
        (SELECT min(p.id) FROM ${t} p WHERE p.key = k.key AND p.state = 'pending'))
      FROM (SELECT DISTINCT key FROM ${t} WHERE state = 'pending' AND key IS NOT NULL) k)`;
}

/** Records that the events present when the heads were filled have been adopted. */
export function markSeenSql(table: string): string {
  return `INSERT INTO "${table}_heads_seen" (id) SELECT COALESCE(max(id), 0) FROM "${table}"`;
}

/**
 * Adopts the events inserted since the last claim: a keyed pending one whose key has no earlier
 * pending event becomes its key's head (a head the delete trigger already gave it is ignored).
 */
export function adoptSql(table: string): string {
  const t = `"${table}"`;

  return `INSERT OR IGNORE INTO ${headsTable(table)} (available_at, id)
    SELECT n.available_at, n.id FROM ${t} n
    WHERE n.id > (SELECT s.id FROM "${table}_heads_seen" s)
      AND n.key IS NOT NULL AND n.state = 'pending'
      AND NOT EXISTS (SELECT 1 FROM ${t} p
        WHERE p.key = n.key AND p.key IS NOT NULL AND p.state = 'pending' AND p.id < n.id)`;
}

/** Moves the adoption mark to the newest event, writing only when there is a newer one. */
export function advanceSeenSql(table: string): string {
  return `UPDATE "${table}_heads_seen" SET id = (SELECT max(o.id) FROM "${table}" o)
    WHERE id < (SELECT max(o.id) FROM "${table}" o)`;
}
