/** Option checks shared by the publishers: each names the option, the value and the need. */
import { redactUrl } from './redact.js';

/**
 * Parses a broker publisher's URL and checks its scheme against `protocols` (`['amqp:',
 * 'amqps:']`); the error shows the URL without its password.
 */
export function publisherUrl(url: string | URL, protocols: readonly string[]): URL {
  const parsed = new URL(String(url));
  if (!protocols.includes(parsed.protocol)) {
    throw new TypeError(
      `the publisher URL must use ${protocols.join(' or ')}, got ${redactUrl(parsed)}`,
    );
  }

  return parsed;
}

export function positiveNumber(option: string, value: unknown, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    throw new RangeError(`${option} must be a positive number, got ${String(value)}`);
  }

  return value;
}

export function nonNegativeInteger(option: string, value: unknown, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0) {
    throw new RangeError(`${option} must be a non-negative integer, got ${String(value)}`);
  }

  return value;
}

export function stringRecord(option: string, value: unknown): Record<string, string> {
  if (value === undefined) return {};
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new TypeError(`${option} must be an object of string values`);
  }

  for (const [name, entry] of Object.entries(value)) {
    if (typeof entry !== 'string') {
      throw new TypeError(`${option}.${name} must be a string, got ${typeof entry}`);
    }
  }

  return value as Record<string, string>;
}

/**
 * TLS settings for `https:`, `amqps:`, `rediss:`, `mqtts:` and NATS with TLS. Buffers or PEM
 * strings, as Node's `tls.connect` takes them.
 */
export interface TlsOptions {
  /** Trusted certificate authorities. Default: Node's bundled roots. */
  ca?: string | Buffer | Array<string | Buffer>;
  /** Client certificate, for mutual TLS. */
  cert?: string | Buffer;
  /** Client private key, for mutual TLS. */
  key?: string | Buffer;
  /** Passphrase of `key`. */
  passphrase?: string;
  /** Refuse servers whose certificate does not verify. Default: `true`. */
  rejectUnauthorized?: boolean;
  /** Server name for SNI and certificate checks. Default: the URL's host name. */
  servername?: string;
}

/** Milliseconds to wait for a connection before giving up. Default of every publisher. */
export const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;

/** Milliseconds `close()` waits for outstanding confirmations. Default of every publisher. */
export const DEFAULT_CLOSE_TIMEOUT_MS = 5_000;
