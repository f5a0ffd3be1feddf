/** Which shared limit an event is about. */
export type SharedLimitKind = 'concurrency' | 'rate';

/** The typed events of the shared limits (payloads are objects). */
export interface CoordinationEvents {
  /**
   * A warning: Redis could not be reached, so this process applies its local limit alone until
   * Redis answers again. Emitted once per outage and limit.
   */
  'coordination:fallback': [{ name: string; limit: SharedLimitKind; error: string }];
  /** Redis answers again: the shared limit applies again. */
  'coordination:restored': [{ name: string; limit: SharedLimitKind }];
  /**
   * A held permit's lease could not be extended (Redis unreachable or the lease already expired),
   * so another dispatcher may take the permit before this publish ends.
   */
  'permit:lost': [{ name: string; error: string }];
}

/** Turns option values into a RangeError that names the option, the value and the expectation. */
export function checkPositiveInteger(option: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1) {
    throw new RangeError(`${option} must be a positive integer, got ${String(value)}`);
  }

  return value;
}

/** Shared-limit names end up in Redis keys: keep them to a safe alphabet. */
export function checkName(option: string, value: unknown): string {
  if (typeof value !== 'string' || !/^[\w.:-]{1,200}$/.test(value)) {
    throw new TypeError(
      `${option} must be 1-200 characters of letters, digits, "_", ".", ":" or "-", ` +
        `got ${JSON.stringify(value)}`,
    );
  }

  return value;
}
