import { Events, connect, headers as natsHeaders } from 'nats';
import type { MsgHdrs, NatsConnection } from 'nats';
import type { OutboxEvent } from '../event.js';
import { PublishError } from './contract.js';
import type { Publisher, PublishOptions } from './contract.js';
import { encodeCloudEvent, prefixedAttributes, resolveCloudEventsOptions } from './cloudevents.js';
import type { CloudEventsMode, CloudEventsOptions } from './cloudevents.js';
import { Connector } from './connector.js';
import { closedError, toPublishError } from './errors.js';
import { PublisherLifecycle } from './lifecycle.js';
import { JetStreamAcks } from './nats-acks.js';
import { DEFAULT_CONNECT_TIMEOUT_MS, positiveNumber, publisherUrl } from './options.js';
import type { TlsOptions } from './options.js';
import { redactUrl } from './redact.js';
import { RouteTable, renderTemplate, validateTemplate } from './routing.js';
import type { RouteMap } from './routing.js';

export interface NatsPublisherOptions {
  /** Milliseconds `close()` waits for outstanding confirmations before it closes the
   * connection under them. Default: 5000. */
  closeTimeoutMs?: number;
  /** Subject template per event type (see `RouteMap`); `{type}` and `{key}` are replaced. */
  routes?: RouteMap<string>;
  /** The subject template of types the routes do not name. Default: `outbox.{type}`. */
  subject?: string;
  /** CloudEvents source and content mode (binary: attributes as `ce-` headers). */
  cloudEvents?: CloudEventsOptions;
  /** Milliseconds to wait for JetStream's acknowledgement of a publish (an overdue one is
   * noticed within `ACK_SWEEP_MS`, 100 ms, after). Default: 5000. */
  ackTimeoutMs?: number;
  /** Milliseconds to wait for the connection. Default: 10000. */
  connectTimeoutMs?: number;
  /** Milliseconds between reconnection attempts after the server went away. Default: 250. */
  reconnectWaitMs?: number;
  /** TLS settings, for a server that requires TLS. */
  tls?: TlsOptions;
}

const BAD_SUBJECT = /[\s*>]|^\.|\.$|\.\./;

function checkSubject(template: unknown, where: string): string {
  const value = validateTemplate(template, where);
  if (BAD_SUBJECT.test(value.replace(/\{(type|key)\}/g, 'x'))) {
    throw new TypeError(
      `${where} must be a NATS subject without wildcards, spaces or empty tokens, got ` +
        JSON.stringify(value),
    );
  }

  return value;
}

/** A subject a template produces, for start-up checks: the type a pattern would match. */
function sampleSubject(template: string, type: string): string {
  return template.replaceAll('{type}', type).replaceAll('{key}', 'key');
}

/**
 * The kind of what the client throws at once: a bad header or subject, or a payload over the
 * server's maximum, is the message's own fault; anything else may pass later. (The stream's
 * answers are classified by `JetStreamAcks`.)
 */
function classify(error: unknown): 'retryable' | 'permanent' {
  const code = (error as { code?: unknown }).code;
  const own = code === 'BAD_HEADER' || code === 'BAD_SUBJECT' || code === 'MAX_PAYLOAD_EXCEEDED';

  return own ? 'permanent' : 'retryable';
}

/** One connection and what rides on it. */
interface Live {
  connection: NatsConnection;
  acks: JetStreamAcks;
  /** Set while the client is reconnecting: publishes are refused at once meanwhile. */
  down: boolean;
}

/**
 * Publishes to NATS JetStream. Each publish resolves on the stream's acknowledgement; many run
 * at once on one connection. The event id is the `Nats-Msg-Id`, so the stream drops a publish it
 * has already stored within its duplicate window (and the publish counts as delivered).
 */
export class NatsPublisher implements Publisher {
  readonly name = 'nats';
  readonly #routes: RouteTable<string>;
  readonly #samples: string[];
  readonly #cloudEvents: { source: string; mode: CloudEventsMode };
  readonly #ackTimeoutMs: number;
  readonly #connector: Connector<Live>;
  readonly #lifecycle: PublisherLifecycle;

  constructor(url: string | URL, options: NatsPublisherOptions = {}) {
    this.#lifecycle = new PublisherLifecycle(this.name, options.closeTimeoutMs);
    const parsed = publisherUrl(url, ['nats:']);
    const fallback = checkSubject(options.subject ?? 'outbox.{type}', 'nats.subject');
    this.#routes = new RouteTable('nats.routes', options.routes, fallback, checkSubject);
    this.#samples = [sampleSubject(fallback, 'type')];
    for (const [pattern, template] of Object.entries(options.routes ?? {})) {
      const type = pattern === '*' ? 'type' : pattern.replace(/\*$/, 'type');
      this.#samples.push(sampleSubject(checkSubject(template, 'nats.routes'), type));
    }

    this.#cloudEvents = resolveCloudEventsOptions(options.cloudEvents);
    this.#ackTimeoutMs = positiveNumber('nats.ackTimeoutMs', options.ackTimeoutMs, 5000);
    const timeout = positiveNumber(
      'nats.connectTimeoutMs',
      options.connectTimeoutMs,
      DEFAULT_CONNECT_TIMEOUT_MS,
    );
    const reconnectTimeWait = positiveNumber('nats.reconnectWaitMs', options.reconnectWaitMs, 250);
    const server = `${parsed.hostname}:${parsed.port || '4222'}`;
    const auth =
      parsed.password !== ''
        ? { user: decodeURIComponent(parsed.username), pass: decodeURIComponent(parsed.password) }
        : parsed.username !== ''
          ? { token: decodeURIComponent(parsed.username) }
          : {};
    const tls = options.tls ? { tls: { ...options.tls } } : {};

    this.#connector = new Connector<Live>({
      describe: redactUrl(parsed),
      open: async () => {
        const connection = await connect({
          servers: server,
          name: 'outbox-dispatcher',
          timeout,
          reconnectTimeWait,
          maxReconnectAttempts: -1,
          ...auth,
          ...(tls as object),
        });
        try {
          await this.#checkStreams(connection);
        } catch (error) {
          await connection.close().catch(() => undefined);
          throw error;
        }

        const live: Live = {
          connection,
          acks: new JetStreamAcks(connection, this.#ackTimeoutMs),
          down: false,
        };
        void this.#watch(live);
        void connection.closed().then(() => {
          live.acks.close();
          this.#connector.lost(live);
        });

        return live;
      },
      close: async (live) => {
        await live.connection.drain().catch(() => live.connection.close());
      },
    });
  }

  /** Every routed subject must be captured by a stream, or publishes would find no one. */
  async #checkStreams(connection: NatsConnection): Promise<void> {
    const manager = await connection.jetstreamManager();
    for (const subject of this.#samples) {
      try {
        await manager.streams.find(subject);
      } catch (error) {
        throw new PublishError(
          `no JetStream stream captures the subject ${JSON.stringify(subject)} of nats.routes ` +
            'or nats.subject: create a stream for it first',
          'permanent',
          { cause: error },
        );
      }
    }
  }

  /**
   * Follows the connection's status: when it is lost, the publishes waiting for their
   * acknowledgement fail as retryable at once (the server's answers to them are gone with it),
   * and new publishes are refused until the client has reconnected.
   */
  async #watch(live: Live): Promise<void> {
    for await (const status of live.connection.status()) {
      if (status.type === Events.Disconnect) {
        live.down = true;
        live.acks.failAll(
          (id) => `the connection to NATS was lost before event ${id} was acknowledged`,
        );
      } else if (status.type === Events.Reconnect) live.down = false;
    }
  }

  /** Connects (when not connected) and checks that a stream captures each routed subject. */
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

  #publishOn(live: Live, event: OutboxEvent, options: PublishOptions): Promise<void> {
    const context = () => `event ${event.id} to NATS`;

    return this.#lifecycle.inFlight.track(this.#send(live, event), options, context);
  }

  #send(live: Live, event: OutboxEvent): Promise<void> {
    const subject = renderTemplate(this.#routes.resolve(event.type), event);
    if (BAD_SUBJECT.test(subject)) {
      return Promise.reject(
        new PublishError(
          `event ${event.id} renders the invalid NATS subject ${JSON.stringify(subject)}`,
          'permanent',
        ),
      );
    }

    if (live.down) {
      return Promise.reject(
        new PublishError(
          `event ${event.id} was not published: the connection to NATS is lost, reconnecting`,
          'retryable',
        ),
      );
    }

    try {
      const encoded = encodeCloudEvent(event, this.#cloudEvents);
      const headers: MsgHdrs = natsHeaders();
      for (const name in encoded.headers) headers.set(name, encoded.headers[name]!);
      const attributes = prefixedAttributes(encoded, 'ce-');
      for (const name in attributes) headers.set(name, attributes[name]!);
      headers.set('content-type', encoded.contentType);
      headers.set('Nats-Msg-Id', event.id);

      return live.acks.publish(subject, encoded.body, headers, event.id);
    } catch (error) {
      // The client throws at once for a bad header or a payload over the server's maximum.
      return Promise.reject(
        toPublishError(error, `JetStream publish of event ${event.id}`, classify(error)),
      );
    }
  }

  close(): Promise<void> {
    return this.#lifecycle.close(() => this.#connector.close());
  }
}
