import amqp from 'amqplib';
import type { ChannelModel, ConfirmChannel, Message } from 'amqplib';
import type { OutboxEvent } from '../event.js';
import { PublishError } from './contract.js';
import type { Publisher, PublishOptions } from './contract.js';
import { AmqpProperties } from './amqp-properties.js';
import { encodeCloudEvent, resolveCloudEventsOptions } from './cloudevents.js';
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

/** Where one event type goes on RabbitMQ. */
export interface AmqpRoute {
  /** The exchange; `""` is the default exchange (routing key = queue name). */
  exchange: string;
  /** The routing key template: `{type}` and `{key}` are replaced. Default: `{type}`. */
  routingKey?: string;
}

export interface AmqpPublisherOptions {
  /** Milliseconds `close()` waits for outstanding confirmations before it closes the
   * connection under them. Default: 5000. */
  closeTimeoutMs?: number;
  /** Exchange and routing key per event type (see `RouteMap`). A string names the exchange. */
  routes?: RouteMap<AmqpRoute | string>;
  /** The exchange of types the routes do not name. Default: `outbox`. */
  exchange?: string;
  /** The routing key template of types the routes do not name. Default: `{type}`. */
  routingKey?: string;
  /**
   * Declare every routed exchange (durable, of this type) at connection; `false` only checks
   * that each exists. Either way a missing or mismatched exchange fails at start-up. Default:
   * `topic`.
   */
  declareExchanges?: 'topic' | 'direct' | 'fanout' | 'headers' | false;
  /** CloudEvents source and content mode (binary: attributes as message headers). */
  cloudEvents?: CloudEventsOptions;
  /** Prefix of the CloudEvents attributes among the headers: the AMQP binding's
   * `cloudEvents:`, or `cloudEvents_` for JMS-style consumers. Default: `cloudEvents:`. */
  headerPrefix?: 'cloudEvents:' | 'cloudEvents_';
  /** Messages survive a broker restart (delivery mode 2). Default: `true`. */
  persistent?: boolean;
  /** Milliseconds to wait for the TCP and AMQP handshake. Default: 10000. */
  connectTimeoutMs?: number;
  /** Heartbeat interval in seconds; `0` disables heartbeats. Default: 10. */
  heartbeatSeconds?: number;
  /** TLS settings for `amqps:` URLs. */
  tls?: TlsOptions;
}

const EXCHANGE_TYPES = new Set(['topic', 'direct', 'fanout', 'headers']);

interface Live {
  model: ChannelModel;
  channel: ConfirmChannel;
  /** Publishes waiting for their confirm, failed all at once if the channel dies. */
  pending: Set<(error: PublishError) => void>;
  /** Message ids returned as unroutable whose confirm has not arrived yet. */
  returned: Map<string, number>;
  /** Why RabbitMQ blocked the connection (a memory or disk alarm), while it does. */
  blocked: string | undefined;
}

function checkRoute(option: string, template: string) {
  return (route: AmqpRoute | string, where: string): Required<AmqpRoute> => {
    const value = typeof route === 'string' ? { exchange: route } : route;
    if (typeof value !== 'object' || value === null || typeof value.exchange !== 'string') {
      throw new TypeError(
        `${where} must be an exchange name or { exchange, routingKey }, got ` +
          JSON.stringify(route),
      );
    }

    const routingKey =
      value.routingKey === undefined
        ? template
        : validateTemplate(value.routingKey, `${where}.routingKey`);
    if (routingKey.length > 255) {
      throw new TypeError(`${where}.routingKey is longer than AMQP's 255 bytes (${option})`);
    }

    return { exchange: value.exchange, routingKey };
  };
}

/**
 * Publishes to RabbitMQ (AMQP 0-9-1) on one confirm channel, with many messages in flight: each
 * publish resolves on its own broker confirm. Messages are mandatory, so one that no queue takes
 * is returned and fails as permanent rather than vanishing. The event id is the `messageId`.
 */
export class AmqpPublisher implements Publisher {
  readonly name = 'amqp';
  readonly #url: string;
  readonly #routes: RouteTable<Required<AmqpRoute>, AmqpRoute | string>;
  readonly #declare: AmqpPublisherOptions['declareExchanges'];
  readonly #cloudEvents: { source: string; mode: CloudEventsMode };
  readonly #properties: AmqpProperties;
  readonly #connector: Connector<Live>;
  readonly #lifecycle: PublisherLifecycle;

  constructor(url: string | URL, options: AmqpPublisherOptions = {}) {
    this.#lifecycle = new PublisherLifecycle(this.name, options.closeTimeoutMs);
    const parsed = publisherUrl(url, ['amqp:', 'amqps:']);
    const heartbeat = options.heartbeatSeconds ?? 10;
    if (!Number.isInteger(heartbeat) || heartbeat < 0) {
      throw new RangeError(
        `amqp.heartbeatSeconds must be a non-negative integer, got ${heartbeat}`,
      );
    }

    if (!parsed.searchParams.has('heartbeat')) {
      parsed.searchParams.set('heartbeat', String(heartbeat));
    }

    this.#url = parsed.toString();
    const template = validateTemplate(options.routingKey ?? '{type}', 'amqp.routingKey');
    const fallback = checkRoute('amqp.routes', template)(
      { exchange: options.exchange ?? 'outbox' },
      'amqp.exchange',
    );
    this.#routes = new RouteTable(
      'amqp.routes',
      options.routes,
      fallback,
      checkRoute('amqp.routes', template),
    );
    const declare = options.declareExchanges ?? 'topic';
    if (declare !== false && !EXCHANGE_TYPES.has(declare)) {
      throw new TypeError(
        `amqp.declareExchanges must be false or one of topic, direct, fanout, headers, got ` +
          JSON.stringify(declare),
      );
    }

    this.#declare = declare;
    this.#cloudEvents = resolveCloudEventsOptions(options.cloudEvents);
    const prefix = options.headerPrefix ?? 'cloudEvents:';
    if (prefix !== 'cloudEvents:' && prefix !== 'cloudEvents_') {
      throw new TypeError(`amqp.headerPrefix must be "cloudEvents:" or "cloudEvents_"`);
    }

    this.#properties = new AmqpProperties(prefix, options.persistent ?? true);
    const timeout = positiveNumber(
      'amqp.connectTimeoutMs',
      options.connectTimeoutMs,
      DEFAULT_CONNECT_TIMEOUT_MS,
    );
    this.#connector = new Connector<Live>({
      describe: redactUrl(parsed),
      open: () => this.#open({ timeout, ...options.tls }),
      close: async (live) => {
        await live.channel.close().catch(() => undefined);
        await live.model.close();
      },
    });
  }

  async #open(socketOptions: Record<string, unknown>): Promise<Live> {
    const model = await amqp.connect(this.#url, socketOptions);
    model.on('error', () => undefined);
    try {
      await this.#checkExchanges(model);
      const channel = await model.createConfirmChannel();
      const live: Live = {
        model,
        channel,
        pending: new Set(),
        returned: new Map(),
        blocked: undefined,
      };
      model.on('blocked', (reason: string) => (live.blocked = reason || 'resource alarm'));
      model.on('unblocked', () => (live.blocked = undefined));
      const lost = (error?: Error) => this.#lost(live, error);
      model.on('close', lost);
      channel.on('close', lost);
      channel.on('error', lost);
      channel.on('return', (message: Message) => {
        const id = String(message.properties.messageId);
        live.returned.set(id, (live.returned.get(id) ?? 0) + 1);
      });

      return live;
    } catch (error) {
      await model.close().catch(() => undefined);
      throw error;
    }
  }

  /** Declares or checks every routed exchange, each on a throwaway channel (a failed check
   * closes its channel). */
  async #checkExchanges(model: ChannelModel): Promise<void> {
    const exchanges = new Set(this.#routes.routes().map((route) => route.exchange));
    exchanges.delete('');
    for (const exchange of exchanges) {
      const channel = await model.createChannel();
      channel.on('error', () => undefined);
      try {
        if (this.#declare === false) await channel.checkExchange(exchange);
        else await channel.assertExchange(exchange, this.#declare!, { durable: true });
        await channel.close();
      } catch (error) {
        const detail = error instanceof Error ? error.message : String(error);
        const what =
          this.#declare === false
            ? 'does not exist (declare it, or set amqp.declareExchanges)'
            : `cannot be declared as a durable ${this.#declare} exchange`;
        throw new PublishError(
          `the AMQP exchange ${JSON.stringify(exchange)} of amqp.routes ${what}: ${detail}`,
          'permanent',
          { cause: error },
        );
      }
    }
  }

  #lost(live: Live, error?: Error): void {
    this.#connector.lost(live);
    const failure = toPublishError(
      error ?? new Error('the channel closed'),
      'the AMQP connection was lost before the broker confirmed',
    );
    for (const fail of [...live.pending]) fail(failure);
    live.pending.clear();
    live.model.close().catch(() => undefined);
  }

  /** Connects (when not connected) and declares or checks the routed exchanges. */
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
   * Sends one message and settles on its confirm: one promise, one confirm callback and one
   * in-flight ticket per publish (this runs hundreds of times at once).
   */
  #publishOn(live: Live, event: OutboxEvent, options: PublishOptions): Promise<void> {
    if (live.blocked !== undefined) {
      // Nothing would be confirmed until the alarm clears: push back instead of piling up.
      return Promise.reject(
        new PublishError(
          `RabbitMQ blocked publishing (${live.blocked}); event ${event.id} not sent`,
          'overload',
        ),
      );
    }

    const route = this.#routes.resolve(event.type);
    const routingKey = renderTemplate(route.routingKey, event);
    const encoded = encodeCloudEvent(event, this.#cloudEvents);
    const inFlight = this.#lifecycle.inFlight;

    return new Promise<void>((resolve, reject) => {
      let ticket: Ticket | undefined;
      // Settles once: on the confirm, a lost channel, or a message amqplib refuses.
      const settle = (error: PublishError | undefined) => {
        if (ticket === undefined) return;

        inFlight.finish(ticket);
        ticket = undefined;
        live.pending.delete(settle);
        if (error === undefined) resolve();
        else reject(error);
      };
      const confirmed = (error: unknown) => {
        const returned = live.returned.get(event.id) ?? 0;
        if (returned > 0) {
          if (returned === 1) live.returned.delete(event.id);
          else live.returned.set(event.id, returned - 1);
          settle(
            new PublishError(
              `RabbitMQ returned event ${event.id}: no queue is bound to exchange ` +
                `${JSON.stringify(route.exchange)} for routing key ${JSON.stringify(routingKey)}`,
              'permanent',
            ),
          );
        } else if (error instanceof Error && error.message === 'message nacked') {
          settle(
            new PublishError(`RabbitMQ refused event ${event.id} (nack)`, 'overload', {
              cause: error,
            }),
          );
        } else if (error) {
          // The channel closed before the confirm came: not a refusal, just not confirmed.
          settle(toPublishError(error, `event ${event.id} was not confirmed by RabbitMQ`));
        } else settle(undefined);
      };
      ticket = inFlight.start(options, (signal) =>
        reject(abortedError(signal, `event ${event.id} to RabbitMQ`)),
      );
      live.pending.add(settle);
      try {
        // The properties are valid until the next publish: amqplib encodes them in this call.
        const properties = this.#properties.of(event, encoded);
        live.channel.publish(route.exchange, routingKey, encoded.body, properties, confirmed);
      } catch (error) {
        // amqplib throws synchronously for a message it cannot encode (headers over 64 KiB).
        const kind = error instanceof RangeError || error instanceof TypeError;
        settle(toPublishError(error, `event ${event.id}`, kind ? 'permanent' : 'retryable'));
      }
    });
  }

  close(): Promise<void> {
    return this.#lifecycle.close(() => this.#connector.close());
  }
}
