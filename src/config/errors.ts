/**
 * A setting that is missing, malformed or out of range. The message names the setting, where it
 * came from (a flag, a variable, the config file), the value (redacted when secret) and what was
 * expected, so that it can be shown to the user as is.
 */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  readonly isConfigError = true;

  constructor(
    message: string,
    /** The setting's name (`concurrency`), or the file for an unreadable config file. */
    readonly setting: string,
    /** Where the value came from: `--concurrency`, `OUTBOX_CONCURRENCY`, `config.json`. */
    readonly source: string,
  ) {
    super(message);
  }
}

export function isConfigError(error: unknown): error is ConfigError {
  return (
    typeof error === 'object' &&
    error !== null &&
    (error as { isConfigError?: unknown }).isConfigError === true
  );
}
