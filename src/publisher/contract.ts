import type { OutboxEvent } from '../event.js';

/**
 * The publisher contract. `publish` resolves only once the destination has confirmed the event
 * (a broker acknowledgement, an HTTP 2xx). It rejects with a `PublishError` that says whether the
 * failure is worth retrying, permanent, or a sign of overload.
 */
export interface Publisher {
  /** A short name for logs and metrics: `http`, `amqp`, `nats`, `redis`, `mqtt`, `stdout`. */
  readonly name: string;

  /** Delivers one event. Must stop waiting and reject when `signal` aborts. */
  publish(event: OutboxEvent, options: PublishOptions): Promise<void>;

  /** Checks that the destination is reachable (for readiness probes). Optional. */
  check?(signal?: AbortSignal): Promise<void>;

  /** Waits for outstanding confirmations, then closes connections. Idempotent. */
  close(): Promise<void>;
}

export interface PublishOptions {
  /** Aborted on timeout or shutdown. */
  signal: AbortSignal;
}

/**
 * How a failed publish should be treated:
 * - `retryable`: try again later with backoff (connection lost, timeout, 5xx);
 * - `permanent`: dead-letter at once (rejected, unroutable, 4xx other than 408 and 429);
 * - `overload`: the destination pushes back (429, 503); retry after `retryAfterMs` if given,
 *   and let the adaptive limit shrink.
 */
export type PublishFailureKind = 'retryable' | 'permanent' | 'overload';

export class PublishError extends Error {
  override readonly name = 'PublishError';
  readonly isPublishError = true;

  constructor(
    message: string,
    readonly kind: PublishFailureKind,
    options: { cause?: unknown; retryAfterMs?: number } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.retryAfterMs = options.retryAfterMs;
  }

  /** For `overload`: when to come back, in milliseconds, from a `Retry-After` hint. */
  readonly retryAfterMs: number | undefined;
}

export function isPublishError(error: unknown): error is PublishError {
  return (
    typeof error === 'object' &&
    error !== null &&
    (error as { isPublishError?: unknown }).isPublishError === true
  );
}
