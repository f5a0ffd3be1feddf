/** Small helpers both stores share. */
import type { OutboxEvent } from '../event.js';
import type { AckResult, OutboxStats, TypeStats } from './contract.js';
import type { RawEventRow } from './decode.js';

/** Splits requested ids into the applied ones (returned by the database) and the refused. */
export function splitRefused(ids: readonly string[], rows: readonly { id: string }[]): AckResult {
  const applied = new Set(rows.map((row) => String(row.id)));

  return {
    applied: ids.filter((id) => applied.has(id)),
    refused: ids.filter((id) => !applied.has(id)),
  };
}

/** Reads a dead row as well as it can: unreadable payloads come back as their raw text. */
export function leniently(row: RawEventRow): OutboxEvent {
  let payload: unknown = row.payload;
  if (typeof row.payload === 'string') {
    try {
      payload = JSON.parse(row.payload);
    } catch {
      payload = row.payload;
    }
  }

  let headers: Record<string, string> = {};
  if (typeof row.headers === 'string') {
    try {
      const parsed: unknown = JSON.parse(row.headers);
      if (typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)) {
        headers = Object.fromEntries(
          Object.entries(parsed).filter((entry): entry is [string, string] => {
            return typeof entry[1] === 'string';
          }),
        );
      }
    } catch {
      headers = {};
    }
  }

  return {
    id: row.id,
    type: String(row.type),
    key: typeof row.key === 'string' ? row.key : null,
    payload,
    headers,
    createdAt: row.createdAt,
    availableAt: row.availableAt,
    attempts: row.attempts,
    lastError: row.lastError,
  };
}

export function emptyStats(): OutboxStats {
  return {
    pending: 0,
    inFlight: 0,
    scheduled: 0,
    dead: 0,
    oldestPendingAgeMs: 0,
    byType: {},
    heldKeys: 0,
  };
}

export function accumulateStats(stats: OutboxStats, type: string, figures: TypeStats): void {
  stats.byType[type] = figures;
  stats.pending += figures.pending;
  stats.inFlight += figures.inFlight;
  stats.scheduled += figures.scheduled;
  stats.dead += figures.dead;
  stats.oldestPendingAgeMs = Math.max(stats.oldestPendingAgeMs, figures.oldestPendingAgeMs);
}
