import { z } from 'zod';
import { DEFAULTS } from './defaults.js';
import { parseTypeConcurrency } from './type-concurrency.js';

/** Pino's log levels, and `silent`. */
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

/** The validated configuration of the service. Every field has a setting below. */
export interface OutboxConfig {
  /** The outbox database: `postgres://…`, `sqlite:path` or a plain file path. No default. */
  databaseUrl: string | null;
  /** The outbox table. Default `outbox`. */
  table: string;
  /** The schema of the outbox table (PostgreSQL only). Default `public`. */
  schema: string;
  /** Wake on the database's insert notifications (PostgreSQL LISTEN). Default `true`. */
  notify: boolean;
  /** Where events go: `stdout:`, `http(s)://…`, or a broker URL. Default `stdout:`. */
  publisherUrl: string;
  /** Options passed through to the publisher factory as they are. Default `{}`. */
  publisherOptions: Record<string, unknown>;
  /** Longest idle sleep between claims, in milliseconds. Default 5000. */
  pollIntervalMs: number;
  /** Most events claimed per query. Default 50. */
  batchSize: number;
  /** Most events published at once. Default 10. */
  concurrency: number;
  /** Events claimed beyond the free slots, to wait for the next one. Default 0. */
  prefetch: number;
  /** Claim queries in flight at once. Default 1. */
  claimers: number;
  /** The most events of one ordering key a claim may hold, published in turn. Default 1. */
  claimPerKey: number;
  /** Per-type or per-pattern limits inside `concurrency`. Default none. */
  typeConcurrency: Record<string, number>;
  /** Claim lease, in milliseconds; at least twice `publishTimeoutMs`. Default 30000. */
  leaseMs: number;
  /** Attempts before an event is dead-lettered. Default 10. */
  maxAttempts: number;
  /** First retry delay before jitter, in milliseconds. Default 1000. */
  retryBaseMs: number;
  /** Longest retry delay, in milliseconds. Default 300000. */
  retryMaxMs: number;
  /** Longest publish before it is aborted and retried, in milliseconds. Default 10000. */
  publishTimeoutMs: number;
  /** Grace period of a graceful stop, in milliseconds. Default 30000. */
  shutdownTimeoutMs: number;
  /** Heap check period, in milliseconds. Default 10000. */
  memoryCheckIntervalMs: number;
  /** Heap use that triggers `memory:high`, in percent of the heap limit. Default 90. */
  maxHeapPercent: number;
  /** How long delivered events are kept, in milliseconds (0: deleted at once). Default 0. */
  retentionMs: number;
  /** Store figures refresh period, in milliseconds. Default 5000. */
  statsIntervalMs: number;
  /** Port of the metrics, health and dashboard server; `null` runs none. Default `null`. */
  httpPort: number | null;
  /** Interface of that server. Default `127.0.0.1`. */
  httpHost: string;
  /** Bearer token required by the admin endpoints; `null` disables them. Default `null`. */
  adminToken: string | null;
  /** Log level. Default `info`. */
  logLevel: (typeof LOG_LEVELS)[number];
  /** Redis URL for limits shared by several dispatchers; `null` keeps them local. */
  redisUrl: string | null;
  /** Publishes in flight at once across every dispatcher (needs `redisUrl`). Default none. */
  globalConcurrency: number | null;
  /** Publishes per second across every dispatcher (needs `redisUrl`). Default none. */
  globalRate: number | null;
  /**
   * The name the shared limits are kept under in Redis: dispatchers with the same name share one
   * budget. Default: the publisher's kind and the destination's host (`http:hooks.example.com`).
   */
  globalLimitName: string | null;
}

export type SettingName = keyof OutboxConfig;

/** How one setting is read from a flag, a variable or the config file, and checked. */
export interface SettingSpec {
  name: SettingName;
  /** The environment variable. */
  env: string;
  /** The command-line flag, without the leading dashes. */
  flag: string;
  /** One line for `--help` and the README. */
  description: string;
  /** The unit, when it has one. */
  unit?: string;
  /** The default as shown to users. */
  shownDefault: string;
  /** What a valid value looks like, for error messages. */
  expected: string;
  /** Turns a string from a flag or variable into the value to check. */
  fromString: (text: string) => unknown;
  /** Checks a value and returns the typed one. */
  schema: z.ZodType;
  /** How to show the value in errors: `url` redacts a password, `token` hides it. */
  secret?: 'url' | 'token';
}

const asNumber = (text: string): unknown => {
  const trimmed = text.trim();

  return /^-?\d+(\.\d+)?$/.test(trimmed) ? Number(trimmed) : text;
};

const asOptionalNumber = (text: string): unknown =>
  text.trim() === '' || text.trim() === 'off' ? null : asNumber(text);

const asOptionalString = (text: string): unknown => (text.trim() === '' ? null : text.trim());

const asBoolean = (text: string): unknown => {
  const value = text.trim().toLowerCase();
  if (['1', 'true', 'yes', 'on'].includes(value)) return true;

  return ['0', 'false', 'no', 'off'].includes(value) ? false : text;
};

const identifier = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]{0,62}$/);

const asJson = (text: string): unknown => {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
};

function integer(min: number, max: number) {
  return {
    schema: z.number().int().min(min).max(max),
    expected: `an integer from ${min} to ${max}`,
    fromString: asNumber,
  };
}

const DAY = 86_400_000;

const typeConcurrencySchema = z.union([
  z.record(z.string().min(1), z.number().int().min(1)),
  z.string().transform((text, context) => {
    const parsed = parseTypeConcurrency(text);
    if (typeof parsed === 'string') {
      context.addIssue({ code: 'custom', message: parsed });

      return z.NEVER;
    }

    return parsed;
  }),
]);

const databaseUrlSchema = z
  .string()
  .min(1)
  .refine((value) => !/^[a-z][a-z0-9+.-]*:\/\//i.test(value) || /^postgres(ql)?:/i.test(value));

const publisherUrlSchema = z.string().regex(/^[a-z][a-z0-9+.-]*:/i);

/** Every setting, in the order of the README table. */
export const SETTINGS: readonly SettingSpec[] = [
  {
    name: 'databaseUrl',
    env: 'OUTBOX_DATABASE_URL',
    flag: 'database-url',
    description: 'The outbox database: postgres://…, sqlite:path or a file path',
    shownDefault: '(none)',
    expected: 'a postgres:// URL, sqlite:path or a file path',
    fromString: (text) => text.trim(),
    schema: databaseUrlSchema,
    secret: 'url',
  },
  {
    name: 'table',
    env: 'OUTBOX_TABLE',
    flag: 'table',
    description: 'The outbox table',
    shownDefault: DEFAULTS.table,
    expected: 'an identifier: letters, digits and _, at most 63, not starting with a digit',
    fromString: (text) => text.trim(),
    schema: identifier,
  },
  {
    name: 'schema',
    env: 'OUTBOX_SCHEMA',
    flag: 'schema',
    description: 'The schema of the outbox table (PostgreSQL only)',
    shownDefault: DEFAULTS.schema,
    expected: 'an identifier: letters, digits and _, at most 63, not starting with a digit',
    fromString: (text) => text.trim(),
    schema: identifier,
  },
  {
    name: 'notify',
    env: 'OUTBOX_NOTIFY',
    flag: 'notify',
    description: 'Wake on insert notifications (PostgreSQL LISTEN); off behind PgBouncer',
    shownDefault: String(DEFAULTS.notify),
    expected: 'true or false',
    fromString: asBoolean,
    schema: z.boolean(),
  },
  {
    name: 'publisherUrl',
    env: 'OUTBOX_PUBLISHER_URL',
    flag: 'publisher-url',
    description: 'Where events are published: stdout:, http(s)://…, or a broker URL',
    shownDefault: DEFAULTS.publisherUrl,
    expected: 'a URL such as stdout: or https://host/path',
    fromString: (text) => text.trim(),
    schema: publisherUrlSchema,
    secret: 'url',
  },
  {
    name: 'publisherOptions',
    env: 'OUTBOX_PUBLISHER_OPTIONS',
    flag: 'publisher-options',
    description: 'Publisher options as a JSON object, passed to the publisher as they are',
    shownDefault: '{}',
    expected: 'a JSON object',
    fromString: asJson,
    schema: z.record(z.string(), z.unknown()),
    secret: 'token',
  },
  {
    name: 'pollIntervalMs',
    env: 'OUTBOX_POLL_INTERVAL',
    flag: 'poll-interval',
    description: 'Longest sleep between two claims while the outbox is empty',
    unit: 'ms',
    shownDefault: String(DEFAULTS.pollIntervalMs),
    ...integer(10, DAY),
  },
  {
    name: 'batchSize',
    env: 'OUTBOX_BATCH_SIZE',
    flag: 'batch-size',
    description: 'Most events claimed by one query',
    shownDefault: String(DEFAULTS.batchSize),
    ...integer(1, 10_000),
  },
  {
    name: 'concurrency',
    env: 'OUTBOX_CONCURRENCY',
    flag: 'concurrency',
    description: 'Most events published at the same time',
    shownDefault: String(DEFAULTS.concurrency),
    ...integer(1, 10_000),
  },
  {
    name: 'prefetch',
    env: 'OUTBOX_PREFETCH',
    flag: 'prefetch',
    description: 'Events claimed beyond the free slots, queued for the next free one',
    shownDefault: String(DEFAULTS.prefetch),
    ...integer(0, 10_000),
  },
  {
    name: 'claimers',
    env: 'OUTBOX_CLAIMERS',
    flag: 'claimers',
    description: 'Claim queries in flight at once, sharing the room (needs prefetch >= batch)',
    shownDefault: String(DEFAULTS.claimers),
    ...integer(1, 16),
  },
  {
    name: 'claimPerKey',
    env: 'OUTBOX_CLAIM_PER_KEY',
    flag: 'claim-per-key',
    description: 'Most events of one key per claim, published in turn (lease must cover a run)',
    unit: 'events',
    shownDefault: String(DEFAULTS.claimPerKey),
    ...integer(1, 10_000),
  },
  {
    name: 'typeConcurrency',
    env: 'OUTBOX_TYPE_CONCURRENCY',
    flag: 'type-concurrency',
    description: 'Limits per type or glob pattern inside the concurrency: order.*=5,email.sent=2',
    shownDefault: '(none)',
    expected: 'a list such as order.*=5,email.sent=2',
    fromString: (text) => text,
    schema: typeConcurrencySchema,
  },
  {
    name: 'leaseMs',
    env: 'OUTBOX_LEASE_MS',
    flag: 'lease',
    description:
      'How long a claim lasts (at least (claimPerKey + 1 + prefetch/concurrency) publish timeouts)',
    unit: 'ms',
    shownDefault: String(DEFAULTS.leaseMs),
    ...integer(100, DAY),
  },
  {
    name: 'maxAttempts',
    env: 'OUTBOX_MAX_ATTEMPTS',
    flag: 'max-attempts',
    description: 'Attempts before an event is dead-lettered',
    shownDefault: String(DEFAULTS.maxAttempts),
    ...integer(1, 1_000_000),
  },
  {
    name: 'retryBaseMs',
    env: 'OUTBOX_RETRY_BASE_MS',
    flag: 'retry-base',
    description: 'First retry delay before jitter; doubles with each attempt',
    unit: 'ms',
    shownDefault: String(DEFAULTS.retryBaseMs),
    ...integer(1, DAY),
  },
  {
    name: 'retryMaxMs',
    env: 'OUTBOX_RETRY_MAX_MS',
    flag: 'retry-max',
    description: 'Longest retry delay',
    unit: 'ms',
    shownDefault: String(DEFAULTS.retryMaxMs),
    ...integer(1, 30 * DAY),
  },
  {
    name: 'publishTimeoutMs',
    env: 'OUTBOX_PUBLISH_TIMEOUT',
    flag: 'publish-timeout',
    description: 'Longest publish before it is aborted and retried',
    unit: 'ms',
    shownDefault: String(DEFAULTS.publishTimeoutMs),
    ...integer(10, DAY),
  },
  {
    name: 'shutdownTimeoutMs',
    env: 'OUTBOX_SHUTDOWN_TIMEOUT',
    flag: 'shutdown-timeout',
    description: 'How long a graceful stop waits for the events in flight',
    unit: 'ms',
    shownDefault: String(DEFAULTS.shutdownTimeoutMs),
    ...integer(0, DAY),
  },
  {
    name: 'memoryCheckIntervalMs',
    env: 'OUTBOX_MEMORY_CHECK_INTERVAL',
    flag: 'memory-check-interval',
    description: 'How often the heap is checked',
    unit: 'ms',
    shownDefault: String(DEFAULTS.memoryCheckIntervalMs),
    ...integer(100, DAY),
  },
  {
    name: 'maxHeapPercent',
    env: 'OUTBOX_MAX_HEAP_PERCENT',
    flag: 'max-heap-percent',
    description: 'Heap use above which memory:high is emitted',
    unit: '%',
    shownDefault: String(DEFAULTS.maxHeapPercent),
    ...integer(1, 100),
  },
  {
    name: 'retentionMs',
    env: 'OUTBOX_RETENTION_MS',
    flag: 'retention',
    description: 'How long delivered events are kept (0: deleted at once)',
    unit: 'ms',
    shownDefault: String(DEFAULTS.retentionMs),
    ...integer(0, 3650 * DAY),
  },
  {
    name: 'statsIntervalMs',
    env: 'OUTBOX_STATS_INTERVAL',
    flag: 'stats-interval',
    description: 'How often the outbox figures are refreshed for the status',
    unit: 'ms',
    shownDefault: String(DEFAULTS.statsIntervalMs),
    ...integer(100, DAY),
  },
  {
    name: 'httpPort',
    env: 'OUTBOX_HTTP_PORT',
    flag: 'http-port',
    description: 'Port of the metrics, health and dashboard server (unset: none)',
    shownDefault: '(none)',
    expected: 'a port from 0 to 65535, or nothing',
    fromString: asOptionalNumber,
    schema: z.number().int().min(0).max(65_535).nullable(),
  },
  {
    name: 'httpHost',
    env: 'OUTBOX_HTTP_HOST',
    flag: 'http-host',
    description: 'Interface of that server',
    shownDefault: DEFAULTS.httpHost,
    expected: 'a host name or an IP address',
    fromString: (text) => text.trim(),
    schema: z.string().min(1),
  },
  {
    name: 'adminToken',
    env: 'OUTBOX_ADMIN_TOKEN',
    flag: 'admin-token',
    description: 'Bearer token of the admin endpoints (unset: admin endpoints off)',
    shownDefault: '(none)',
    expected: 'a string of at least 16 characters',
    fromString: asOptionalString,
    schema: z.string().min(16).nullable(),
    secret: 'token',
  },
  {
    name: 'logLevel',
    env: 'OUTBOX_LOG_LEVEL',
    flag: 'log-level',
    description: 'Log level',
    shownDefault: DEFAULTS.logLevel,
    expected: `one of ${LOG_LEVELS.join(', ')}`,
    fromString: (text) => text.trim().toLowerCase(),
    schema: z.enum(LOG_LEVELS),
  },
  {
    name: 'redisUrl',
    env: 'OUTBOX_REDIS_URL',
    flag: 'redis-url',
    description: 'Redis URL for limits shared by several dispatchers (unset: local limits)',
    shownDefault: '(none)',
    expected: 'a redis:// or rediss:// URL',
    fromString: asOptionalString,
    schema: z
      .string()
      .regex(/^rediss?:\/\//)
      .nullable(),
    secret: 'url',
  },
  {
    name: 'globalConcurrency',
    env: 'OUTBOX_GLOBAL_CONCURRENCY',
    flag: 'global-concurrency',
    description: 'Publishes in flight at once across every dispatcher sharing the Redis',
    shownDefault: '(none)',
    expected: 'an integer from 1 to 100000, or nothing',
    fromString: asOptionalNumber,
    schema: z.number().int().min(1).max(100_000).nullable(),
  },
  {
    name: 'globalRate',
    env: 'OUTBOX_GLOBAL_RATE',
    flag: 'global-rate',
    description: 'Publishes per second across every dispatcher sharing the Redis',
    unit: '/s',
    shownDefault: '(none)',
    expected: 'an integer from 1 to 1000000, or nothing',
    fromString: asOptionalNumber,
    schema: z.number().int().min(1).max(1_000_000).nullable(),
  },
  {
    name: 'globalLimitName',
    env: 'OUTBOX_GLOBAL_LIMIT_NAME',
    flag: 'global-limit-name',
    description: 'Name of the shared limits in Redis; dispatchers with one name share a budget',
    shownDefault: '(publisher kind and destination host)',
    expected: '1 to 200 letters, digits, "_", ".", ":" or "-"',
    fromString: asOptionalString,
    schema: z
      .string()
      .regex(/^[\w.:-]{1,200}$/)
      .nullable(),
  },
];

/** The defaults of every setting, as a complete configuration. */
export function defaultConfig(): OutboxConfig {
  return {
    databaseUrl: null,
    table: DEFAULTS.table,
    schema: DEFAULTS.schema,
    notify: DEFAULTS.notify,
    publisherUrl: DEFAULTS.publisherUrl,
    publisherOptions: {},
    pollIntervalMs: DEFAULTS.pollIntervalMs,
    batchSize: DEFAULTS.batchSize,
    concurrency: DEFAULTS.concurrency,
    prefetch: DEFAULTS.prefetch,
    claimers: DEFAULTS.claimers,
    claimPerKey: DEFAULTS.claimPerKey,
    typeConcurrency: {},
    leaseMs: DEFAULTS.leaseMs,
    maxAttempts: DEFAULTS.maxAttempts,
    retryBaseMs: DEFAULTS.retryBaseMs,
    retryMaxMs: DEFAULTS.retryMaxMs,
    publishTimeoutMs: DEFAULTS.publishTimeoutMs,
    shutdownTimeoutMs: DEFAULTS.shutdownTimeoutMs,
    memoryCheckIntervalMs: DEFAULTS.memoryCheckIntervalMs,
    maxHeapPercent: DEFAULTS.maxHeapPercent,
    retentionMs: DEFAULTS.retentionMs,
    statsIntervalMs: DEFAULTS.statsIntervalMs,
    httpPort: null,
    httpHost: DEFAULTS.httpHost,
    adminToken: null,
    logLevel: DEFAULTS.logLevel,
    redisUrl: null,
    globalConcurrency: null,
    globalRate: null,
    globalLimitName: null,
  };
}
