import { createHash, timingSafeEqual } from 'node:crypto';

/** What the bearer-token check decided. */
export type AuthOutcome = 'allowed' | 'no-token-configured' | 'missing' | 'wrong';

/** How to configure the admin token, for the refusal message. */
export const TOKEN_HINT =
  'set OUTBOX_ADMIN_TOKEN (or adminToken in the config file, or --admin-token; the `token` ' +
  'option of startHttpServer) and send it as "Authorization: Bearer <token>"';

/**
 * Checks an `Authorization: Bearer <token>` header against the configured token in constant time
 * (both sides are hashed first, so neither the content nor the length leaks through timing).
 */
export function authorize(header: string | undefined, token: string | null): AuthOutcome {
  if (token === null) {
    return 'no-token-configured';
  }

  const match = /^Bearer\s+(\S+)\s*$/i.exec(header ?? '');
  if (!match?.[1]) {
    return 'missing';
  }

  return timingSafeEqual(digest(match[1]), digest(token)) ? 'allowed' : 'wrong';
}

function digest(value: string): Buffer {
  return createHash('sha256').update(value, 'utf8').digest();
}
