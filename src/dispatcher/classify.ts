import { redactText } from '../config/redact.js';
import { isAbortedError, isTaskTimeoutError } from '../limiter/index.js';
import type { Outcome } from '../limiter/index.js';
import { isPublishError } from '../publisher/contract.js';
import type { PublishFailureKind } from '../publisher/contract.js';
import { isRunStoppedError } from './runs.js';

/** A failed publish, normalised once: what kind of failure, a safe message, a hint. */
export interface Failure {
  kind: PublishFailureKind;
  /** The message, with any URL's password redacted. */
  message: string;
  /** For overload: when to come back, in milliseconds. */
  retryAfterMs?: number | undefined;
}

/**
 * Normalises whatever a publish rejected with. A `PublishError` keeps its kind and hint; a
 * timeout is an overload (the destination is slow); anything else (an abort, a bug in a
 * publisher) is retryable, so that an event is never dropped for an unexpected error.
 */
export function toFailure(error: unknown): Failure {
  if (isPublishError(error)) {
    return { kind: error.kind, message: safeMessage(error), retryAfterMs: error.retryAfterMs };
  }

  if (isTaskTimeoutError(error)) {
    return { kind: 'overload', message: `publish timed out after ${error.timeoutMs} ms` };
  }

  if (isAbortedError(error)) return { kind: 'retryable', message: 'publish aborted' };

  return { kind: 'retryable', message: safeMessage(error) };
}

/**
 * How a rejection counts for the limiter's breaker and adaptive limit: a permanent failure is
 * the event's fault, not the destination's (`ignore`); an overload shrinks the limit; anything
 * else is a failure. An abort (shutdown) and an event of a run handed back unpublished count
 * for nothing.
 */
export function classifyForLimiter(error: unknown): Outcome {
  if (isAbortedError(error) || isRunStoppedError(error)) return 'ignore';

  const failure = toFailure(error);
  if (failure.kind === 'permanent') return 'ignore';

  return failure.kind === 'overload' ? 'overload' : 'failure';
}

/** An error's message, redacted and cut to a size that fits in a log line and a row. */
export function safeMessage(error: unknown): string {
  const text =
    error instanceof Error ? `${error.message}` : typeof error === 'string' ? error : String(error);
  const redacted = redactText(text);

  return redacted.length > 1000 ? `${redacted.slice(0, 997)}...` : redacted;
}
