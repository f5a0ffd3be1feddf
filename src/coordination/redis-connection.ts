import { Redis } from 'ioredis';

/** A Redis client the coordination parts can use, or a `redis://` URL to open one. */
export type RedisSource = Redis | string;

/** The resolved connection: the client, and whether this module opened it (and must close it). */
export interface RedisConnection {
  readonly client: Redis;
  readonly owned: boolean;
  close(): Promise<void>;
}

/**
 * How long one Redis command may take before it counts as a failure, in milliseconds. Kept short:
 * a slow Redis must not hold up a publish for long before the local fallback takes over.
 */
const COMMAND_TIMEOUT_MS = 1000;

/**
 * Opens (for a URL) or adopts (for a client) the Redis connection. A client opened here fails
 * commands at once while disconnected (no offline queue), reconnects in the background with a
 * capped backoff, and never reports its reconnection errors as unhandled `error` events.
 */
export function resolveRedis(source: RedisSource, option: string): RedisConnection {
  if (typeof source !== 'string') {
    if (typeof source !== 'object' || source === null || typeof source.eval !== 'function') {
      throw new TypeError(`${option} must be an ioredis client or a redis:// URL`);
    }

    return { client: source, owned: false, close: async () => {} };
  }

  if (!/^rediss?:\/\//.test(source)) {
    throw new TypeError(
      `${option} must be a redis:// or rediss:// URL, got "${redactUrl(source)}"`,
    );
  }

  const client = new Redis(source, {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    commandTimeout: COMMAND_TIMEOUT_MS,
    connectTimeout: COMMAND_TIMEOUT_MS * 2,
    retryStrategy: (attempt) => Math.min(attempt * 200, 2000),
  });
  // Failures surface through the commands; the client's own error events would only repeat them.
  client.on('error', () => {});
  let closed = false;

  return {
    client,
    owned: true,
    async close() {
      if (closed) {
        return;
      }

      closed = true;
      client.disconnect();
    },
  };
}

/** Whether the client is connected and takes commands now. */
export function isRedisReady(client: Redis): boolean {
  return client.status === 'ready';
}

const everReady = new WeakSet<Redis>();
const OPENING_OUTCOMES = ['ready', 'error', 'reconnecting', 'end'] as const;

/**
 * Whether the client can take commands, waiting for its first connection (up to
 * `waitMs`) when it has never been connected yet: a process that just started must not fall back
 * to its local limit only because its connection is still being opened. Once the client has been
 * connected, a lost connection counts as unreachable at once.
 */
export async function isRedisUsable(
  client: Redis,
  waitMs = COMMAND_TIMEOUT_MS * 2,
): Promise<boolean> {
  if (client.status === 'ready') {
    everReady.add(client);

    return true;
  }

  const opening = ['wait', 'connecting', 'connect'].includes(client.status);
  if (everReady.has(client) || !opening) {
    return false;
  }

  await new Promise<void>((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      for (const outcome of OPENING_OUTCOMES) {
        client.off(outcome, done);
      }

      resolve();
    };
    const timer = setTimeout(done, waitMs);
    for (const outcome of OPENING_OUTCOMES) {
      client.once(outcome, done);
    }
  });
  if (isRedisReady(client)) {
    everReady.add(client);

    return true;
  }

  // Count the first attempt as failed; later calls no longer wait for it.
  everReady.add(client);

  return false;
}

/** Hides the password of a URL (`redis://user:***@host`) so it never reaches a message. */
export function redactUrl(url: string): string {
  return url.replace(/(\/\/[^:/@]*:)[^@/]*@/, '$1***@');
}

/** The message of an unknown throwable, with any URL password hidden. */
export function describeError(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);

  return redactUrl(message);
}
