import type { OutboxEvent } from '../event.js';

/**
 * CloudEvents 1.0: one mapping from an outbox event to the event's attributes and body, and the
 * few rules each protocol binding adds (header prefixes, percent-encoding). Every publisher goes
 * through here, so that an event reads the same on every destination.
 */

/** `binary`: attributes travel as protocol metadata, the body is the data. `structured`: the
 * body is a JSON CloudEvent (`application/cloudevents+json`) holding the attributes and data. */
export type CloudEventsMode = 'binary' | 'structured';

export interface CloudEventsOptions {
  /** The `source` attribute, a URI-reference naming the producer. Default: `/outbox-dispatcher`. */
  source?: string;
  /** The content mode. Default: `binary`. */
  mode?: CloudEventsMode;
}

export const DEFAULT_SOURCE = '/outbox-dispatcher';
export const STRUCTURED_CONTENT_TYPE = 'application/cloudevents+json; charset=utf-8';
const JSON_CONTENT_TYPE = 'application/json';

/**
 * The context attributes of one event, in a stable order. `partitionkey` (the Partitioning
 * extension) carries the ordering key; `traceparent` and `tracestate` (the Distributed Tracing
 * extension) are copied from the event's headers.
 */
export interface CloudEventAttributes {
  readonly specversion: '1.0';
  readonly id: string;
  readonly source: string;
  readonly type: string;
  readonly time: string;
  readonly datacontenttype: string;
  readonly partitionkey?: string;
  readonly traceparent?: string;
  readonly tracestate?: string;
}

export interface EncodedCloudEvent {
  readonly mode: CloudEventsMode;
  readonly attributes: CloudEventAttributes;
  /** The event's other headers, carried as plain protocol metadata under their own names. */
  readonly headers: Readonly<Record<string, string>>;
  /** Binary mode: the data. Structured mode: the JSON CloudEvent. */
  readonly body: Buffer;
  /** The protocol's content type: `datacontenttype`, or the structured media type. */
  readonly contentType: string;
}

/** Header names that the mapping owns: an event header of this name is not copied as is. */
const RESERVED_HEADERS = new Set([
  'specversion',
  'id',
  'source',
  'type',
  'time',
  'subject',
  'dataschema',
  'datacontenttype',
  'partitionkey',
  'content-type',
  'content-length',
  'host',
  'idempotency-key',
  'nats-msg-id',
]);

/** Validates CloudEvents options; throws a TypeError naming the option. */
export function resolveCloudEventsOptions(options: CloudEventsOptions = {}) {
  const source = options.source ?? DEFAULT_SOURCE;
  if (typeof source !== 'string' || source.length === 0) {
    throw new TypeError(
      `cloudEvents.source must be a non-empty URI-reference, got ${JSON.stringify(source)}`,
    );
  }

  const mode = options.mode ?? 'binary';
  if (mode !== 'binary' && mode !== 'structured') {
    throw new TypeError(
      `cloudEvents.mode must be "binary" or "structured", got ${JSON.stringify(mode)}`,
    );
  }

  return { source, mode } as const;
}

function isJsonContentType(contentType: string): boolean {
  const media = contentType.split(';', 1)[0]!.trim().toLowerCase();

  return media === JSON_CONTENT_TYPE || media.endsWith('+json') || media === 'text/json';
}

/** The last `createdAt` rendered: the events of one batch often share their creation time. */
let lastTime = Number.NaN;
let lastTimeText = '';

function rfc3339(date: Date): string {
  const ms = date.getTime();
  if (ms !== lastTime) {
    lastTimeText = date.toISOString();
    lastTime = ms;
  }

  return lastTimeText;
}

/** An event's CloudEvents attributes, other headers and data, the data still text. */
export interface CloudEventParts {
  readonly attributes: CloudEventAttributes;
  /** The event's other headers, carried as plain protocol metadata under their own names. */
  readonly headers: Readonly<Record<string, string>>;
  /** The data as text: JSON, or the producer's string under its own content type. */
  readonly data: string;
}

/**
 * Maps an outbox event to its binary-mode parts with the data as text, for a protocol that
 * carries text (Redis stream fields): `encodeCloudEvent` in binary mode without the bytes.
 */
export function cloudEventParts(event: OutboxEvent, source: string): CloudEventParts {
  const { attributes, headers, raw } = mapEvent(event, source);

  return { attributes, headers, data: dataText(event, raw) };
}

/** The data: the payload string as is when `raw`, else the payload as JSON. */
function dataText(event: OutboxEvent, raw: boolean): string {
  return raw ? (event.payload as string) : JSON.stringify(event.payload ?? null);
}

/** The attributes and headers of an event; `raw`: its data is the payload string as is. */
function mapEvent(event: OutboxEvent, source: string) {
  // The data: JSON unless the producer named another content type and gave a string.
  const given = event.headers['content-type'];
  let datacontenttype = JSON_CONTENT_TYPE;
  let raw = false;
  if (given !== undefined) {
    const json = isJsonContentType(given);
    raw = typeof event.payload === 'string' && !json;
    if (raw || json) datacontenttype = given;
  }

  const attributes: Record<string, string> = {
    specversion: '1.0',
    id: event.id,
    source,
    type: event.type,
    time: rfc3339(event.createdAt),
    datacontenttype,
  };
  if (event.key !== null) attributes.partitionkey = event.key;

  // Headers: tracing ones become extension attributes, the rest travel under their own names.
  const headers: Record<string, string> = {};
  const eventHeaders = event.headers;
  for (const name in eventHeaders) {
    const value = eventHeaders[name]!;
    const lower = name.toLowerCase();
    if (lower === 'traceparent' || lower === 'tracestate') attributes[lower] = value;
    if (RESERVED_HEADERS.has(lower) || lower.startsWith('ce-') || lower.startsWith('ce_')) {
      continue;
    }

    headers[lower] = value;
  }

  return { attributes: attributes as unknown as CloudEventAttributes, headers, raw };
}

/** Maps an outbox event to CloudEvents attributes, body and protocol content type. */
export function encodeCloudEvent(
  event: OutboxEvent,
  options: { source: string; mode: CloudEventsMode },
): EncodedCloudEvent {
  const { attributes, headers, raw } = mapEvent(event, options.source);
  if (options.mode === 'binary') {
    const body = Buffer.from(dataText(event, raw), 'utf8');

    return { mode: 'binary', attributes, headers, body, contentType: attributes.datacontenttype };
  }

  // The structured envelope holds the data as JSON, not as the text of JSON.
  const envelope = { ...attributes, data: event.payload ?? null };

  return {
    mode: 'structured',
    attributes,
    headers,
    body: Buffer.from(JSON.stringify(envelope), 'utf8'),
    contentType: STRUCTURED_CONTENT_TYPE,
  };
}

/** The attributes as name/value pairs, `datacontenttype` left out (the protocol carries it). */
export function attributeEntries(attributes: CloudEventAttributes): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  const all = attributes as unknown as Record<string, string | undefined>;
  for (const name in all) {
    const value = all[name];
    if (name !== 'datacontenttype' && typeof value === 'string') out.push([name, value]);
  }

  return out;
}

/** Header values that the HTTP binding leaves as they are: printable ASCII but `"` and `%`. */
const PLAIN_HEADER_VALUE = /^[\x21\x23\x24\x26-\x7e]*$/;

/**
 * The HTTP binding's encoding of a header value: printable ASCII stays, space, `"`, `%` and
 * everything else are percent-encoded as UTF-8.
 */
export function percentEncodeHeaderValue(value: string): string {
  if (PLAIN_HEADER_VALUE.test(value)) return value;

  let out = '';
  for (const byte of Buffer.from(value, 'utf8')) {
    const printable = byte > 0x20 && byte < 0x7f && byte !== 0x22 && byte !== 0x25;
    out += printable ? String.fromCharCode(byte) : `%${byte.toString(16).toUpperCase()}`;
  }

  return out;
}

/** Prefixed attribute names per prefix, built once: the hot path only looks them up. */
const prefixedNames = new Map<string, Map<string, string>>();

function namesFor(prefix: string): Map<string, string> {
  let names = prefixedNames.get(prefix);
  if (names === undefined) {
    names = new Map();
    if (prefixedNames.size < 16) prefixedNames.set(prefix, names);
  }

  return names;
}

/**
 * Binary-mode metadata for bindings that prefix attribute names: HTTP and NATS use `ce-`,
 * AMQP `cloudEvents:` (or `cloudEvents_`), MQTT 5 none. Structured mode carries no attribute.
 * The entries are added to `into` (a new object by default), which is returned.
 */
export function prefixedAttributes(
  encoded: EncodedCloudEvent,
  prefix: string,
  encodeValue?: (value: string) => string,
  into: Record<string, unknown> = {},
): Record<string, string> {
  if (encoded.mode !== 'binary') return into as Record<string, string>;

  const names = namesFor(prefix);
  const all = encoded.attributes as unknown as Record<string, string | undefined>;
  for (const name in all) {
    const value = all[name];
    if (name === 'datacontenttype' || typeof value !== 'string') continue;

    let prefixed = names.get(name);
    if (prefixed === undefined) {
      prefixed = prefix + name;
      names.set(name, prefixed);
    }

    into[prefixed] = encodeValue === undefined ? value : encodeValue(value);
  }

  return into as Record<string, string>;
}
