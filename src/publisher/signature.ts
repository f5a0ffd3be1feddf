import { createHmac, timingSafeEqual } from 'node:crypto';

/** The header that carries a webhook's signature: `t=<unix seconds>,v1=<hex HMAC-SHA256>`. */
export const SIGNATURE_HEADER = 'outbox-signature';

/** The default replay window of `verifyWebhookSignature`: 300 seconds. */
export const DEFAULT_TOLERANCE_SECONDS = 300;

/** HMAC-SHA256, in hex, of `"<timestamp>.<body>"` with the shared secret. */
export function computeSignature(
  secret: string | Buffer,
  timestampSeconds: number,
  body: string | Buffer,
): string {
  return createHmac('sha256', secret).update(`${timestampSeconds}.`).update(body).digest('hex');
}

/** The value of the `outbox-signature` header for a body sent at `timestampSeconds`. */
export function signatureHeader(
  secret: string | Buffer,
  timestampSeconds: number,
  body: string | Buffer,
): string {
  return `t=${timestampSeconds},v1=${computeSignature(secret, timestampSeconds, body)}`;
}

export interface VerifyWebhookOptions {
  /** The shared secret, or several while rotating: any one that matches is accepted. */
  secret: string | Buffer | ReadonlyArray<string | Buffer>;
  /** The `outbox-signature` header as received. */
  header: string | undefined | null;
  /** The raw request body, exactly as received (before any JSON parsing). */
  body: string | Buffer;
  /** How old (or how far in the future) a timestamp may be, in seconds. Default: 300. */
  toleranceSeconds?: number;
  /** The current time in milliseconds since the epoch. Default: `Date.now()`. */
  now?: number;
}

/**
 * For webhook receivers: true when the header holds a valid signature of `body` made with the
 * secret less than `toleranceSeconds` ago. A receiver rejects the request otherwise; to refuse
 * replays inside the window too, it also remembers the `idempotency-key` of events it handled.
 */
export function verifyWebhookSignature(options: VerifyWebhookOptions): boolean {
  if (typeof options.header !== 'string') return false;

  let timestamp = Number.NaN;
  const signatures: string[] = [];
  for (const part of options.header.split(',')) {
    const [name, value] = part.trim().split('=', 2);
    if (name === 't' && value !== undefined && /^\d+$/.test(value)) timestamp = Number(value);
    if (name === 'v1' && value !== undefined) signatures.push(value);
  }
  if (!Number.isFinite(timestamp) || signatures.length === 0) return false;

  const tolerance = options.toleranceSeconds ?? DEFAULT_TOLERANCE_SECONDS;
  const nowSeconds = Math.floor((options.now ?? Date.now()) / 1000);
  if (Math.abs(nowSeconds - timestamp) > tolerance) return false;

  const secrets = Array.isArray(options.secret) ? options.secret : [options.secret];

  return secrets.some((secret: string | Buffer) => {
    const expected = Buffer.from(computeSignature(secret, timestamp, options.body), 'utf8');

    return signatures.some((candidate) => {
      const given = Buffer.from(candidate, 'utf8');

      return given.length === expected.length && timingSafeEqual(given, expected);
    });
  });
}
