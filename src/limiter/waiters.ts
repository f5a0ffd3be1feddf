// The limiter's waiters (onIdle, onRoom) and its events.
import type { LimiterEvents } from './limiter-types.js';
import type { LimiterState } from './state.js';

/** Nothing runs and nothing waits. */
export function isIdle(s: LimiterState): boolean {
  return s.active === 0 && s.queued === 0 && s.parked.head === null;
}

/** Wakes idle and room waiters whose condition holds. */
export function notify(s: LimiterState): void {
  if (s.active === 0 && isIdle(s)) {
    const waiters = s.idleWaiters;
    s.idleWaiters = null;
    if (waiters !== null) for (const resolve of waiters) resolve();
    emitSafely(s, 'idle');
  }
  if (s.roomWaiters !== null && (s.available > 0 || s.closed)) {
    const waiters = s.roomWaiters;
    s.roomWaiters = null;
    for (const resolve of waiters) resolve();
  }
}

/** Emits an event if anyone listens; a listener that throws never breaks the limiter. */
export function emitSafely<K extends keyof LimiterEvents>(
  s: LimiterState,
  name: K,
  ...args: LimiterEvents[K]
): void {
  const emitter = s.emitter;
  if (emitter.listenerCount(name) === 0) return;

  try {
    (emitter.emit as (name: K, ...args: LimiterEvents[K]) => boolean)(name, ...args);
  } catch (error) {
    // A throwing listener must not break the limiter; surface it as an uncaught exception.
    process.nextTick(() => {
      throw error;
    });
  }
}

/** Resolves when nothing runs and nothing waits. */
export function whenIdle(s: LimiterState): Promise<void> {
  if (isIdle(s)) return Promise.resolve();

  return new Promise((resolve) => (s.idleWaiters ??= []).push(resolve));
}

/** Resolves when a task would start at once, or once the limiter drains. */
export function whenRoom(s: LimiterState): Promise<void> {
  if (s.available > 0 || s.closed) return Promise.resolve();

  return new Promise((resolve) => (s.roomWaiters ??= []).push(resolve));
}
