// Running and settling tasks: a task takes its slot, runs in a runner, and when it settles is
// counted and cleaned up, and its slot is released or handed straight to the next task.
import { pump, takePermit, updateGate } from './admission.js';
import type { Outcome } from './outcome.js';
import { classifySafely, recordOutcome, timeRun } from './outcomes.js';
import { Runner, launch, rejected } from './promises.js';
import type { LimiterState } from './state.js';
import {
  DEADLINE,
  PERMIT,
  QUEUED,
  RECORDED,
  RUNNING,
  SAMPLED,
  SETTLED,
  TIMED,
  TIMED_OUT,
  TaskExtra,
  WAITER,
} from './task.js';
import type { Task } from './task.js';
import { notify } from './waiters.js';
import { onTimeout } from './interrupts.js';
import { unwatchSignal } from './signals.js';

/** Starts a task on a slot: a runAll worker is told, a run() task gets a runner. */
export function startTask(s: LimiterState, task: Task, permit: number): void {
  const started = activate(s, task, permit);
  if ((task.flags & WAITER) !== 0) {
    const resolve = task.resolve;
    task.resolve = null;
    resolve?.(undefined);

    return;
  }
  runTasks(s, task, started);
}

/** Marks a task running in a slot; returns its start time if it is timed, else -1. */
export function activate(s: LimiterState, task: Task, permit: number): number {
  s.active += 1;
  task.flags |= RUNNING | permit;
  let started = -1;
  if (--s.sampleCountdown <= 0) {
    s.sampleCountdown = s.sampleEvery;
    task.flags |= SAMPLED;
    started = s.clock.now();
    const stamp = task.stamp;
    s.queueWait.record(stamp === null ? 0 : started - stamp.at, s.sampleEvery);
    if (task.x !== null) task.x.startedAt = started;
  }
  task.stamp = null;
  const extra = task.x;
  if ((task.flags & TIMED) !== 0 || (extra !== null && extra.timeoutMs > 0)) {
    startClock(s, task, extra);
  }

  return started;
}

/** Starts a running task's timeout: on the shared deadline list if it can, else a timer. */
export function startClock(s: LimiterState, task: Task, extra: TaskExtra | null): void {
  const ms = extra !== null && extra.timeoutMs > 0 ? extra.timeoutMs : s.timeout;
  if (s.deadlines.accepts(ms)) {
    task.flags |= DEADLINE;
    s.deadlines.add(task);

    return;
  }
  const own = (task.x ??= new TaskExtra());
  own.timeoutMs = ms;
  own.timer = s.clock.setTimeout(() => {
    own.timer = undefined;
    onTimeout(s, task, ms);
  }, ms);
}

/**
 * Runs run() tasks in one slot: when a task settles and another waits that may take the slot,
 * the slot passes straight to it, and the same runner runs it. The runner's two callbacks are
 * made once per runner, not per task (an `await` per task would allocate about twice as much).
 */
export function runTasks(s: LimiterState, first: Task, started: number): void {
  const runner = new Runner(first, started);
  s.runners.add(runner);
  const settle = (ok: boolean, result: unknown): void => {
    const next = finishTask(s, runner.task as Task, ok, result, true, runner.started, true);
    runner.task = next;
    if (next === null) {
      s.runners.remove(runner);

      return;
    }

    runner.started = s.handOffStarted;
    launch(runner);
  };
  runner.ok = (value) => settle(true, value);
  runner.fail = (error) => settle(false, error);
  launch(runner);
}

/**
 * A task ended: counts it (unless `count` is false), cleans up and releases its slot, or, with
 * `handOff`, passes the slot to the next run() task allowed to start and returns it.
 */
export function finishTask(
  s: LimiterState,
  task: Task,
  ok: boolean,
  result: unknown,
  count = true,
  started = -1,
  handOff = false,
): Task | null {
  const flags = task.flags;
  if ((flags & DEADLINE) !== 0) s.deadlines.remove(task);
  if (task.key !== null) s.keys?.finished(task.key);
  const extra = task.x;
  if (extra !== null && (extra.timer !== undefined || extra.watch !== undefined)) {
    clearExtra(s, task, extra);
  }
  if ((flags & TIMED_OUT) !== 0) s.timedOut -= 1;
  // Counted while the task still holds its slot: the adaptive limit sees it in flight.
  if (count) countOutcome(s, task, flags, ok, result, started);
  else if ((flags & RECORDED) === 0) recordOutcome(s, flags, 'ignore');
  if ((flags & WAITER) !== 0) {
    task.flags = WAITER;
    task.key = null;
    if (extra !== null && extra.controller !== undefined) {
      extra.controller = undefined;
      extra.reason = undefined;
    }
  } else {
    task.fn = null;
    task.resolve = null;
    task.x = null;
    task.key = null;
  }
  if (handOff && s.queued > 0) {
    const next = takeOver(s);
    if (next !== null) return next;
  }
  s.active -= 1;
  if (s.queued > 0 || s.parked.head !== null) pump(s);
  notify(s);

  return null;
}

/**
 * Hands the slot of a task that just ended to the next waiting run() task, if the limit, its
 * key and the breaker allow it to start; that task is then running. Null otherwise.
 */
export function takeOver(s: LimiterState): Task | null {
  if (s.active > s.current) return null;

  const keys = s.keys;
  const next = keys === null ? s.queue.head : keys.peek();
  if (next === null || (next.flags & WAITER) !== 0) return null;

  const permit = s.breaker === null ? PERMIT : takePermit(s);
  if (permit === 0) return null;

  if (keys === null) s.queue.shift();
  else keys.take();
  next.flags &= ~QUEUED;
  s.queued -= 1;
  if (s.queued === 0) updateGate(s);
  s.active -= 1;
  s.handOffStarted = activate(s, next, permit);
  if (s.parked.head !== null) pump(s);
  if (s.roomWaiters !== null) notify(s);

  return next;
}

/** Counts a finished task: totals, timing, its caller's promise, breaker and adaptive limit. */
export function countOutcome(
  s: LimiterState,
  task: Task,
  flags: number,
  ok: boolean,
  result: unknown,
  started = -1,
): void {
  if ((flags & SAMPLED) !== 0) {
    const now = s.clock.now();
    timeRun(s, now - (started >= 0 ? started : (task.x?.startedAt ?? now)), now);
  }
  s.processed += 1;
  let outcome: Outcome = 'ignore';
  if ((flags & SETTLED) === 0) {
    if (ok) outcome = 'success';
    else {
      s.failed += 1;
      outcome = classifySafely(s, result);
    }
    const resolve = task.resolve;
    if (resolve !== null) resolve(ok ? result : rejected(result));
  }
  if ((flags & RECORDED) === 0) recordOutcome(s, flags, outcome);
}

/** Stops a task's own timer and its abort listener. */
export function clearExtra(s: LimiterState, task: Task, extra: TaskExtra): void {
  if (extra.timer !== undefined) {
    s.clock.clearTimeout(extra.timer);
    extra.timer = undefined;
  }
  detach(s, task);
}

/** Detaches a task from its caller's signal. */
export function detach(s: LimiterState, task: Task): void {
  const extra = task.x;
  if (extra === null || extra.watch === undefined) return;

  unwatchSignal(s, task, extra);
}
