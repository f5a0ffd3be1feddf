import { Redis } from 'ioredis';
import type { OutboxEvent } from '../event.js';
import { PublishError } from './contract.js';
import type { Publisher, PublishOptions } from './contract.js';
import { encodeCloudEvent, resolveCloudEventsOptions } from './cloudevents.js';
import { abortedError, closedError, raceSignal, toPublishError } from './errors.js';
import type { Ticket } from './in-flight.js';
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

const DEDUP_SCRIPT = `
local existing = redis.call('GET', KEYS[2])
if existing then return existing end
local id
if ARGV[2] ~= '0' then
  id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[2], '*', unpack(ARGV, 3))
else
  id = redis.call('XADD', KEYS[1], '*', unpack(ARGV, 3))
end
redis.call('SET', KEYS[2], id, 'EX', ARGV[1])
return id`;

type DedupPipeline = { outboxXadd(...args: string[]): unknown };

/**
 * Commands sent as one pipeline at most: a burst of publishes goes out in chunks, so that Redis
 * works on the first while the next are encoded, and their replies come back in turn.
 */
const PIPELINE_CHUNK = 100;

/** One publish waiting for the pipeline of its tick and for its reply. */
interface Queued {
  args: string[];
  id: string;
  stream: string;
  ticket: Ticket | undefined;
  resolve: () => void;
  reject: (error: PublishError) => void;
}

type DedupRedis = Redis & {
  outboxXadd(stream: string, dedupKey: string, ...args: string[]): Promise<string>;
};

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
 * `data`, and counts it delivered on the reply. Commands from concurrent publishes are sent
 * together (one pipeline per tick), so many are in flight on one connection.
 */
export class RedisPublisher implements Publisher {
  readonly name = 'redis';
  readonly #redis: DedupRedis;
  readonly #routes: RouteTable<string>;
  readonly #maxLen: number;
  readonly #dedupWindow: number;
  readonly #source: string;
  readonly #lifecycle: PublisherLifecycle;
  #checked: Promise<void> | undefined;
  #batch: Queued[] = [];
  readonly #maxLenText: string;
  readonly #dedupText: string;

  constructor(url: string | URL, options: RedisPublisherOptions = {}) {
    this.#lifecycle = new PublisherLifecycle(this.name, options.closeTimeoutMs);
    const parsed = publisherUrl(url, ['redis:', 'rediss:']);
    const fallback = validateTemplate(options.stream ?? 'outbox', 'redis.stream');
    this.#routes = new RouteTable('redis.routes', options.routes, fallback, validateTemplate);
    this.#maxLen = nonNegativeInteger('redis.maxLen', options.maxLen, 0);
    this.#dedupWindow = nonNegativeInteger(
      'redis.dedupWindowSeconds',
      options.dedupWindowSeconds,
      0,
    );
    this.#maxLenText = String(this.#maxLen);
    this.#dedupText = String(this.#dedupWindow);
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
    }) as DedupRedis;
    this.#redis.on('error', () => undefined);
    this.#redis.defineCommand('outboxXadd', { numberOfKeys: 2, lua: DEDUP_SCRIPT });
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

    const stream = renderTemplate(this.#routes.resolve(event.type), event);
    let args: string[];
    try {
      args = this.#args(stream, event);
    } catch (error) {
      const context = `XADD of event ${event.id} to ${stream}`;

      return Promise.reject(toPublishError(error, context, 'permanent'));
    }

    const inFlight = this.#lifecycle.inFlight;

    return new Promise<void>((resolve, reject) => {
      const queued: Queued = { args, id: event.id, stream, ticket: undefined, resolve, reject };
      queued.ticket = inFlight.start(options, (signal) =>
        reject(abortedError(signal, `XADD of event ${event.id} to ${stream}`)),
      );
      const size = this.#batch.push(queued);
      if (size === 1) process.nextTick(this.#flush);
      else if (size === PIPELINE_CHUNK) this.#flush();
    });
  }

  /**
   * Sends the commands of one tick as one pipeline: one write for hundreds of publishes, as a
   * client publishing in bulk would. Each publish settles on its own reply.
   */
  readonly #flush = () => {
    const batch = this.#batch;
    if (batch.length === 0) return;

    this.#batch = [];
    const pipeline = this.#redis.pipeline();
    const dedup = this.#dedupWindow > 0;
    for (const { args } of batch) {
      if (dedup) (pipeline as unknown as DedupPipeline).outboxXadd(...args);
      else pipeline.xadd(...(args as [string, string]));
    }
    const inFlight = this.#lifecycle.inFlight;
    const settle = (queued: Queued, error: unknown) => {
      inFlight.finish(queued.ticket!);
      if (error === null || error === undefined) queued.resolve();
      else {
        const context = `XADD of event ${queued.id} to ${queued.stream}`;
        queued.reject(toPublishError(error, context, classify(error)));
      }
    };
    pipeline.exec().then(
      (results) => {
        for (let index = 0; index < batch.length; index += 1) {
          const reply = results?.[index];
          settle(batch[index]!, reply === undefined ? new Error('no reply') : reply[0]);
        }
      },
      (error: unknown) => {
        for (const queued of batch) settle(queued, error);
      },
    );
  };

  /**
   * The command's arguments: with a dedup window, the script's keys and arguments; else the
   * stream, `MAXLEN ~ n` when trimming, and `*`. Then the entry: `id`, the other attributes,
   * `datacontenttype`, headers, then `data`.
   */
  #args(stream: string, event: OutboxEvent): string[] {
    const args =
      this.#dedupWindow > 0
        ? [stream, `${stream}:dedup:${event.id}`, this.#dedupText, this.#maxLenText]
        : this.#maxLen > 0
          ? [stream, 'MAXLEN', '~', this.#maxLenText, '*']
          : [stream, '*'];
    const encoded = encodeCloudEvent(event, { source: this.#source, mode: 'binary' });
    const attributes = encoded.attributes as unknown as Record<string, string | undefined>;
    for (const name in attributes) {
      const value = attributes[name];
      if (name !== 'datacontenttype' && value !== undefined) args.push(name, value);
    }
    args.push('datacontenttype', encoded.contentType);
    for (const name in encoded.headers) args.push(`header:${name}`, encoded.headers[name]!);
    args.push('data', encoded.body.toString('utf8'));

    return args;
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
