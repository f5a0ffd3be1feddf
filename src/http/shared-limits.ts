import type { LimitedPublisher } from '../coordination/index.js';

/** One shared limit as the metrics and the dashboard show it. */
export interface SharedLimitView {
  name: string;
  concurrency: { limit: number; mode: 'shared' | 'local'; held: number } | null;
  rate: { limit: number; intervalMs: number; mode: 'shared' | 'local' } | null;
}

/** Reads the shared limits' state from memory. */
export function describeSharedLimits(
  source: Pick<LimitedPublisher, 'limits'> | undefined,
): SharedLimitView[] {
  if (source === undefined) {
    return [];
  }

  return [...source.limits.entries()].map(([name, { concurrency, rate }]) => ({
    name,
    concurrency: concurrency
      ? { limit: concurrency.limit, mode: concurrency.mode, held: concurrency.active }
      : null,
    rate: rate ? { limit: rate.limit, intervalMs: rate.intervalMs, mode: rate.mode } : null,
  }));
}
