/**
 * How a finished task counts:
 * - `success`: it worked;
 * - `failure`: it failed; counts toward the breaker's failure rate;
 * - `overload`: the destination pushed back (a timeout, "too many requests", "unavailable"):
 *   counts as a failure for the breaker and makes the adaptive limit shrink;
 * - `ignore`: counts for neither (a caller's own mistake such as a 400, or an abort).
 */
export type Outcome = 'success' | 'failure' | 'overload' | 'ignore';

/** Maps a rejection reason to an `Outcome`. */
export type Classifier = (error: unknown) => Outcome;

const OVERLOAD_STATUS = new Set([429, 503]);
const OVERLOAD_CODES = new Set(['ETIMEDOUT', 'ESOCKETTIMEDOUT', 'EBUSY', 'ENOBUFS']);

/**
 * The default classifier. Overload: a `TaskTimeoutError`, an error whose `kind` is `overload`,
 * whose `status` or `statusCode` is 429 or 503, or whose `code` is a timeout/busy code. Ignore: an
 * `AbortedError`, or an error whose `kind` is `permanent` (the event was refused, the destination
 * is fine). Anything else is a failure.
 */
export function defaultClassify(error: unknown): Outcome {
  if (typeof error !== 'object' || error === null) return 'failure';

  const fields = error as Record<string, unknown>;
  if (fields.isTaskTimeoutError === true || fields.kind === 'overload') return 'overload';
  if (fields.isAbortedError === true || fields.kind === 'permanent') return 'ignore';

  const status = fields.status ?? fields.statusCode;
  if (typeof status === 'number' && OVERLOAD_STATUS.has(status)) return 'overload';
  if (typeof fields.code === 'string' && OVERLOAD_CODES.has(fields.code)) return 'overload';

  return 'failure';
}
