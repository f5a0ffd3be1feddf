import { Command, Redis } from 'ioredis';
import type { OutboxEvent } from '../event.js';
import { PublishError } from './contract.js';
import type { Publisher, PublishOptions } from './contract.js';
import { cloudEventParts, resolveCloudEventsOptions } from './cloudevents.js';
import { abortedError, closedError, raceSignal, toPublishError } from './errors.js';
import { PublisherLifecycle } from './lifecycle.js';
import type { CloudEventsOptions } from './cloudevents.js';
import {
  DEFAULT_CONNECT_TIMEOUT_MS,
  nonNegativeInteger,
  positiveNumber,
  publisherUrl,
} from './options.js';
import type { TlsOptions } from './options.js';
import { RouteTable, renderTemplate, validateTemplate } from './routing.js';
import type { RouteMap } from './routing.js';
import { APPEND_SCRIPT, AppendBatch, BATCH_SIZE, MAX_ENTRY_ARGUMENTS } from './redis-append.js';
import type { Waiter } from './redis-append.js';

export interface RedisPublisherOptions {
  /** Milliseconds `close()` waits for outstanding confirmations before it closes the
   * connection under them. Default: 5000. */
  closeTimeoutMs?: number;
  /** Stream key template per event type (see `RouteMap`); `{type}` and `{key}` are replaced. */
  routes?: RouteMap<string>;
  /** The stream key template of types the routes do not name. Default: `outbox`. */
  stream?: string;
  /** Trim each stream to about this many entries (`MAXLEN ~`); 0 keeps all. Default: 0. */
  maxLen?: number;
  /**
   * Seconds during which a republished event id is dropped (a `<stream>:dedup:<id>` key is set
   * with the entry, atomically, by a script). 0 turns deduplication off. Default: 0.
   */
  dedupWindowSeconds?: number;
  /** The CloudEvents `source`. Redis always gets one field per attribute (no content mode). */
  cloudEvents?: Pick<CloudEventsOptions, 'source'>;
  /** Milliseconds to wait for the connection. Default: 10000. */
  connectTimeoutMs?: number;
  /** TLS settings for `rediss:` URLs. */
  tls?: TlsOptions;
}

/** Redis answers that a retry cannot fix, and those that mean the server is full. */
function classify(error: unknown): 'retryable' | 'permanent' | 'overload' {
  if (!(error instanceof Error) || error.name !== 'ReplyError') return 'retryable';
  if (/^OOM/.test(error.message)) return 'overload';
  if (/^(LOADING|BUSY|READONLY|TRYAGAIN|MASTERDOWN|CLUSTERDOWN|NOSCRIPT)/.test(error.message)) {
    return 'retryable';
  }

  return 'permanent';
}

/**
 * Appends each event to a Redis stream with `XADD`, one field per CloudEvents attribute plus
 * `data`, and counts it delivered on the reply. Concurrent publishes are appended together: the
 * events of one tick go to Redis in batches, each one call of a script that appends its entries
 * in order and answers with the failed ones (see `APPEND_SCRIPT`), so many are in flight on one
 * connection at the cost of one command per batch.
 */
export class RedisPublisher implements Publisher {
  readonly name = 'redis';
  readonly #redis: Redis;
  readonly #routes: RouteTable<string>;
  readonly #maxLen: string;
  readonly #dedupWindow: string;
  readonly #dedup: boolean;
  readonly #source: string;
  readonly #lifecycle: PublisherLifecycle;
  #checked: Promise<void> | undefined;
  #batch: AppendBatch;

  constructor(url: string | URL, options: RedisPublisherOptions = {}) {
    this.#lifecycle = new PublisherLifecycle(this.name, options.closeTimeoutMs);
    const parsed = publisherUrl(url, ['redis:', 'rediss:']);
    const fallback = validateTemplate(options.stream ?? 'outbox', 'redis.stream');
    this.#routes = new RouteTable('redis.routes', options.routes, fallback, validateTemplate);
    this.#maxLen = String(nonNegativeInteger('redis.maxLen', options.maxLen, 0));
    const window = nonNegativeInteger('redis.dedupWindowSeconds', options.dedupWindowSeconds, 0);
    this.#dedupWindow = String(window);
    this.#dedup = window > 0;
    this.#batch = new AppendBatch(this.#maxLen, this.#dedupWindow);
    this.#source = resolveCloudEventsOptions(options.cloudEvents).source;
    const connectTimeout = positiveNumber(
      'redis.connectTimeoutMs',
      options.connectTimeoutMs,
      DEFAULT_CONNECT_TIMEOUT_MS,
    );
    this.#redis = new Redis(parsed.toString(), {
      lazyConnect: true,
      connectTimeout,
      maxRetriesPerRequest: 2,
      retryStrategy: (times) => Math.min(50 * times, 1000),
      ...(options.tls ? { tls: { ...options.tls } } : {}),
    });
    this.#redis.on('error', () => undefined);
  }

  /** Connects, and checks that no routed stream key holds something other than a stream. */
  check(signal?: AbortSignal): Promise<void> {
    this.#checked ??= this.#check().catch((error: unknown) => {
      this.#checked = undefined;
      throw error;
    });

    return signal === undefined ? this.#checked : raceSignal(this.#checked, signal, 'Redis check');
  }

  async #check(): Promise<void> {
    try {
      if (this.#redis.status === 'wait') await this.#redis.connect();
    } catch (error) {
      throw toPublishError(error, 'connecting to Redis');
    }

    for (const stream of this.#routes.routes()) {
      if (stream.includes('{')) continue;

      const type = await this.#redis.type(stream);
      if (type !== 'none' && type !== 'stream') {
        throw new PublishError(
          `the Redis key ${JSON.stringify(stream)} of redis.stream or redis.routes holds a ` +
            `${type}, not a stream`,
          'permanent',
        );
      }
    }
  }

  publish(event: OutboxEvent, options: PublishOptions): Promise<void> {
    if (this.#lifecycle.closed) return Promise.reject(closedError(this.name));

    // The entry goes straight into the batch's arguments: its count, then its fields.
    const stream = renderTemplate(this.#routes.resolve(event.type), event);
    const batch = this.#batch;
    const argv = batch.argv;
    const start = argv.length;
    try {
      argv.push('');
      this.#fields(argv, event);
      const count = argv.length - start - 1;
      if (count > MAX_ENTRY_ARGUMENTS) {
        throw new RangeError(
          `the entry has ${count / 2} fields, more than a Redis script can append at once ` +
            `(${MAX_ENTRY_ARGUMENTS / 2}); the event has too many headers`,
        );
      }

      argv[start] = String(count);
    } catch (error) {
      argv.length = start;
      const context = `XADD of event ${event.id} to ${stream}`;

      return Promise.reject(toPublishError(error, context, 'permanent'));
    }

    batch.keys.push(stream);
    if (this.#dedup) batch.keys.push(`${stream}:dedup:${event.id}`);
    const inFlight = this.#lifecycle.inFlight;

    return new Promise<void>((resolve, reject) => {
      const waiter: Waiter = { id: event.id, stream, ticket: undefined, resolve, reject };
      waiter.ticket = inFlight.start(options, (signal) =>
        reject(abortedError(signal, `XADD of event ${event.id} to ${stream}`)),
      );
      const size = batch.waiters.push(waiter);
      if (size === 1) process.nextTick(this.#flush);
      else if (size === BATCH_SIZE) this.#flush();
    });
  }

  /** Sends the waiting batch as one script call. */
  readonly #flush = () => {
    const batch = this.#batch;
    if (batch.waiters.length === 0) return;

    this.#batch = new AppendBatch(this.#maxLen, this.#dedupWindow);
    this.#send('evalsha', batch.evalshaArguments(), batch.waiters);
  };

  /**
   * Sends one script call and settles its publishes on the reply. A Redis that does not have the
   * script cached (`NOSCRIPT`: restarted, flushed) gets the same call again with the script's
   * text (`EVAL`), which caches it.
   */
  #send(name: 'evalsha' | 'eval', args: string[], waiters: Waiter[]): void {
    // The arguments, all strings already, are set after construction: the constructor copies
    // them with `Array.prototype.flat`, which costs about as much as encoding them.
    const command = new Command(name, [], { replyEncoding: 'utf8' });
    command.args = args;
    void this.#redis.sendCommand(command);
    (command.promise as Promise<unknown>).then(
      (reply) => this.#settle(waiters, reply),
      (error: unknown) => {
        if (name === 'evalsha' && error instanceof Error && error.message.startsWith('NOSCRIPT')) {
          args[0] = APPEND_SCRIPT;
          this.#send('eval', args, waiters);

          return;
        }

        for (const waiter of waiters) this.#fail(waiter, error);
      },
    );
  }

  /** Settles a batch from the script's reply: the failed entries' numbers and errors. */
  #settle(waiters: Waiter[], reply: unknown): void {
    if (!Array.isArray(reply)) {
      const error = new Error(`unexpected reply from the append script: ${String(reply)}`);
      for (const waiter of waiters) this.#fail(waiter, error);

      return;
    }

    const inFlight = this.#lifecycle.inFlight;
    let next = 0;
    for (let index = 0; index < waiters.length; index += 1) {
      const waiter = waiters[index]!;
      if (reply[next] === index + 1) {
        this.#fail(waiter, reply[next + 1]);
        next += 2;
        continue;
      }

      inFlight.finish(waiter.ticket!);
      waiter.resolve();
    }
  }

  #fail(waiter: Waiter, error: unknown): void {
    this.#lifecycle.inFlight.finish(waiter.ticket!);
    const context = `XADD of event ${waiter.id} to ${waiter.stream}`;
    waiter.reject(toPublishError(error, context, classify(error)));
  }

  /**
   * Adds the entry's fields to `argv`: the attributes but `datacontenttype`, then
   * `datacontenttype`, the other headers as `header:<name>`, then `data`.
   */
  #fields(argv: string[], event: OutboxEvent): void {
    const parts = cloudEventParts(event, this.#source);
    const attributes = parts.attributes as unknown as Record<string, string | undefined>;
    for (const name in attributes) {
      const value = attributes[name];
      if (name !== 'datacontenttype' && value !== undefined) argv.push(name, value);
    }
    argv.push('datacontenttype', parts.attributes.datacontenttype);
    for (const name in parts.headers) argv.push(`header:${name}`, parts.headers[name]!);
    argv.push('data', parts.data);
  }

  close(): Promise<void> {
    return this.#lifecycle.close(async () => {
      if (this.#redis.status !== 'ready') {
        this.#redis.disconnect();

        return;
      }

      await this.#redis.quit().catch(() => this.#redis.disconnect());
    });
  }
}
