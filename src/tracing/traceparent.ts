/** The fields of a W3C `traceparent` header (version 00). */
export interface TraceParent {
  traceId: string;
  spanId: string;
  /** The trace flags byte (bit 0: sampled). */
  flags: number;
}

const TRACEPARENT = /^([\da-f]{2})-([\da-f]{32})-([\da-f]{16})-([\da-f]{2})(-.*)?$/;

/**
 * Reads a `traceparent` header; `undefined` when absent or malformed (version `ff`, all-zero
 * ids, wrong lengths), in which case the publish starts a trace of its own.
 */
export function parseTraceParent(header: string | undefined): TraceParent | undefined {
  const match = TRACEPARENT.exec(header?.trim().toLowerCase() ?? '');
  if (!match) {
    return undefined;
  }

  const [, version, traceId, spanId, flags, rest] = match;
  if (version === 'ff' || (version === '00' && rest !== undefined)) {
    return undefined;
  }

  if (!traceId || /^0+$/.test(traceId) || !spanId || /^0+$/.test(spanId) || !flags) {
    return undefined;
  }

  return { traceId, spanId, flags: Number.parseInt(flags, 16) };
}

/** Writes a version-00 `traceparent` header. */
export function formatTraceParent(parent: TraceParent): string {
  const flags = (parent.flags & 0xff).toString(16).padStart(2, '0');

  return `00-${parent.traceId}-${parent.spanId}-${flags}`;
}

/** A header's value, whatever the case of its name. */
export function headerValue(
  headers: Readonly<Record<string, string>>,
  name: string,
): string | undefined {
  if (Object.hasOwn(headers, name)) {
    return headers[name];
  }

  const wanted = name.toLowerCase();
  for (const [key, value] of Object.entries(headers)) {
    if (key.toLowerCase() === wanted) {
      return value;
    }
  }

  return undefined;
}
