import { Redis } from 'ioredis';
import { RedisPublisher } from '../../../src/publisher/index.js';
import type { ConformanceTarget, Received } from '../conformance.js';
import { RUN } from '../helpers.js';
import { restartRedis } from '../services.js';

export const URL = 'redis://127.0.0.1:6379';
export const stream = `outbox-test:${RUN}`;
export const notStream = `outbox-test:${RUN}:string`;

function decode(fields: string[]): Received {
  const entry = new Map<string, string>();
  for (let index = 0; index < fields.length; index += 2)
    entry.set(fields[index]!, fields[index + 1]!);
  const plain: Record<string, string> = {};
  const tenant = entry.get('header:x-tenant');
  if (tenant !== undefined) plain['x-tenant'] = tenant;

  return {
    dedupId: entry.get('id') ?? '',
    id: entry.get('id') ?? '',
    type: entry.get('type') ?? '',
    source: entry.get('source') ?? '',
    time: entry.get('time') ?? '',
    key: entry.get('partitionkey'),
    traceparent: entry.get('traceparent'),
    contentType: entry.get('datacontenttype') ?? '',
    data: JSON.parse(entry.get('data') ?? 'null') as unknown,
    headers: plain,
  };
}

export const target: ConformanceTarget = {
  name: 'Redis Streams',
  cli: () => ({ url: URL, options: { redis: { stream } } }),
  dedup: true,
  setup: async () => {
    const redis = new Redis(URL);
    await redis.set(notStream, 'x');
    redis.disconnect();
  },
  teardown: async () => {
    const redis = new Redis(URL);
    const dedupKeys = await redis.keys(`${stream}:dedup:*`);
    await redis.del(stream, notStream, ...dedupKeys);
    redis.disconnect();
  },
  // Structured mode does not apply: Redis always gets one field per attribute.
  publisher: () =>
    new RedisPublisher(URL, {
      stream,
      dedupWindowSeconds: 120,
      cloudEvents: { source: '/conformance' },
    }),
  publisherAt: (port) =>
    new RedisPublisher(`redis://127.0.0.1:${port}`, {
      connectTimeoutMs: 500,
      closeTimeoutMs: 1000,
    }),
  consume: async () => {
    const redis = new Redis(URL, { maxRetriesPerRequest: null });
    redis.on('error', () => undefined);
    const received: Received[] = [];
    const last = (await redis.xrevrange(stream, '+', '-', 'COUNT', 1))[0];
    let cursor = last?.[0] ?? '0-0';
    let open = true;
    const loop = (async () => {
      while (open) {
        const reply = await redis
          .xread('COUNT', 1000, 'BLOCK', 200, 'STREAMS', stream, cursor)
          .catch(() => null);
        for (const [id, fields] of reply?.[0]?.[1] ?? []) {
          received.push(decode(fields));
          cursor = id;
        }
      }
    })();

    return {
      received,
      close: async () => {
        open = false;
        await loop;
        redis.disconnect();
      },
    };
  },
  stored: async () => {
    const redis = new Redis(URL);
    const entries = await redis.xrange(stream, '-', '+');
    redis.disconnect();

    return entries.map(([, fields]) => decode(fields));
  },
  restart: restartRedis,
  badRoutings: [
    {
      what: 'a stream key that holds a string',
      build: () => new RedisPublisher(URL, { routes: { 'order.*': notStream } }),
    },
    {
      what: 'a stream template with an unknown placeholder',
      build: () => new RedisPublisher(URL, { stream: 'outbox:{tenant}' }),
    },
    {
      what: 'a negative maximum length',
      build: () => new RedisPublisher(URL, { maxLen: -1 }),
    },
  ],
};
