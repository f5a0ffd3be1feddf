import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';

import type { DeadEvent, DeadSelection, OutboxStore } from '../store/contract.js';
import { HttpError, readJson, sendJson } from './respond.js';
import type { Sampler } from './samples.js';
import type { SharedLimitView } from './shared-limits.js';
import type { StoreFigures } from './store-figures.js';
import type { DispatcherSurface } from './surface.js';

/** What the JSON API handlers work with. */
export interface ApiContext {
  dispatcher: DispatcherSurface;
  store: OutboxStore;
  figures: StoreFigures;
  sampler: Sampler;
  sampleIntervalMs: number;
  tokenConfigured: boolean;
  sharedLimits: () => SharedLimitView[];
  logger: Pick<Logger, 'info' | 'warn' | 'error'> | undefined;
}

/** The most characters of a dead event's payload shown in the list. */
const PAYLOAD_PREVIEW_CHARS = 300;
const MAX_TYPE_LENGTH = 200;

/** `GET /api/status`: everything the dashboard shows, read from memory. */
export function getStatus(context: ApiContext, res: ServerResponse): void {
  const status = context.dispatcher.getStatus();
  const snapshot = context.figures.snapshot;
  sendJson(res, 200, {
    now: new Date().toISOString(),
    dispatcher: {
      state: status.state,
      startedAt: status.startedAt,
      breaker: status.breaker,
      limiter: numericFields(status.limiter),
      counters: status.counters,
      memory: status.memory,
      storeReachable: status.storeReachable,
    },
    store: snapshot.stats,
    types: snapshot.types,
    storeStatsAt: snapshot.at,
    storeError: snapshot.error,
    paused: snapshot.paused,
    samples: context.sampler.ring.toArray(),
    sampleIntervalMs: context.sampleIntervalMs,
    tokenConfigured: context.tokenConfigured,
    sharedLimits: context.sharedLimits(),
  });
}

/** `GET /api/dead?type=&limit=&afterId=`: dead events, oldest first, with their last error. */
export async function listDead(context: ApiContext, url: URL, res: ServerResponse): Promise<void> {
  const type = url.searchParams.get('type') ?? undefined;
  const afterId = url.searchParams.get('afterId') ?? undefined;
  const limitText = url.searchParams.get('limit') ?? '100';
  const limit = Number(limitText);
  if (!Number.isInteger(limit) || limit < 1 || limit > 1000) {
    throw new HttpError(400, `limit must be an integer from 1 to 1000, got "${limitText}"`);
  }

  if (afterId !== undefined && !/^\d+$/.test(afterId)) {
    throw new HttpError(400, `afterId must be an event id (digits), got "${afterId}"`);
  }

  const events = await context.store.listDead({ type, limit, afterId });
  sendJson(res, 200, { events: events.map(describeDead) });
}

/** `POST /api/dead/replay` with `{ ids }`, `{ type }` or `{ all: true }`. */
export async function replayDead(
  context: ApiContext,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  const selection = parseSelection(await readJson(req));
  const requeued = await context.store.requeueDead(selection);
  context.logger?.info(
    { selection: describeSelection(selection), requeued },
    'dead events requeued',
  );
  await context.figures.refresh(true);
  sendJson(res, 200, { requeued });
}

/** `POST /api/types/<type>/pause` and `/resume`: for every dispatcher sharing the outbox. */
export async function setPaused(
  context: ApiContext,
  type: string,
  paused: boolean,
  res: ServerResponse,
): Promise<void> {
  checkType(type);
  await context.store.setPaused(type, paused);
  context.logger?.info({ type, paused }, paused ? 'event type paused' : 'event type resumed');
  await context.figures.refresh(true);
  sendJson(res, 200, { type, paused, pausedTypes: context.figures.snapshot.paused });
}

function parseSelection(body: Record<string, unknown>): DeadSelection {
  const keys = ['ids', 'type', 'all'].filter((key) => body[key] !== undefined);
  if (keys.length !== 1) {
    throw new HttpError(
      400,
      'send exactly one of { "ids": [...] }, { "type": "..." }, { "all": true }',
    );
  }

  if (body.all !== undefined) {
    if (body.all !== true) {
      throw new HttpError(400, '"all" must be true');
    }

    return { all: true };
  }

  if (body.type !== undefined) {
    return { type: checkType(body.type) };
  }

  const ids = body.ids;
  const valid =
    Array.isArray(ids) &&
    ids.length > 0 &&
    ids.length <= 1000 &&
    ids.every((id) => typeof id === 'string' && /^\d+$/.test(id));
  if (!valid) {
    throw new HttpError(400, '"ids" must be 1 to 1000 event ids, as strings of digits');
  }

  return { ids: ids as string[] };
}

function checkType(type: unknown): string {
  if (typeof type !== 'string' || type.length === 0 || type.length > MAX_TYPE_LENGTH) {
    throw new HttpError(400, `the event type must be 1 to ${MAX_TYPE_LENGTH} characters`);
  }

  return type;
}

function describeSelection(selection: DeadSelection): string {
  if ('ids' in selection) {
    return `ids ${selection.ids.join(',')}`;
  }

  return 'type' in selection ? `type ${selection.type}` : 'all';
}

function describeDead(event: DeadEvent) {
  const payload = JSON.stringify(event.payload) ?? 'undefined';

  return {
    id: event.id,
    type: event.type,
    key: event.key,
    attempts: event.attempts,
    lastError: event.lastError,
    createdAt: event.createdAt,
    deadAt: event.deadAt,
    payloadPreview:
      payload.length > PAYLOAD_PREVIEW_CHARS
        ? `${payload.slice(0, PAYLOAD_PREVIEW_CHARS)}…`
        : payload,
  };
}

/** The numeric fields of an object, nested ones one level deep as `outer.inner`. */
function numericFields(value: object, prefix = ''): Record<string, number> {
  const result: Record<string, number> = {};
  for (const [key, field] of Object.entries(value)) {
    if (typeof field === 'number' && Number.isFinite(field)) {
      result[`${prefix}${key}`] = field;
    } else if (prefix === '' && typeof field === 'object' && field !== null) {
      Object.assign(result, numericFields(field, `${key}.`));
    }
  }

  return result;
}
