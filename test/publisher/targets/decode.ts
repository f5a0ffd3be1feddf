// How the targets turn what their consumer read into a `Received`: the same for every protocol
// that carries either CloudEvents content mode.
import type { Received } from '../conformance.js';

/** One message as a target's consumer read it, before decoding. */
export interface Delivered {
  body: string;
  /** The protocol's deduplication field (messageId, Nats-Msg-Id, `id` property...). */
  dedupId: string;
  contentType: string;
  /** The `x-tenant` event header as carried, if it was. */
  tenant: string | undefined;
  /** A binary-mode CloudEvents attribute by its bare name (`id`, `partitionkey`). */
  attribute: (name: string) => string | undefined;
}

/** Decodes a structured-mode body into a `Received`, with the protocol's dedup id. */
export function fromStructured(
  body: string,
  dedupId: string,
  headers: Record<string, string>,
): Received {
  const envelope = JSON.parse(body) as Record<string, unknown>;

  return {
    dedupId,
    id: String(envelope.id),
    type: String(envelope.type),
    source: String(envelope.source),
    time: String(envelope.time),
    key: envelope.partitionkey as string | undefined,
    traceparent: envelope.traceparent as string | undefined,
    contentType: String(envelope.datacontenttype),
    data: envelope.data,
    headers,
  };
}

/** Decodes a message of either content mode: structured by its content type, else binary. */
export function decodeDelivered(message: Delivered): Received {
  const { body, dedupId, contentType, attribute } = message;
  const headers: Record<string, string> = {};
  if (message.tenant !== undefined) headers['x-tenant'] = message.tenant;
  if (contentType.startsWith('application/cloudevents+json')) {
    return fromStructured(body, dedupId, headers);
  }

  return {
    dedupId,
    id: attribute('id') ?? '',
    type: attribute('type') ?? '',
    source: attribute('source') ?? '',
    time: attribute('time') ?? '',
    key: attribute('partitionkey'),
    traceparent: attribute('traceparent'),
    contentType,
    data: JSON.parse(body) as unknown,
    headers,
  };
}
