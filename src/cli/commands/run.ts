import type { Logger } from 'pino';
import { redactConfig, redactUrl } from '../../config/index.js';
import type { OutboxConfig } from '../../config/index.js';
import { OutboxDispatcher } from '../../dispatcher/index.js';
import { withGlobalLimits } from '../../coordination/index.js';
import { startHttpServer } from '../../http/index.js';
import type { Publisher } from '../../publisher/contract.js';
import { withTracing } from '../../tracing/index.js';
import {
  checkPublisher,
  message,
  openPublisher,
  openStore,
  pingStore,
  readConfig,
} from '../context.js';
import { createLogger } from '../logger.js';
import { untilStopSignal } from '../signals.js';

export interface RunOptions {
  migrate?: boolean;
  [flag: string]: unknown;
}

/** Builds the dispatcher's options from the configuration. */
export function dispatcherSettings(config: OutboxConfig) {
  return {
    concurrency: config.concurrency,
    batchSize: config.batchSize,
    prefetch: config.prefetch,
    claimers: config.claimers,
    claimPerKey: config.claimPerKey,
    pollIntervalMs: config.pollIntervalMs,
    leaseMs: config.leaseMs,
    publishTimeoutMs: config.publishTimeoutMs,
    maxAttempts: config.maxAttempts,
    retryBaseMs: config.retryBaseMs,
    retryMaxMs: config.retryMaxMs,
    typeConcurrency: config.typeConcurrency,
    shutdownTimeoutMs: config.shutdownTimeoutMs,
    memoryCheckIntervalMs: config.memoryCheckIntervalMs,
    maxHeapPercent: config.maxHeapPercent,
    statsIntervalMs: config.statsIntervalMs,
  };
}

/**
 * `outbox run`: checks the database and the publisher, applies the migrations, runs the
 * dispatcher (and the HTTP server when a port is set) until SIGINT or SIGTERM, then stops
 * gracefully and closes everything.
 */
export async function runCommand(options: RunOptions): Promise<void> {
  const config = readConfig(options);
  const logger = createLogger(config.logLevel);
  const store = openStore(config);
  const { publisher, sharedLimits } = wrapPublisher(openPublisher(config), config, logger);
  let http: { url: string; close(): Promise<void> } | undefined;
  let dispatcher: OutboxDispatcher | undefined;
  let purger: NodeJS.Timeout | undefined;
  const { signal, dispose } = untilStopSignal();
  try {
    await pingStore(store, config);
    if (options.migrate !== false) await store.migrate();
    await checkPublisher(publisher, config);

    dispatcher = new OutboxDispatcher({
      store,
      publisher,
      logger,
      ...dispatcherSettings(config),
    });
    const failed = new Promise<never>((_, reject) => dispatcher?.once('error', reject));
    logger.info(
      {
        config: redactConfig(config),
        database: redactUrl(config.databaseUrl ?? ''),
        publisherUrl: redactUrl(config.publisherUrl),
      },
      'starting',
    );
    await dispatcher.start();
    if (config.httpPort !== null) {
      http = await startHttpServer({
        dispatcher,
        store,
        publisher,
        sharedLimits,
        statsIntervalMs: config.statsIntervalMs,
        host: config.httpHost,
        port: config.httpPort,
        token: config.adminToken ?? undefined,
        logger,
      });
      logger.info({ url: http.url }, 'HTTP server listening');
    }

    // Delivered events kept for `retentionMs` are purged in bounded batches, once a minute.
    if (config.retentionMs > 0) {
      purger = setInterval(() => {
        store.purgeDelivered({ maxBatches: 10 }).catch((error: unknown) => {
          logger.warn({ error: message(error) }, 'purge of delivered events failed');
        });
      }, 60_000);
      purger.unref();
    }

    const received = await Promise.race([signal, failed]);
    logger.info({ signal: received }, 'stopping gracefully (send the signal again to force)');
  } finally {
    clearInterval(purger);
    await closeAll(logger, [
      ['dispatcher', () => dispatcher?.stop()],
      ['http', () => http?.close()],
      ['publisher', () => publisher.close()],
      ['store', () => store.close()],
    ]);
    dispose();
    logger.flush();
  }
}

/**
 * Adds the shared limits (when a Redis URL and a limit are configured) and tracing (spans when
 * the application registers an OpenTelemetry tracer, nothing otherwise) around the publisher.
 */
function wrapPublisher(base: Publisher, config: OutboxConfig, logger: Logger) {
  if (config.redisUrl === null || (config.globalConcurrency ?? config.globalRate) === null) {
    return { publisher: withTracing(base), sharedLimits: undefined };
  }

  const limited = withGlobalLimits(base, {
    name: config.globalLimitName ?? sharedLimitName(base.name, config.publisherUrl),
    redis: config.redisUrl,
    concurrency: config.globalConcurrency ?? undefined,
    rate: config.globalRate ?? undefined,
  });
  limited.on('coordination:fallback', (event) =>
    logger.warn({ ...event, error: message(event.error) }, 'Redis unreachable: local limits'),
  );
  limited.on('coordination:restored', (event) =>
    logger.info({ ...event }, 'Redis reachable again: shared limits'),
  );

  return { publisher: withTracing(limited), sharedLimits: limited };
}

/**
 * The default name of the shared limits: the publisher's kind and the destination's host, so
 * that dispatchers publishing to one destination share a budget and two destinations do not.
 */
export function sharedLimitName(kind: string, publisherUrl: string): string {
  let host = '';
  try {
    host = new URL(publisherUrl).host;
  } catch {
    // The publisher factory has accepted the URL; a host-less one keeps the kind alone.
  }
  const name = host === '' ? kind : `${kind}:${host}`;

  return name.replace(/[^\w.:-]/g, '_').slice(0, 200);
}

/** Runs every cleanup step, even when an earlier one fails. */
async function closeAll(
  logger: Logger,
  steps: [string, () => Promise<unknown> | undefined][],
): Promise<void> {
  for (const [name, step] of steps) {
    try {
      await step();
    } catch (error) {
      logger.error({ step: name, error: message(error) }, 'cleanup step failed');
    }
  }
}
