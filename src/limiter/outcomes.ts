// What a finished task tells the limiter: its outcome for the breaker and the adaptive limit,
// its run time for the percentiles, and the limit changes that follow.
import type { LimitChangeReason } from './adaptive.js';
import type { Outcome } from './outcome.js';
import { pump, updateGate } from './admission.js';
import type { LimiterState } from './state.js';
import { PERMIT, PROBE } from './task.js';
import { emitSafely } from './waiters.js';

export function classifySafely(s: LimiterState, error: unknown): Outcome {
  try {
    return s.classify(error);
  } catch {
    return 'failure';
  }
}

export function timeRun(s: LimiterState, ms: number): void {
  // Each sample stands for the tasks skipped since the last one. Short tasks are timed less
  // often (a clock read costs about as much as a no-op task), long ones every time.
  s.runTime.record(ms, s.sampleEvery);
  if (ms < 0.05) s.sampleEvery = Math.min(s.maxSampleEvery, s.sampleEvery * 2);
  else if (ms > 0.5 && s.sampleEvery > 1) s.sampleEvery >>= 1;
  if (s.adaptive?.onRunTime(ms, s.active) === true) {
    limitChanged(s, s.current, 'latency');
  }
}

/** Counts an outcome for the breaker and the adaptive limit. */
export function recordOutcome(s: LimiterState, flags: number, outcome: Outcome): void {
  if (s.breaker !== null) {
    const permit = (flags & PROBE) !== 0 ? 2 : (flags & PERMIT) !== 0 ? 1 : 0;
    if (permit !== 0) s.breaker.release(permit, outcome);
  }
  const adaptive = s.adaptive;
  if (adaptive === null) return;

  const previous = s.current;
  if (outcome === 'success') {
    if (adaptive.onSuccess(s.active)) limitChanged(s, previous, 'increase');
  } else if (outcome === 'overload') {
    if (adaptive.onOverload(s.active)) limitChanged(s, previous, 'overload');
  } else {
    adaptive.onNeutral();
  }
}

export function limitChanged(s: LimiterState, previous: number, reason: LimitChangeReason): void {
  s.current = s.adaptive?.limit ?? s.current;
  updateGate(s);
  if (s.current === previous) return;

  emitSafely(s, 'limit:changed', { limit: s.current, previous, reason });
  if (s.current > previous) pump(s);
}
