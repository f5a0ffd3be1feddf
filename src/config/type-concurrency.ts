/**
 * Reads a per-type concurrency list such as `order.*=5,email.sent=2`: an event type or a glob
 * pattern (`*` matches any run of characters), `=`, and a positive integer. Returns the limits
 * in the order given, or a string saying what is wrong.
 */
export function parseTypeConcurrency(text: string): Record<string, number> | string {
  const limits: Record<string, number> = {};
  const entries = text
    .split(',')
    .map((entry) => entry.trim())
    .filter((entry) => entry !== '');

  for (const entry of entries) {
    const match = /^([^=\s]+)\s*=\s*(\d+)$/.exec(entry);
    if (match === null) return `"${entry}" is not of the form type=limit`;

    const [, pattern, limit] = match as unknown as [string, string, string];
    const value = Number(limit);
    if (value < 1) return `the limit of "${pattern}" must be at least 1`;

    limits[pattern] = value;
  }

  return limits;
}
