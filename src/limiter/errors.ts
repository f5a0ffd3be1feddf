/**
 * The errors a limiter or breaker rejects with. Each carries a marker field so that the guards
 * work across module copies (a CommonJS and an ESM build of this package in one process).
 */

/** `run()` could not queue the task: the queue or the live-key table is full, or it was dropped. */
export class QueueFullError extends Error {
  override readonly name = 'QueueFullError';
  readonly isQueueFullError = true;

  constructor(
    message: string,
    /**
     * `full`: refused at once; `dropped`: evicted by a newer task (`drop-oldest`); `keys`: too
     * many live keys.
     */
    readonly reason: 'full' | 'dropped' | 'keys' = 'full',
  ) {
    super(message);
  }
}

/** The circuit breaker refused the call. */
export class CircuitOpenError extends Error {
  override readonly name = 'CircuitOpenError';
  readonly isCircuitOpenError = true;

  constructor(
    message: string,
    /** How long until the breaker lets a probe through, in milliseconds (0 if unknown). */
    readonly retryAfterMs: number,
  ) {
    super(message);
  }
}

/** The task was aborted through its signal, before or while it ran. */
export class AbortedError extends Error {
  override readonly name = 'AbortedError';
  readonly isAbortedError = true;

  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** The task ran longer than its timeout. Its slot stays taken until it really settles. */
export class TaskTimeoutError extends Error {
  override readonly name = 'TaskTimeoutError';
  readonly isTaskTimeoutError = true;

  constructor(
    /** The timeout that expired, in milliseconds. */
    readonly timeoutMs: number,
  ) {
    super(`task timed out after ${timeoutMs} ms`);
  }
}

/** The limiter is draining or drained and takes no new work; queued tasks were handed back. */
export class ShuttingDownError extends Error {
  override readonly name = 'ShuttingDownError';
  readonly isShuttingDownError = true;

  constructor(message = 'the limiter is shutting down and takes no new tasks') {
    super(message);
  }
}

function hasMarker(error: unknown, marker: string): boolean {
  return (
    typeof error === 'object' &&
    error !== null &&
    (error as Record<string, unknown>)[marker] === true
  );
}

export function isQueueFullError(error: unknown): error is QueueFullError {
  return hasMarker(error, 'isQueueFullError');
}

export function isCircuitOpenError(error: unknown): error is CircuitOpenError {
  return hasMarker(error, 'isCircuitOpenError');
}

export function isAbortedError(error: unknown): error is AbortedError {
  return hasMarker(error, 'isAbortedError');
}

export function isTaskTimeoutError(error: unknown): error is TaskTimeoutError {
  return hasMarker(error, 'isTaskTimeoutError');
}

export function isShuttingDownError(error: unknown): error is ShuttingDownError {
  return hasMarker(error, 'isShuttingDownError');
}
