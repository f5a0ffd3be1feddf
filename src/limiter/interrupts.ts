// Interruptions of running and waiting tasks: timeouts, aborts through a caller's signal, the
// drain and its deadline, and the breaker opening, half-opening and closing.
import type {
  BreakerClosedEvent,
  BreakerHalfOpenEvent,
  BreakerOpenedEvent,
} from './breaker-types.js';
import type { CircuitBreaker } from './breaker.js';
import { AbortedError, ShuttingDownError, TaskTimeoutError } from './errors.js';
import { forEachWaiting, pump, unlink, updateGate } from './admission.js';
import type { DrainResult } from './limiter-types.js';
import { classifySafely, recordOutcome } from './outcomes.js';
import { refuse } from './promises.js';
import { detach } from './settlement.js';
import type { LimiterState } from './state.js';
import {
  DEADLINE,
  PARKED,
  QUEUED,
  RECORDED,
  RUNNING,
  SETTLED,
  TIMED_OUT,
  abortTask,
} from './task.js';
import type { Task, TaskExtra } from './task.js';
import { emitSafely, notify, whenIdle } from './waiters.js';

/** A task on the shared deadline list is past its deadline (see Deadlines). */
export function expireTask(s: LimiterState, task: Task, timeoutMs: number): void {
  task.flags &= ~DEADLINE;
  onTimeout(s, task, timeoutMs);
}

/** A running task's timeout expired: its caller is told, its slot stays taken until it ends. */
export function onTimeout(s: LimiterState, task: Task, timeoutMs: number): void {
  if ((task.flags & (RUNNING | SETTLED)) !== RUNNING) return;

  task.flags |= TIMED_OUT | SETTLED | RECORDED;
  s.timedOut += 1;
  s.totalTimedOut += 1;
  s.failed += 1;
  const error = new TaskTimeoutError(timeoutMs);
  abortTask(task, error);
  refuse(task, error);
  recordOutcome(s, task.flags, classifySafely(s, error));
  emitSafely(s, 'task:timeout', {
    timeoutMs,
    timedOut: s.timedOut,
    item: task.x?.item,
  });
}

/** A task's caller aborted it: a waiting task leaves the queue, a running one is told. */
export function onAbort(s: LimiterState, task: Task): void {
  const extra = task.x as TaskExtra;
  extra.watch = undefined;
  const reason = extra.signal?.reason;
  if ((task.flags & (QUEUED | PARKED)) !== 0) {
    unlink(s, task);
    s.aborted += 1;
    refuse(task, new AbortedError('task aborted while waiting', { cause: reason }));
    pump(s);
    notify(s);

    return;
  }
  if ((task.flags & (RUNNING | SETTLED)) !== RUNNING) return;

  task.flags |= SETTLED;
  s.aborted += 1;
  abortTask(task, reason);
  refuse(task, new AbortedError('task aborted while running', { cause: reason }));
}

/** Tells every running task to stop (drain deadline); returns how many there were. */
export function abortRunning(s: LimiterState): number {
  let count = 0;
  const reason = new ShuttingDownError('the drain deadline passed while the task ran');
  for (const node of s.workerNodes) {
    if ((node.flags & RUNNING) === 0) continue;

    count += 1;
    abortTask(node, reason);
  }
  for (let runner = s.runners.head; runner !== null; runner = runner.next) {
    const task = runner.task;
    if (task === null) continue;

    count += 1;
    if ((task.flags & SETTLED) !== 0) continue;

    abortTask(task, reason);
    task.flags |= SETTLED;
    s.aborted += 1;
    refuse(task, new AbortedError('task aborted at the drain deadline', { cause: reason }));
  }

  return count;
}

/**
 * Closes intake, hands back every waiting task, and resolves once nothing runs, or at the
 * deadline `timeout` ms from now (if given) after telling those still running to stop.
 */
export function drainLimiter(s: LimiterState, timeout: number | undefined): Promise<DrainResult> {
  s.closed = true;
  s.gate.carry = false;
  const unstarted: unknown[] = [];
  forEachWaiting(s, (task) => {
    unlink(s, task);
    if (task.x !== null && task.x.item !== undefined) unstarted.push(task.x.item);
    detach(s, task);
    refuse(task, new ShuttingDownError());
  });
  const processedBefore = s.processed;
  s.drainPromise = new Promise<DrainResult>((resolve) => {
    let timer: unknown;
    const done = (aborted: number): void => {
      if (timer !== undefined) s.clock.clearTimeout(timer);
      detachBreaker(s);
      resolve({ unstarted, aborted, completed: s.processed - processedBefore });
    };
    void whenIdle(s).then(() => done(0));
    if (timeout === undefined) return;

    timer = s.clock.setTimeout(() => {
      timer = undefined;
      if (s.active === 0) return;

      done(abortRunning(s));
    }, timeout);
  });
  notify(s);

  return s.drainPromise;
}

/** Subscribes the limiter to its breaker's transitions. */
export function listenToBreaker(s: LimiterState): void {
  s.breaker?.on('circuit-breaker:opened', s.breakerListeners.opened);
  s.breaker?.on('circuit-breaker:half-open', s.breakerListeners.halfOpen);
  s.breaker?.on('circuit-breaker:closed', s.breakerListeners.closed);
}

/** Unsubscribes the limiter from its breaker (after a drain). */
export function detachBreaker(s: LimiterState): void {
  s.breaker?.off('circuit-breaker:opened', s.breakerListeners.opened);
  s.breaker?.off('circuit-breaker:half-open', s.breakerListeners.halfOpen);
  s.breaker?.off('circuit-breaker:closed', s.breakerListeners.closed);
}

/** The breaker opened: admission stops; under `whileOpen: 'reject'` every waiting task fails. */
export function onOpened(s: LimiterState, event: BreakerOpenedEvent): void {
  updateGate(s);
  emitSafely(s, 'circuit-breaker:opened', event);
  if (!s.rejectWhileOpen) return;

  const error = (s.breaker as CircuitBreaker).openError();
  forEachWaiting(s, (task) => {
    unlink(s, task);
    s.rejected += 1;
    detach(s, task);
    refuse(task, error);
  });
  notify(s);
}

/** The breaker half-opened: the probes may start. */
export function onHalfOpen(s: LimiterState, event: BreakerHalfOpenEvent): void {
  updateGate(s);
  emitSafely(s, 'circuit-breaker:half-open', event);
  pump(s);
  notify(s);
}

/** The breaker closed: waiting tasks start again. */
export function onClosed(s: LimiterState, event: BreakerClosedEvent): void {
  updateGate(s);
  emitSafely(s, 'circuit-breaker:closed', event);
  pump(s);
  notify(s);
}
