// Admission: a new task starts at once, joins the queue (global or its key's lane), waits for
// room, or is refused; and the pump that starts waiting tasks as slots free up.
import type { CircuitBreaker } from './breaker.js';
import { AbortedError, QueueFullError } from './errors.js';
import type { KeyState } from './keyed-queue.js';
import type { RunOptions } from './limiter-types.js';
import { refuse } from './promises.js';
import { detach, startTask } from './settlement.js';
import type { LimiterState } from './state.js';
import { PARKED, PERMIT, PROBE, QUEUED, TIMED, TaskExtra } from './task.js';
import type { Stamp, Task, TaskContext } from './task.js';
import { numberOption } from './validate.js';
import { watchSignal } from './signals.js';

/** Applies run() options; false if the task was settled already (aborted signal). */
export function prepare(s: LimiterState, task: Task, options: RunOptions): boolean {
  let timeout = options.timeout;
  if (timeout === undefined || timeout === s.timeout) {
    // The limiter's own timeout: a flag, no per-task state.
    if (s.timeout > 0) task.flags |= TIMED;
    timeout = 0;
  } else {
    timeout = numberOption('timeout', timeout, 0);
  }
  const signal = options.signal;
  if (timeout === 0 && signal === undefined && options.item === undefined) return true;

  const extra = new TaskExtra();
  task.x = extra;
  extra.item = options.item;
  extra.timeoutMs = timeout;
  if (signal === undefined) return true;

  if (signal.aborted) {
    s.aborted += 1;
    refuse(task, new AbortedError('task aborted before it started', { cause: signal.reason }));

    return false;
  }
  extra.signal = signal;
  watchSignal(s, task, extra, signal);

  return true;
}

/** A new task (or a parked one retried): starts it if it may, else queues or parks it. */
export function admit(s: LimiterState, task: Task, key: string | undefined): void {
  let lane: KeyState | null = null;
  if (s.keys !== null) {
    lane = s.keys.lane(key);
    if (lane === null) {
      refuseNew(s, task, new QueueFullError(`too many live keys (${s.keys.maxKeys})`, 'keys'));

      return;
    }
    task.key = lane;
  }
  if (
    s.active < s.current &&
    (lane === null ? s.queued === 0 : lane.list.size === 0 && lane.active < lane.cap)
  ) {
    const permit = s.breaker === null ? PERMIT : takePermit(s);
    if (permit !== 0) {
      if (lane !== null) s.keys?.startedDirect(lane);
      startTask(s, task, permit);

      return;
    }
  }
  if (s.rejectWhileOpen && s.breaker !== null && s.breaker.probesAvailable === 0) {
    refuseNew(s, task, s.breaker.openError());

    return;
  }
  enqueue(s, task, lane);
}

/**
 * Queues a run() call that must wait and has no options but a key, without a node of its own
 * (see TaskQueue). False if it may start at once or is not that simple (other options, a full
 * queue, an open breaker that refuses while open, no room for a new key): then `admit` takes it.
 */
export function queueCall(
  s: LimiterState,
  fn: (ctx: TaskContext) => unknown,
  resolve: ((value: unknown) => void) | null,
  options: RunOptions | undefined,
): boolean {
  if (s.queued >= s.maxQueued || resolve === null) return false;
  if (s.rejectWhileOpen && s.breaker !== null && s.breaker.probesAvailable === 0) return false;

  const keys = s.keys;
  if (keys === null) {
    if (options !== undefined || (s.queued === 0 && s.active < s.current)) return false;

    s.queue.pushCall(fn, resolve, s.burstStamp ?? newStamp(s));
  } else {
    if (
      options !== undefined &&
      (options.signal !== undefined || options.timeout !== undefined || options.item !== undefined)
    ) {
      return false;
    }
    const lane = keys.lane(options?.key);
    if (lane === null) return false;
    if (s.active < s.current && lane.list.size === 0 && lane.active < lane.cap) return false;

    keys.pushCall(fn, resolve, s.burstStamp ?? newStamp(s), lane);
  }
  s.gate.carry = false;
  s.queued += 1;

  return true;
}

/** Refuses a task that was never queued, with `error`. */
export function refuseNew(s: LimiterState, task: Task, error: Error): void {
  s.rejected += 1;
  if (task.key !== null) s.keys?.forgetIfIdle(task.key);
  task.key = null;
  detach(s, task);
  refuse(task, error);
}

/** Queues a task that cannot start, under the overflow policy when the queue is full. */
export function enqueue(s: LimiterState, task: Task, lane: KeyState | null): void {
  if (s.queued >= s.maxQueued) {
    if (s.overflow === 'reject' || (s.overflow === 'drop-oldest' && s.queued === 0)) {
      refuseNew(s, task, new QueueFullError(`the queue is full (${s.maxQueued} waiting)`));

      return;
    }
    if (s.overflow === 'drop-oldest') {
      dropOldest(s);
    } else {
      task.flags |= PARKED;
      if (lane !== null) lane.parked += 1;
      s.parked.push(task);

      return;
    }
  }
  pushQueued(s, task, lane);
}

/** Appends a task to the global queue or to its key's lane. */
export function pushQueued(s: LimiterState, task: Task, lane: KeyState | null): void {
  task.flags |= QUEUED;
  s.gate.carry = false;
  task.stamp = s.burstStamp ?? newStamp(s);
  if (lane === null) s.queue.push(task);
  else s.keys?.push(task, lane);
  s.queued += 1;
}

/** Refuses the oldest waiting task (of the busiest key, with per-key limits). */
export function dropOldest(s: LimiterState): void {
  const victim = s.keys === null ? s.queue.head : (s.keys.busiest()?.list.head ?? null);
  if (victim === null) return;

  unlink(s, victim);
  s.rejected += 1;
  detach(s, victim);
  refuse(victim, new QueueFullError('dropped from a full queue by a newer task', 'dropped'));
}

/** Removes a waiting (queued or parked) task from its list. */
export function unlink(s: LimiterState, task: Task): void {
  if ((task.flags & PARKED) !== 0) {
    task.flags &= ~PARKED;
    s.parked.remove(task);
    if (task.key !== null) {
      task.key.parked -= 1;
      s.keys?.forgetIfIdle(task.key);
    }

    return;
  }
  task.flags &= ~QUEUED;
  s.queued -= 1;
  if (task.key === null) s.queue.remove(task);
  else s.keys?.remove(task, task.key);
  if (s.queued === 0) updateGate(s);
}

/** A queue time shared by the tasks queued in the current synchronous burst. */
export function newStamp(s: LimiterState): Stamp {
  const stamp = { at: s.clock.now() };
  s.burstStamp = stamp;
  queueMicrotask(s.clearStamp);

  return stamp;
}

/** Opens or closes the gate through which runAll workers keep their slot. */
export function updateGate(s: LimiterState): void {
  // A lowered limit never lets a worker carry on: the slot must go back so that `active`
  // falls to the new limit.
  s.gate.carry =
    s.plain &&
    s.queued === 0 &&
    !s.closed &&
    s.active <= s.current &&
    (s.breaker === null || s.breaker.state === 'closed');
}

/** A breaker permit (PERMIT or PROBE), or 0 while the breaker refuses. */
export function takePermit(s: LimiterState): number {
  const permit = (s.breaker as CircuitBreaker).acquire();

  return permit === 1 ? PERMIT : permit === 2 ? PROBE : 0;
}

/** Starts as many waiting tasks as the limit, the keys and the breaker allow. */
export function pump(s: LimiterState): void {
  while (s.queued > 0 && s.active < s.current) {
    const keys = s.keys;
    const next = keys === null ? s.queue.head : keys.peek();
    if (next === null) break;

    const permit = s.breaker === null ? PERMIT : takePermit(s);
    if (permit === 0) break;

    if (keys === null) s.queue.shift();
    else keys.take();
    next.flags &= ~QUEUED;
    s.queued -= 1;
    if (s.queued === 0) updateGate(s);
    startTask(s, next, permit);
  }
  while (s.parked.head !== null && s.queued < s.maxQueued) {
    const task = s.parked.head;
    const key = task.key?.key;
    unlink(s, task);
    task.key = null;
    admit(s, task, key);
  }
}

/** Calls `fn` with every waiting task: parked, queued, or in a key's lane. */
export function forEachWaiting(s: LimiterState, fn: (task: Task) => void): void {
  while (s.parked.head !== null) fn(s.parked.head);
  if (s.keys === null) {
    while (s.queue.head !== null) fn(s.queue.head);

    return;
  }
  for (const lane of [...s.keys.lanes()]) {
    while (lane.list.head !== null) fn(lane.list.head);
  }
}
