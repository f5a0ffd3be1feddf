import type { Task, TaskContext } from './task.js';
import { WAITER, signalOf } from './task.js';

// The promise plumbing of the hot path, written so that a task costs no closure of its own.

/** The resolve function of the promise `newPromise` made last. */
export let captured: ((value: unknown) => void) | null = null;

function captureResolve(resolve: (value: unknown) => void): void {
  captured = resolve;
}

/** A new pending promise; its resolve function is in `captured` until the next call. */
export function newPromise<T>(): Promise<T> {
  return new Promise(captureResolve) as Promise<T>;
}

/** The error a refusal during a runAll worker's admission delivered (see `catchRefusal`). */
export let refusal: unknown;

/** A resolve function for a worker node that records a refusal instead of settling anything. */
export function catchRefusal(error: unknown): void {
  refusal = error;
}

/** Forgets the last refusal before an admission that may deliver one. */
export function resetRefusal(): void {
  refusal = undefined;
}

/** A promise rejected with `error`. */
export function rejected(error: unknown): Promise<never> {
  return Promise.reject(error);
}

/** Settles a task's caller: a run() promise gets a rejection, a runAll worker the error itself. */
export function refuse(task: Task, error: unknown): void {
  const resolve = task.resolve;
  task.resolve = null;
  if (resolve === null) return;

  resolve((task.flags & WAITER) !== 0 ? error : rejected(error));
}

/** Does nothing: a placeholder callback. */
export function noop(): void {}

/**
 * One slot's loop of run() tasks (see `runTasks`), a node of the list of live runners, and the
 * `ctx` its tasks receive: one per busy slot rather than one per task, so a task node needs no
 * prototype (setting one on every new node costs a call into the runtime).
 */
export class Runner implements TaskContext {
  /** The task it runs (null once it has ended). */
  task: Task | null;
  /** When the task started, clock ms, if it is timed; else -1. */
  started: number;
  ok: (value: unknown) => void = noop;
  fail: (error: unknown) => void = noop;
  next: Runner | null = null;
  prev: Runner | null = null;

  constructor(task: Task, started: number) {
    this.task = task;
    this.started = started;
  }

  /** The running task's signal; a runner that has ended hands out one that never aborts. */
  get signal(): AbortSignal {
    return this.task === null ? new AbortController().signal : signalOf(this.task);
  }
}

/**
 * The live runners: through them, every running run() task can be reached (at a drain
 * deadline) without a list operation per task; a runner joins once and runs task after task.
 */
export class RunnerList {
  head: Runner | null = null;

  add(runner: Runner): void {
    runner.next = this.head;
    if (this.head !== null) this.head.prev = runner;
    this.head = runner;
  }

  remove(runner: Runner): void {
    if (runner.prev === null) this.head = runner.next;
    else runner.prev.next = runner.next;
    if (runner.next !== null) runner.next.prev = runner.prev;
    runner.next = null;
    runner.prev = null;
  }
}

/** Calls the runner's task and wires its settlement to the runner, always asynchronously. */
export function launch(runner: Runner): void {
  const task = runner.task as Task;
  let pending: unknown;
  try {
    pending = (task.fn as (ctx: TaskContext) => unknown)(runner);
  } catch (error) {
    // Settled on a later microtask, so a synchronous throw never recurses into the next task.
    rejected(error).then(undefined, runner.fail);

    return;
  }
  if (pending instanceof Promise) pending.then(runner.ok, runner.fail);
  else Promise.resolve(pending).then(runner.ok, runner.fail);
}
