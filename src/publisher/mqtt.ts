import { randomBytes } from 'node:crypto';
import mqtt from 'mqtt';
import type { IClientOptions, IConnackPacket, MqttClient } from 'mqtt';
import type { OutboxEvent } from '../event.js';
import { PublishError } from './contract.js';
import type { Publisher, PublishOptions } from './contract.js';
import { attributeEntries, encodeCloudEvent, resolveCloudEventsOptions } from './cloudevents.js';
import type { CloudEventsMode, CloudEventsOptions } from './cloudevents.js';
import { Connector } from './connector.js';
import { abortedError, closedError, toPublishError } from './errors.js';
import type { Ticket } from './in-flight.js';
import { PublisherLifecycle } from './lifecycle.js';
import { DEFAULT_CONNECT_TIMEOUT_MS, positiveNumber, publisherUrl } from './options.js';
import type { TlsOptions } from './options.js';
import { redactUrl } from './redact.js';
import { RouteTable, renderTemplate, validateTemplate } from './routing.js';
import type { RouteMap } from './routing.js';

export interface MqttPublisherOptions {
  /** Milliseconds `close()` waits for outstanding confirmations before it closes the
   * connection under them. Default: 5000. */
  closeTimeoutMs?: number;
  /** Topic template per event type (see `RouteMap`); `{type}` and `{key}` are replaced. */
  routes?: RouteMap<string>;
  /** The topic template of types the routes do not name. Default: `outbox/{type}`. */
  topic?: string;
  /** CloudEvents source and content mode (binary: attributes as MQTT 5 user properties). */
  cloudEvents?: CloudEventsOptions;
  /** The client id. Default: `outbox-` and random hex. */
  clientId?: string;
  /** Milliseconds to wait for the connection. Default: 10000. */
  connectTimeoutMs?: number;
  /** Milliseconds between reconnection attempts. Default: 500. */
  reconnectPeriodMs?: number;
  /** Publishes awaiting their PUBACK at once, further capped by the broker's Receive Maximum.
   * Default: 1000. */
  maxInFlight?: number;
  /** TLS settings for `mqtts:` URLs. */
  tls?: TlsOptions;
}

const WILDCARD = /[+#]|\0/;

function checkTopic(template: unknown, where: string): string {
  const value = validateTemplate(template, where);
  if (WILDCARD.test(value) || value.startsWith('$')) {
    throw new TypeError(
      `${where} must be an MQTT topic without wildcards (+, #) that does not start with $, got ` +
        JSON.stringify(value),
    );
  }

  return value;
}

/** PUBACK reason codes that a retry cannot fix; quota exceeded (0x97) is overload. */
function classify(error: unknown): 'retryable' | 'permanent' | 'overload' {
  const code = (error as { code?: unknown }).code;
  if (typeof code !== 'number') return 'retryable';
  if (code === 0x97 || code === 0x89) return 'overload';

  return code >= 0x80 && code !== 0x80 && code !== 0x83 ? 'permanent' : 'retryable';
}

interface Live {
  client: MqttClient;
  window: number;
}

/**
 * Publishes to an MQTT 5 broker at QoS 1 and counts an event delivered on its PUBACK. Many
 * publishes are in flight at once, up to the broker's Receive Maximum; the client resends
 * unacknowledged ones after a reconnection. The event id travels as the `id` user property.
 */
export class MqttPublisher implements Publisher {
  readonly name = 'mqtt';
  readonly #routes: RouteTable<string>;
  readonly #cloudEvents: { source: string; mode: CloudEventsMode };
  readonly #maxInFlight: number;
  readonly #connector: Connector<Live>;
  readonly #lifecycle: PublisherLifecycle;
  readonly #waiting: Array<() => void> = [];
  #active = 0;

  constructor(url: string | URL, options: MqttPublisherOptions = {}) {
    this.#lifecycle = new PublisherLifecycle(this.name, options.closeTimeoutMs);
    const parsed = publisherUrl(url, ['mqtt:', 'mqtts:']);
    const fallback = checkTopic(options.topic ?? 'outbox/{type}', 'mqtt.topic');
    this.#routes = new RouteTable('mqtt.routes', options.routes, fallback, checkTopic);
    this.#cloudEvents = resolveCloudEventsOptions(options.cloudEvents);
    this.#maxInFlight = positiveNumber('mqtt.maxInFlight', options.maxInFlight, 1000);
    const clientOptions: IClientOptions = {
      protocolVersion: 5,
      clean: true,
      clientId: options.clientId ?? `outbox-${randomBytes(6).toString('hex')}`,
      connectTimeout: positiveNumber(
        'mqtt.connectTimeoutMs',
        options.connectTimeoutMs,
        DEFAULT_CONNECT_TIMEOUT_MS,
      ),
      reconnectPeriod: positiveNumber('mqtt.reconnectPeriodMs', options.reconnectPeriodMs, 500),
      ...(options.tls as object),
    };

    this.#connector = new Connector<Live>({
      describe: redactUrl(parsed),
      open: () => this.#open(parsed.toString(), clientOptions),
      close: (live) => live.client.endAsync(),
    });
  }

  #open(url: string, options: IClientOptions): Promise<Live> {
    return new Promise<Live>((resolve, reject) => {
      const client = mqtt.connect(url, options);
      const fail = (error: Error) => {
        clearTimeout(timer);
        client.end(true);
        reject(error);
      };
      // The client retries by itself; give up on this attempt when no CONNACK came in time.
      const limit = (options.connectTimeout ?? DEFAULT_CONNECT_TIMEOUT_MS) + 1000;
      const timer = setTimeout(() => fail(new Error(`no CONNACK within ${limit} ms`)), limit);
      client.once('error', fail);
      client.once('connect', (connack: IConnackPacket) => {
        clearTimeout(timer);
        client.off('error', fail);
        client.on('error', () => undefined);
        const window = connack.properties?.receiveMaximum ?? 65_535;
        resolve({ client, window: Math.min(window, this.#maxInFlight) });
      });
    });
  }

  /** Connects (when not connected). */
  async check(signal?: AbortSignal): Promise<void> {
    await this.#connector.get(signal);
  }

  publish(event: OutboxEvent, options: PublishOptions): Promise<void> {
    if (this.#lifecycle.closed) return Promise.reject(closedError(this.name));

    return this.#connector.send(this.#sendOn, event, options);
  }

  /** `#publishOn`, bound once for the connector. */
  readonly #sendOn = (live: Live, event: OutboxEvent, options: PublishOptions): Promise<void> =>
    this.#publishOn(live, event, options);

  /**
   * Sends on `live` once there is room in its window (at once, or when an earlier publish is
   * acknowledged), and settles on the PUBACK. One promise and one in-flight ticket cover both
   * the wait and the send, so a waiting publish does not read its signal either.
   */
  #publishOn(live: Live, event: OutboxEvent, options: PublishOptions): Promise<void> {
    const inFlight = this.#lifecycle.inFlight;

    return new Promise<void>((resolve, reject) => {
      let ticket: Ticket | undefined;
      let waiting: (() => void) | undefined;
      const settle = (error: PublishError | undefined) => {
        if (ticket === undefined) return;

        inFlight.finish(ticket);
        ticket = undefined;
        if (error === undefined) resolve();
        else reject(error);
      };
      const send = () => {
        waiting = undefined;
        this.#active += 1;
        this.#send(live, event).then(
          () => {
            this.#release();
            settle(undefined);
          },
          (error: unknown) => {
            this.#release();
            settle(toPublishError(error, `event ${event.id} to MQTT`));
          },
        );
      };
      let aborted = false;
      ticket = inFlight.start(options, (signal) => {
        aborted = true;
        const error = abortedError(signal, `event ${event.id} to MQTT`);
        if (waiting === undefined) {
          // Sent already: rejected now, counted in flight until the PUBACK or its failure.
          reject(error);

          return;
        }

        // Never sent: out of the queue, and no longer in flight.
        const index = this.#waiting.indexOf(waiting);
        if (index >= 0) this.#waiting.splice(index, 1);
        waiting = undefined;
        settle(error);
      });
      // Aborted before the call: rejected already, only the ticket is left to finish.
      if (aborted) settle(undefined);
      else if (this.#active < live.window) send();
      else {
        waiting = send;
        this.#waiting.push(send);
      }
    });
  }

  #release(): void {
    this.#active -= 1;
    this.#waiting.shift()?.();
  }

  #send(live: Live, event: OutboxEvent): Promise<void> {
    const topic = renderTemplate(this.#routes.resolve(event.type), event);
    if (WILDCARD.test(topic)) {
      return Promise.reject(
        new PublishError(
          `event ${event.id} renders the invalid MQTT topic ${JSON.stringify(topic)}`,
          'permanent',
        ),
      );
    }

    const encoded = encodeCloudEvent(event, this.#cloudEvents);
    const userProperties: Record<string, string> = { id: event.id };
    if (encoded.mode === 'binary') {
      for (const [name, value] of attributeEntries(encoded.attributes)) {
        userProperties[name] = value;
      }
    }
    for (const [name, value] of Object.entries(encoded.headers)) userProperties[name] ??= value;

    return new Promise<void>((resolve, reject) => {
      live.client.publish(
        topic,
        encoded.body,
        { qos: 1, properties: { contentType: encoded.contentType, userProperties } },
        (error) => {
          if (error === undefined || error === null) resolve();
          else reject(toPublishError(error, `MQTT publish of event ${event.id}`, classify(error)));
        },
      );
    });
  }

  close(): Promise<void> {
    return this.#lifecycle.close(() => this.#connector.close());
  }
}
