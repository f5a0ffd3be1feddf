/** Options shared by both stores, their defaults and their validation. */

/** What happens to the later events of a key whose head event is dead-lettered. */
export type DeadKeyPolicy = 'hold' | 'skip';

export interface CommonStoreOptions {
  /** The outbox table. Letters, digits and `_`, at most 63 characters. Default `outbox`. */
  table?: string;
  /**
   * How many times an event may be claimed before it is dead-lettered. Attempts are counted at
   * claim, so an event whose dispatcher keeps crashing is dead-lettered too. Default 10.
   */
  maxAttempts?: number;
  /**
   * How long delivered events are kept, in milliseconds. `0` deletes them at once on `complete`;
   * otherwise they are marked delivered and `purgeDelivered` removes them later, in batches.
   * Default 0.
   */
  retentionMs?: number;
  /**
   * What a dead-lettered event does to the later events of its key: `hold` keeps them back until
   * it is requeued (strict order), `skip` lets them flow past it. Default `hold`.
   */
  deadKeyPolicy?: DeadKeyPolicy;
  /**
   * The largest payload accepted, in bytes of its JSON text. `enqueue` refuses larger ones and a
   * claim dead-letters larger rows written by other means. Default 1 MiB (1,048,576).
   */
  maxPayloadBytes?: number;
  /**
   * Ceiling of the first retry delay when `fail` gets no `retryAt`, in milliseconds; the delay
   * doubles per attempt, with full jitter. Default 1000.
   */
  retryBaseMs?: number;
  /** Longest retry delay when `fail` gets no `retryAt`, in milliseconds. Default 300,000. */
  retryMaxMs?: number;
}

export interface ResolvedCommonOptions {
  table: string;
  maxAttempts: number;
  retentionMs: number;
  deadKeyPolicy: DeadKeyPolicy;
  maxPayloadBytes: number;
  retryBaseMs: number;
  retryMaxMs: number;
}

export const DEFAULT_TABLE = 'outbox';
export const DEFAULT_MAX_PAYLOAD_BYTES = 1024 * 1024;

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;

/** Checks a schema or table name before it reaches SQL; throws a TypeError naming the option. */
export function checkIdentifier(option: string, value: unknown): string {
  if (typeof value !== 'string' || !IDENTIFIER.test(value)) {
    throw new TypeError(
      `${option} must be an identifier of letters, digits and _ (at most 63, not starting with ` +
        `a digit); got ${JSON.stringify(value)}`,
    );
  }

  return value;
}

export function checkInteger(option: string, value: unknown, min: number, max?: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value)) {
    throw new TypeError(`${option} must be an integer; got ${String(value)}`);
  }

  if (value < min || (max !== undefined && value > max)) {
    const range = max === undefined ? `>= ${min}` : `between ${min} and ${max}`;
    throw new RangeError(`${option} must be ${range}; got ${value}`);
  }

  return value;
}

export function resolveCommonOptions(options: CommonStoreOptions): ResolvedCommonOptions {
  const policy = options.deadKeyPolicy ?? 'hold';
  if (policy !== 'hold' && policy !== 'skip') {
    throw new TypeError(`deadKeyPolicy must be 'hold' or 'skip'; got ${String(policy)}`);
  }

  const resolved: ResolvedCommonOptions = {
    table: checkIdentifier('table', options.table ?? DEFAULT_TABLE),
    maxAttempts: checkInteger('maxAttempts', options.maxAttempts ?? 10, 1),
    retentionMs: checkInteger('retentionMs', options.retentionMs ?? 0, 0),
    deadKeyPolicy: policy,
    maxPayloadBytes: checkInteger(
      'maxPayloadBytes',
      options.maxPayloadBytes ?? DEFAULT_MAX_PAYLOAD_BYTES,
      1,
    ),
    retryBaseMs: checkInteger('retryBaseMs', options.retryBaseMs ?? 1000, 1),
    retryMaxMs: checkInteger('retryMaxMs', options.retryMaxMs ?? 300_000, 1),
  };
  if (resolved.retryMaxMs < resolved.retryBaseMs) {
    throw new RangeError(
      `retryMaxMs must be >= retryBaseMs (${resolved.retryBaseMs}); got ${resolved.retryMaxMs}`,
    );
  }

  return resolved;
}

/**
 * The delay before retry number `attempt` (1 for the first retry): exponential backoff with full
 * jitter, a random value between 0 and `min(maxMs, baseMs * 2^(attempt - 1))`, in milliseconds.
 */
export function backoffDelay(
  attempt: number,
  options: { baseMs: number; maxMs: number },
  random: () => number = Math.random,
): number {
  const exponent = Math.min(Math.max(attempt - 1, 0), 52);
  const ceiling = Math.min(options.maxMs, options.baseMs * 2 ** exponent);

  return Math.floor(random() * ceiling);
}

/**
 * Checks `claim` options; throws a TypeError or RangeError naming the option. Returns `perKey`
 * (1 when not given).
 */
export function checkClaimOptions(options: {
  limit: number;
  leaseMs: number;
  perKey?: number;
}): number {
  checkInteger('limit', options.limit, 1, 10_000);
  checkInteger('leaseMs', options.leaseMs, 1);
  const perKey = options.perKey;
  if (perKey === undefined) return 1;

  if (typeof perKey !== 'number' || !Number.isInteger(perKey)) {
    throw new TypeError(`perKey must be an integer; got ${String(perKey)}`);
  }

  if (perKey < 1 || perKey > options.limit) {
    throw new RangeError(
      `perKey must be between 1 and the claim's limit (${options.limit}); got ${perKey}`,
    );
  }

  return perKey;
}
