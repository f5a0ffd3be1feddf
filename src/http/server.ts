import { once } from 'node:events';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

import { getStatus, listDead, replayDead, setPaused, type ApiContext } from './api.js';
import { authorize, TOKEN_HINT } from './auth.js';
import { DASHBOARD_CSP, dashboardAsset } from './dashboard/index.js';
import { createMetrics } from './metrics.js';
import { resolveHttpOptions, type HttpServerOptions } from './options.js';
import { ReadinessProbe } from './readiness.js';
import { redactSecrets } from './redact.js';
import { HttpError, isHttpError, send, sendJson } from './respond.js';
import { Sampler } from './samples.js';
import { describeSharedLimits } from './shared-limits.js';
import { StoreFigures } from './store-figures.js';

/** A running endpoint. */
export interface HttpServerHandle {
  /** Where it listens, e.g. `http://127.0.0.1:9464`. */
  readonly url: string;
  /** Stops listening, drops open connections and detaches from the dispatcher. Idempotent. */
  close(): Promise<void>;
}

const LOOPBACK_NAMES = ['127.0.0.1', 'localhost', '::1', '[::1]'];
/** Below this many characters the admin token draws a warning in the log. */
const MIN_TOKEN_LENGTH = 16;

/**
 * Serves the operations endpoint: `/metrics` (Prometheus), `/healthz`, `/readyz`, the dashboard
 * at `/` and the JSON API under `/api/`. Resolves once it listens.
 *
 * ```ts
 * const http = await startHttpServer({ dispatcher, store, publisher, port: 9464, token });
 * // … later
 * await http.close();
 * ```
 */
export async function startHttpServer(options: HttpServerOptions): Promise<HttpServerHandle> {
  // The parts: cached figures, chart samples, metrics, readiness, the API's context.
  const settings = resolveHttpOptions(options);
  const { dispatcher, store, publisher, logger, token } = settings;
  const figures = new StoreFigures(store, dispatcher, settings.statsIntervalMs);
  const sampler = new Sampler(dispatcher, figures, settings.sampleIntervalMs, settings.samples);
  const metrics = createMetrics({
    dispatcher,
    figures,
    publisherName: publisher?.name,
    defaultMetrics: settings.defaultMetrics,
    sharedLimits: () => describeSharedLimits(settings.sharedLimits),
  });
  const readiness = new ReadinessProbe({
    store,
    publisher,
    dispatcher,
    cacheMs: settings.readinessCacheMs,
    timeoutMs: settings.readinessTimeoutMs,
  });
  const api: ApiContext = {
    dispatcher,
    store,
    figures,
    sampler,
    sampleIntervalMs: settings.sampleIntervalMs,
    tokenConfigured: token !== null,
    sharedLimits: () => describeSharedLimits(settings.sharedLimits),
    logger,
  };
  // The routes: reads are open, actions need the token.
  const loopback = LOOPBACK_NAMES.includes(settings.host);
  const allowedHosts = new Set([...LOOPBACK_NAMES, ...settings.allowedHosts]);

  const route = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const path = url.pathname;
    const method = req.method ?? 'GET';
    checkHost(req, loopback || settings.allowedHosts.length > 0, allowedHosts);

    if (method === 'GET' || method === 'HEAD') {
      switch (path) {
        case '/metrics': {
          const body = await metrics.registry.metrics();
          send(res, 200, metrics.registry.contentType, body);

          return;
        }
        case '/healthz':
          sendJson(res, 200, { status: 'ok', dispatcher: dispatcher.getStatus().state });

          return;
        case '/readyz': {
          const result = await readiness.check();
          sendJson(res, result.ready ? 200 : 503, result);

          return;
        }
        case '/api/status':
          getStatus(api, res);

          return;
        case '/api/dead':
          await listDead(api, url, res);

          return;
      }

      const asset = dashboardAsset(path);
      if (asset) {
        send(res, 200, asset.contentType, asset.body, { 'content-security-policy': DASHBOARD_CSP });

        return;
      }

      throw new HttpError(404, `nothing at ${path}`);
    }

    if (method !== 'POST') {
      throw new HttpError(405, `${method} is not supported here`);
    }

    requireToken(req, token);
    if (path === '/api/dead/replay') {
      await replayDead(api, req, res);

      return;
    }

    const typeAction = /^\/api\/types\/([^/]+)\/(pause|resume)$/.exec(path);
    if (typeAction?.[1] && typeAction[2]) {
      await setPaused(api, decodePathPart(typeAction[1]), typeAction[2] === 'pause', res);

      return;
    }

    throw new HttpError(404, `nothing at ${path}`);
  };

  const server = createServer((req, res) => {
    route(req, res).catch((error: unknown) => {
      if (isHttpError(error)) {
        sendJson(res, error.status, { error: error.message });

        return;
      }

      const message = redactSecrets(error);
      logger?.error({ path: req.url, error: message }, 'HTTP request failed');
      if (!res.headersSent) {
        sendJson(res, 500, { error: message });
      } else {
        res.destroy();
      }
    });
  });
  server.headersTimeout = 10_000;
  server.requestTimeout = 30_000;

  // Start reading, then listen.
  await figures.start();
  sampler.start();
  server.listen(settings.port, settings.host);
  try {
    await once(server, 'listening');
  } catch (error) {
    figures.stop();
    sampler.stop();
    metrics.close();
    throw error;
  }

  const address = server.address() as AddressInfo;
  const hostInUrl = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  const url = `http://${hostInUrl}:${address.port}`;
  logger?.info({ url, actions: token !== null }, 'operations endpoint listening');
  if (token !== null && token.length < MIN_TOKEN_LENGTH) {
    logger?.warn(
      { minLength: MIN_TOKEN_LENGTH },
      'the admin token is short: use a long random one (e.g. `openssl rand -hex 32`)',
    );
  }

  let closing: Promise<void> | undefined;

  return {
    url,
    close() {
      closing ??= (async () => {
        figures.stop();
        sampler.stop();
        metrics.close();
        const closed = once(server, 'close');
        server.close();
        server.closeAllConnections();
        await closed;
      })();

      return closing;
    },
  };
}

function decodePathPart(part: string): string {
  try {
    return decodeURIComponent(part);
  } catch {
    throw new HttpError(400, `"${part}" is not a valid percent-encoded path segment`);
  }
}

/** Refuses requests whose `Host` is not an expected name (DNS rebinding). */
function checkHost(req: IncomingMessage, enforce: boolean, allowed: Set<string>): void {
  if (!enforce) {
    return;
  }

  const host = req.headers.host ?? '';
  const name = host.startsWith('[') ? host.slice(0, host.indexOf(']') + 1) : host.split(':')[0];
  if (!allowed.has(name ?? '')) {
    throw new HttpError(421, 'this endpoint answers only under its own host name');
  }
}

function requireToken(req: IncomingMessage, token: string | null): void {
  const outcome = authorize(req.headers.authorization, token);
  switch (outcome) {
    case 'allowed':
      return;
    case 'no-token-configured':
      throw new HttpError(
        403,
        `actions are disabled because no admin token is configured: ${TOKEN_HINT}`,
      );
    case 'missing':
      throw new HttpError(401, 'this action needs "Authorization: Bearer <token>"');
    case 'wrong':
      throw new HttpError(401, 'the bearer token is not the configured one');
  }
}
