/** The exit codes of the `outbox` command. */
export const EXIT = {
  /** Done. */
  ok: 0,
  /** A failure while running (the database went away for good, a bug). */
  failure: 1,
  /** A usage or configuration mistake: a bad flag, a missing or invalid setting. */
  usage: 2,
  /** The database or the publisher could not be reached at start. */
  unreachable: 3,
  /** Forced exit: a second SIGINT or SIGTERM during a graceful stop. */
  forced: 130,
} as const;

/** A mistake of the user's: shown as one line, without a stack trace; exit code 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
  readonly isUsageError = true;
}

export function isUsageError(error: unknown): error is UsageError {
  return (
    typeof error === 'object' &&
    error !== null &&
    (error as { isUsageError?: unknown }).isUsageError === true
  );
}

/** The database or the publisher did not answer at start; exit code 3. */
export class UnreachableError extends Error {
  override readonly name = 'UnreachableError';
  readonly isUnreachableError = true;

  constructor(
    message: string,
    /** Which side: `database` or `publisher`. */
    readonly target: 'database' | 'publisher',
  ) {
    super(message);
  }
}

export function isUnreachableError(error: unknown): error is UnreachableError {
  return (
    typeof error === 'object' &&
    error !== null &&
    (error as { isUnreachableError?: unknown }).isUnreachableError === true
  );
}
