import type { Options } from 'amqplib';
import type { OutboxEvent } from '../event.js';
import { prefixedAttributes } from './cloudevents.js';
import type { EncodedCloudEvent } from './cloudevents.js';

/** Header names one reused table may hold before it is replaced by a fresh one. */
const MAX_HEADER_NAMES = 32;

/**
 * The properties of the message being published, in one object reused by every publish.
 *
 * amqplib reads a message's properties only while `channel.publish` runs (it encodes them into
 * the frame there and keeps nothing), so one object can serve every message. What this saves is
 * in the headers: amqplib makes each message's header table a new object whose prototype is the
 * headers given. A fresh headers object per message becomes a prototype each time, which costs
 * V8 a new hidden class per message and makes every read of the table during encoding a slow
 * one; the same object, already a prototype, keeps one hidden class.
 *
 * The headers of the previous message that this one does not carry are set to `undefined`,
 * which amqplib leaves out of the table. A table that has collected more than
 * `MAX_HEADER_NAMES` names (events with many different headers) is replaced by a fresh one.
 */
export class AmqpProperties {
  readonly #properties: Options.Publish;
  #headers: Record<string, unknown> = {};
  readonly #prefix: string;

  /**
   * @param prefix the prefix of the CloudEvents attributes among the headers (`cloudEvents:`).
   * @param persistent delivery mode 2 (the publisher's `persistent` option).
   */
  constructor(prefix: string, persistent: boolean) {
    this.#prefix = prefix;
    this.#properties = {
      mandatory: true,
      persistent,
      messageId: undefined,
      type: undefined,
      contentType: undefined,
      timestamp: undefined,
      headers: this.#headers,
    };
  }

  /**
   * The properties of `event`: its id as `messageId`, its type, the content type, the creation
   * time in seconds, and as headers the event's own headers and, in binary mode, the CloudEvents
   * attributes under the prefix. Valid until the next call: pass it to `channel.publish` at once.
   */
  of(event: OutboxEvent, encoded: EncodedCloudEvent): Options.Publish {
    const headers = this.#clear();
    for (const name in encoded.headers) headers[name] = encoded.headers[name];
    prefixedAttributes(encoded, this.#prefix, undefined, headers);

    const properties = this.#properties;
    properties.messageId = event.id;
    properties.type = event.type;
    properties.contentType = encoded.contentType;
    properties.timestamp = Math.floor(event.createdAt.getTime() / 1000);
    properties.headers = headers;

    return properties;
  }

  /** The table with the previous message's headers unset, or a fresh one when it grew large. */
  #clear(): Record<string, unknown> {
    const headers = this.#headers;
    let names = 0;
    for (const name in headers) {
      headers[name] = undefined;
      names += 1;
    }
    if (names <= MAX_HEADER_NAMES) return headers;

    this.#headers = {};

    return this.#headers;
  }
}
