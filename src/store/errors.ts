/**
 * The store's typed errors. Connection-level failures become a `StoreUnavailableError`, so that
 * the dispatcher can back off and retry; every other error propagates unchanged.
 */

/** The database cannot be reached (refused, reset, shutting down, busy past the timeout). */
export class StoreUnavailableError extends Error {
  override readonly name = 'StoreUnavailableError';
  readonly isStoreUnavailableError = true;

  constructor(
    /** `postgres` or `sqlite`. */
    readonly store: string,
    /** Where the store points, with any password redacted. */
    readonly target: string,
    cause: unknown,
  ) {
    super(`${store} store at ${target} is unavailable: ${describe(cause)}`, { cause });
  }
}

export function isStoreUnavailableError(error: unknown): error is StoreUnavailableError {
  return (
    typeof error === 'object' &&
    error !== null &&
    (error as { isStoreUnavailableError?: unknown }).isStoreUnavailableError === true
  );
}

/** An event given to `enqueue` that cannot be stored (no type, oversize, not JSON). */
export class InvalidEventError extends Error {
  override readonly name = 'InvalidEventError';
  readonly isInvalidEventError = true;

  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

export function isInvalidEventError(error: unknown): error is InvalidEventError {
  return (
    typeof error === 'object' &&
    error !== null &&
    (error as { isInvalidEventError?: unknown }).isInvalidEventError === true
  );
}

/** Replaces the password of a connection URL with `***`; other strings come back unchanged. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password === '') return url;

    parsed.password = '***';

    return parsed.toString();
  } catch {
    return url.replace(/\/\/([^:/@]*):[^@/]*@/, '//$1:***@');
  }
}

const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
]);

/**
 * PostgreSQL SQLSTATEs that mean "the server is going away or refuses connections":
 * 57P01 admin_shutdown, 57P02 crash_shutdown, 57P03 cannot_connect_now, 53300
 * too_many_connections, and class 08 (connection exceptions).
 */
const PG_UNAVAILABLE = new Set(['57P01', '57P02', '57P03', '53300']);

const PG_CLIENT_MESSAGES = [
  'Connection terminated',
  'connection terminated',
  'Client has encountered a connection error',
  'timeout exceeded when trying to connect',
  'Client was closed and is not queryable',
  'Cannot use a pool after calling end',
];

/** Whether a PostgreSQL driver error is a connection-level failure. */
export function isPgConnectionError(error: unknown): boolean {
  if (typeof error !== 'object' || error === null) return false;

  const { code, message } = error as { code?: unknown; message?: unknown };
  if (typeof code === 'string') {
    if (NETWORK_CODES.has(code) || PG_UNAVAILABLE.has(code) || code.startsWith('08')) return true;
  }

  if (typeof message === 'string') {
    return PG_CLIENT_MESSAGES.some((text) => message.includes(text));
  }

  return false;
}

/** Whether a better-sqlite3 error means the database is busy or cannot be opened or written. */
export function isSqliteUnavailableError(error: unknown): boolean {
  if (typeof error !== 'object' || error === null) return false;

  const { code } = error as { code?: unknown };
  if (typeof code !== 'string') return false;

  return (
    code.startsWith('SQLITE_BUSY') ||
    code.startsWith('SQLITE_LOCKED') ||
    code.startsWith('SQLITE_CANTOPEN') ||
    code.startsWith('SQLITE_IOERR') ||
    code === 'SQLITE_FULL'
  );
}

function describe(cause: unknown): string {
  const message = cause instanceof Error ? cause.message : String(cause);
  const code = (cause as { code?: unknown } | null)?.code;
  const text =
    typeof code === 'string' && !message.includes(code) ? `${message} (${code})` : message;

  return text.replace(/\/\/([^:/@\s]*):[^@/\s]*@/g, '//$1:***@');
}
