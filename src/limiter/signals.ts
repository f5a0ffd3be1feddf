// Callers' abort signals: one listener per signal for all the tasks that came with it, waiting
// or running. A listener per task made Node warn (MaxListenersExceededWarning) as soon as more
// than ten tasks shared one signal, and cost a listener-list operation per task.
import { onAbort } from './interrupts.js';
import type { LimiterState } from './state.js';
import type { Task, TaskExtra } from './task.js';

/** The tasks of one limiter that came with one signal, and the listener on it they share. */
export interface SignalWatch {
  readonly signal: AbortSignal;
  /** In the order they came: they are told of the abort in that order. */
  readonly tasks: Set<Task>;
  readonly listener: () => void;
}

/** Tells `task` of an abort of `signal` (not aborted yet) until `unwatchSignal`. */
export function watchSignal(
  s: LimiterState,
  task: Task,
  extra: TaskExtra,
  signal: AbortSignal,
): void {
  const watches = (s.signals ??= new WeakMap());
  let watch = watches.get(signal);
  if (watch === undefined) {
    const tasks = new Set<Task>();
    const created: SignalWatch = { signal, tasks, listener: () => signalAborted(s, created) };
    watch = created;
    watches.set(signal, watch);
    signal.addEventListener('abort', watch.listener, { once: true });
  }
  watch.tasks.add(task);
  extra.watch = watch;
}

/** Stops telling `task` of its signal; the last task of a signal removes the listener. */
export function unwatchSignal(s: LimiterState, task: Task, extra: TaskExtra): void {
  const watch = extra.watch;
  if (watch === undefined) return;

  extra.watch = undefined;
  watch.tasks.delete(task);
  if (watch.tasks.size > 0 || s.signals?.get(watch.signal) !== watch) return;

  s.signals.delete(watch.signal);
  watch.signal.removeEventListener('abort', watch.listener);
}

/** A signal aborted: every task still watching it is told, in the order they came. */
function signalAborted(s: LimiterState, watch: SignalWatch): void {
  s.signals?.delete(watch.signal);
  const tasks = [...watch.tasks];
  watch.tasks.clear();
  for (const task of tasks) {
    // Telling one task may have settled another one (a task dropped from a full queue).
    if (task.x?.watch === watch) onAbort(s, task);
  }
}
