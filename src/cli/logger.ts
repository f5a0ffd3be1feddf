import { pino } from 'pino';
import type { Logger } from 'pino';

/**
 * Field paths pino censors in every log line, whatever logs them: passwords, tokens, secrets,
 * authorization headers and connection strings. URLs are also redacted before they are logged.
 */
export const REDACTED_PATHS = [
  'password',
  'token',
  'secret',
  'adminToken',
  'authorization',
  'connectionString',
  '*.password',
  '*.token',
  '*.secret',
  '*.adminToken',
  '*.authorization',
  '*.connectionString',
  'headers.authorization',
  '*.headers.authorization',
  'publisherOptions',
  '*.publisherOptions',
];

/** The command's logger: JSON lines on standard error (standard output may carry events). */
export function createLogger(level: string): Logger {
  return pino(
    {
      level,
      base: { pid: process.pid },
      redact: { paths: REDACTED_PATHS, censor: '***' },
    },
    pino.destination({ fd: 2, sync: false }),
  );
}
