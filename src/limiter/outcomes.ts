// What a finished task tells the limiter: its outcome for the breaker and the adaptive limit,
// its run time for the percentiles, and the limit changes that follow.
import type { LimitChangeReason } from './adaptive.js';
import type { Outcome } from './outcome.js';
import { pump, updateGate } from './admission.js';
import type { LimiterState } from './state.js';
import { PERMIT, PROBE } from './task.js';
import { emitSafely } from './waiters.js';

/** The outcome of a failure; a classifier that throws counts as a failure. */
export function classifySafely(s: LimiterState, error: unknown): Outcome {
  try {
    return s.classify(error);
  } catch {
    return 'failure';
  }
}

/** Records a timed task's run time, `ms`, that ended at `now` (clock ms). */
export function timeRun(s: LimiterState, ms: number, now: number): void {
  // Each sample stands for the tasks skipped since the last one. Samples more often than one per
  // 50 µs would cost about as much as the tasks (a clock read costs about as much as a no-op
  // task): then fewer tasks are timed. Less often than one per 0.5 ms, more are, up to all.
  s.runTime.record(ms, s.sampleEvery);
  const gap = now - s.lastSampleAt;
  s.lastSampleAt = now;
  if (gap < 0.05) s.sampleEvery = Math.min(s.maxSampleEvery, s.sampleEvery * 2);
  else if (gap > 0.5 && s.sampleEvery > 1) s.sampleEvery >>= 1;
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

/** The limit may have moved: updates the gate, emits, and starts what may start. */
export function limitChanged(s: LimiterState, previous: number, reason: LimitChangeReason): void {
  s.current = s.adaptive?.limit ?? s.current;
  updateGate(s);
  if (s.current === previous) return;

  emitSafely(s, 'limit:changed', { limit: s.current, previous, reason });
  if (s.current > previous) pump(s);
}
