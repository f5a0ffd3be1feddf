/** Turns raw outbox rows into events, or into the reason they cannot be read. */
import type { OutboxEvent } from '../event.js';
import { InvalidEventError } from './errors.js';

/** A row as both stores read it, before any check: payload and headers are raw JSON text. */
export interface RawEventRow {
  id: string;
  type: unknown;
  key: unknown;
  payload: unknown;
  headers: unknown;
  createdAt: Date;
  availableAt: Date;
  attempts: number;
  lastError: string | null;
}

/** An outbox row as both databases return it, its times as epoch milliseconds. */
export interface DbEventRow {
  id: string | number;
  type: string;
  key: string | null;
  payload: unknown;
  headers: unknown;
  created_at: number;
  available_at: number;
  attempts: number;
  last_error: string | null;
}

/** Names a database row's columns the way the decoder reads them. */
export function toRaw(row: DbEventRow): RawEventRow {
  return {
    id: String(row.id),
    type: row.type,
    key: row.key,
    payload: row.payload,
    headers: row.headers,
    createdAt: new Date(row.created_at),
    availableAt: new Date(row.available_at),
    attempts: row.attempts,
    lastError: row.last_error,
  };
}

export type Decoded = { ok: true; event: OutboxEvent } | { ok: false; reason: string };

export function decodeRow(row: RawEventRow, maxPayloadBytes: number): Decoded {
  const payload = readPayload(row.type, row.key, row.payload, maxPayloadBytes);
  if (payload === UNREADABLE) return { ok: false, reason: unreadableReason };

  const headers = parseHeaders(row.headers);
  if (headers === undefined) return { ok: false, reason: BAD_HEADERS };

  const event = newEvent(
    row.id,
    row.type as string,
    row.key as string | null,
    payload,
    headers,
    row.createdAt,
    row.availableAt,
    row.attempts,
    row.lastError,
  );

  return { ok: true, event };
}

/**
 * An outbox row as an array of its columns, in the order of `DbEventRow`: the id as the database
 * returns it (text from PostgreSQL, a number from SQLite).
 */
export type EventColumns<Id extends string | number = string> = readonly [
  id: Id,
  type: string,
  key: string | null,
  payload: unknown,
  headers: unknown,
  createdAt: number,
  availableAt: number,
  attempts: number,
  lastError: string | null,
];

/**
 * Decodes a claimed row straight from its columns (any after `EventColumns` are not read), with
 * no intermediate object: the event, whose id is `id` (the row's id as text), or the reason it
 * cannot be read. The claim's hot path; `decodeRow` is the same check.
 */
export function decodeArray(
  id: string,
  row: readonly [...EventColumns<string | number>, ...unknown[]],
  maxPayloadBytes: number,
): OutboxEvent | string {
  const payload = readPayload(row[1], row[2], row[3], maxPayloadBytes);
  if (payload === UNREADABLE) return unreadableReason;

  const headers = parseHeaders(row[4]);
  if (headers === undefined) return BAD_HEADERS;

  return newEvent(
    id,
    row[1],
    row[2],
    payload,
    headers,
    new Date(row[5]),
    new Date(row[6]),
    row[7],
    row[8],
  );
}

const BAD_HEADERS = 'unreadable row: headers are not a JSON object of strings';

/**
 * What `readPayload` returns for a row it cannot read, the reason then in `unreadableReason`: no
 * parsed payload can be this value, and telling it apart is one comparison.
 */
const UNREADABLE = Symbol('unreadable');
let unreadableReason = '';

function unreadable(reason: string): typeof UNREADABLE {
  unreadableReason = reason;

  return UNREADABLE;
}

/** Checks the type and key, then parses the payload text within its size limit. */
function readPayload(type: unknown, key: unknown, text: unknown, maxPayloadBytes: number): unknown {
  if (typeof type !== 'string' || type === '') {
    return unreadable('unreadable row: type is missing or empty');
  }

  if (key !== null && typeof key !== 'string') {
    return unreadable('unreadable row: key is not text');
  }

  if (typeof text !== 'string') {
    return unreadable('unreadable row: payload is not JSON text');
  }

  // A UTF-16 code unit takes at most 3 bytes in UTF-8: short payloads need no byte count.
  const size = text.length * 3 <= maxPayloadBytes ? 0 : Buffer.byteLength(text, 'utf8');
  if (size > maxPayloadBytes) {
    return unreadable(`payload too large: ${size} bytes, the limit is ${maxPayloadBytes} bytes`);
  }

  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    return unreadable(`payload is not valid JSON: ${(error as Error).message}`);
  }
}

/** Every event is built here, so that all of them share one shape. */
function newEvent(
  id: string,
  type: string,
  key: string | null,
  payload: unknown,
  headers: Readonly<Record<string, string>>,
  createdAt: Date,
  availableAt: Date,
  attempts: number,
  lastError: string | null,
): OutboxEvent {
  return { id, type, key, payload, headers, createdAt, availableAt, attempts, lastError };
}

function parseHeaders(raw: unknown): Record<string, string> | undefined {
  if (raw === null || raw === undefined || raw === '' || raw === '{}') return {};

  if (typeof raw !== 'string') return undefined;

  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    return undefined;
  }

  if (value === null) return {};

  if (typeof value !== 'object' || Array.isArray(value)) return undefined;

  for (const item of Object.values(value)) {
    if (typeof item !== 'string') return undefined;
  }

  return value as Record<string, string>;
}

/** Serialises a producer's event, refusing what no store could deliver. */
export function encodeEvent(
  event: { type: unknown; payload: unknown; key?: unknown; headers?: unknown },
  maxPayloadBytes: number,
): { type: string; key: string | null; payload: string; headers: string } {
  if (typeof event.type !== 'string' || event.type === '') {
    throw invalid(`event type must be a non-empty string; got ${JSON.stringify(event.type)}`);
  }

  const key = event.key ?? null;
  if (key !== null && typeof key !== 'string') {
    throw invalid(`event key must be a string or null; got ${typeof key}`);
  }

  let payload: string | undefined;
  try {
    payload = JSON.stringify(event.payload);
  } catch (error) {
    throw invalid(`event payload of ${event.type} is not JSON-serialisable`, error);
  }

  if (payload === undefined) {
    throw invalid(`event payload of ${event.type} is not JSON-serialisable`);
  }

  const size = Buffer.byteLength(payload, 'utf8');
  if (size > maxPayloadBytes) {
    throw invalid(
      `event payload of ${event.type} is ${size} bytes; the limit is ${maxPayloadBytes} bytes`,
    );
  }

  const headers = event.headers ?? {};
  if (typeof headers !== 'object' || headers === null || Array.isArray(headers)) {
    throw invalid(`event headers must be an object of strings`);
  }

  for (const [name, value] of Object.entries(headers)) {
    if (typeof value !== 'string') {
      throw invalid(`event header ${JSON.stringify(name)} must be a string; got ${typeof value}`);
    }
  }

  return { type: event.type, key, payload, headers: JSON.stringify(headers) };
}

function invalid(message: string, cause?: unknown): InvalidEventError {
  return new InvalidEventError(message, cause === undefined ? undefined : { cause });
}
