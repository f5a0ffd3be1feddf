import type { Logger } from 'pino';

import type { LimitedPublisher } from '../coordination/index.js';
import type { Publisher } from '../publisher/contract.js';
import type { OutboxStore } from '../store/contract.js';
import type { DispatcherSurface } from './surface.js';

export interface HttpServerOptions {
  /** The dispatcher to report on: an `OutboxDispatcher` (or anything shaped like it). */
  dispatcher: DispatcherSurface;
  /** The outbox store, for the figures, the dead events, replay and pause. */
  store: OutboxStore;
  /** The publisher, for the readiness probe (`check()`) and the metrics' publisher label. */
  publisher?: Publisher;
  /**
   * The publisher wrapped by `withGlobalLimits`, when limits are shared through Redis: its
   * limits then show in the metrics and on the dashboard. Default: none.
   */
  sharedLimits?: Pick<LimitedPublisher, 'limits'>;
  /**
   * The interface to listen on. Default `127.0.0.1`: the endpoint is not reachable from other
   * machines unless configured to be.
   */
  host?: string;
  /** The TCP port; `0` picks a free one (read it from the returned `url`). */
  port: number;
  /**
   * The bearer token that actions (replay, pause, resume) require. Without one, actions are
   * refused with 403. Never logged. Default: none.
   */
  token?: string | null;
  /**
   * Host names accepted in the `Host` header, besides the loopback names (`127.0.0.1`,
   * `localhost`, `[::1]`) which are always accepted. Guards against DNS rebinding. Default: when
   * listening on a loopback address, only those; otherwise any host.
   */
  allowedHosts?: string[];
  /** Logs the server's start and every action. Default: none. */
  logger?: Pick<Logger, 'info' | 'warn' | 'error'>;
  /** How often the store's figures are read, in milliseconds. Default 5000. */
  statsIntervalMs?: number;
  /** How often the dashboard's charts take a sample, in milliseconds. Default 2000. */
  sampleIntervalMs?: number;
  /** How many samples the charts keep (default 300: ten minutes at the default interval). */
  samples?: number;
  /** How long a readiness result is reused, in milliseconds. Default 2000. */
  readinessCacheMs?: number;
  /** How long each readiness check may take, in milliseconds. Default 2000. */
  readinessTimeoutMs?: number;
  /** Export prom-client's default process metrics too. Default true. */
  defaultMetrics?: boolean;
}

export interface ResolvedHttpOptions extends Required<
  Omit<HttpServerOptions, 'publisher' | 'logger' | 'token' | 'sharedLimits'>
> {
  publisher: Publisher | undefined;
  sharedLimits: HttpServerOptions['sharedLimits'];
  logger: HttpServerOptions['logger'];
  token: string | null;
}

/** Applies the defaults and rejects values that make no sense, naming the option. */
export function resolveHttpOptions(options: HttpServerOptions): ResolvedHttpOptions {
  if (typeof options?.dispatcher?.getStatus !== 'function') {
    throw new TypeError('dispatcher must have getStatus(), on() and off() (an OutboxDispatcher)');
  }

  if (typeof options.store?.stats !== 'function') {
    throw new TypeError('store must be an OutboxStore');
  }

  const port = options.port;
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new RangeError(`port must be an integer from 0 to 65535, got ${String(port)}`);
  }

  const host = options.host ?? '127.0.0.1';
  if (typeof host !== 'string' || host.length === 0) {
    throw new TypeError(`host must be a non-empty string, got ${JSON.stringify(host)}`);
  }

  const token = options.token ?? null;
  if (token !== null && (typeof token !== 'string' || token.trim().length === 0)) {
    throw new TypeError('token must be a non-empty string (its value is not shown)');
  }

  return {
    dispatcher: options.dispatcher,
    store: options.store,
    publisher: options.publisher,
    sharedLimits: options.sharedLimits,
    host,
    port,
    token,
    allowedHosts: options.allowedHosts ?? [],
    logger: options.logger,
    statsIntervalMs: positive('statsIntervalMs', options.statsIntervalMs ?? 5000),
    sampleIntervalMs: positive('sampleIntervalMs', options.sampleIntervalMs ?? 2000),
    samples: positive('samples', options.samples ?? 300),
    readinessCacheMs: positive('readinessCacheMs', options.readinessCacheMs ?? 2000, 0),
    readinessTimeoutMs: positive('readinessTimeoutMs', options.readinessTimeoutMs ?? 2000),
    defaultMetrics: options.defaultMetrics ?? true,
  };
}

function positive(option: string, value: number, min = 1): number {
  if (!Number.isInteger(value) || value < min) {
    throw new RangeError(`${option} must be an integer of at least ${min}, got ${String(value)}`);
  }

  return value;
}
