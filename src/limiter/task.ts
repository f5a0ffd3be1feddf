import type { KeyState } from './keyed-queue.js';
import type { SignalWatch } from './signals.js';

/** What a task's function receives. */
export interface TaskContext {
  /**
   * Aborted when the task should stop: its caller's signal aborted, its timeout expired, or a
   * `drain()` reached its deadline. Created on first read, so tasks that never look cost nothing.
   * Read it while the task runs: once the task has settled, the same `ctx` may serve the next.
   */
  readonly signal: AbortSignal;
}

// Bits of Task.flags.
export const SAMPLED = 1; // timed for the histograms
export const WAITER = 2; // a runAll worker waiting for a slot, not a run() call
export const SETTLED = 4; // the caller's promise is settled already (abort, timeout, drain)
export const RECORDED = 8; // the outcome was counted already (timeout)
export const QUEUED = 16;
export const PARKED = 32; // waiting for room in a full queue (overflow 'wait')
export const RUNNING = 64;
export const TIMED_OUT = 128;
export const PROBE = 256; // started on a half-open probe permit
export const PERMIT = 512; // started on a closed-breaker permit
export const TIMED = 1024; // runs under the limiter's default timeout
export const DEADLINE = 2048; // listed in the limiter's Deadlines while it runs

/** The parts of a task that only some tasks need: allocated on demand. */
export class TaskExtra {
  item: unknown = undefined;
  signal: AbortSignal | undefined = undefined;
  /** The listener shared with the other tasks of its signal while it is attached. */
  watch: SignalWatch | undefined = undefined;
  controller: AbortController | undefined = undefined;
  reason: unknown = undefined;
  /** The task's own timeout timer (a timeout other than the shared one). */
  timer: unknown = undefined;
  /** A timeout given to this run() call that differs from the limiter's, milliseconds. */
  timeoutMs = 0;
  /**
   * When a timed task started, clock milliseconds. NaN until then: a number that is not an
   * integer from the start, so that V8 never has to change this field's layout (see shapes.ts).
   */
  startedAt = Number.NaN;
}

/** A clock reading shared by every task queued in one synchronous burst. */
export interface Stamp {
  readonly at: number;
}

/**
 * One task: a node of an intrusive doubly linked list (the queue while it waits, the running list
 * while it runs). It holds what the hot path needs and nothing else; nothing references it once
 * it has settled. Made by `newTask`. Its function's `ctx` is the object that runs it (a run()
 * task's runner, a runAll worker), which reads the signal through `signalOf`.
 */
export interface Task {
  fn: ((ctx: TaskContext) => unknown) | null;
  /** Settles the caller's promise; a rejection is passed as a rejected promise. */
  resolve: ((value: unknown) => void) | null;
  next: Task | null;
  prev: Task | null;
  key: KeyState | null;
  /**
   * When it was queued (shared by the tasks queued in one synchronous burst); while it runs
   * with a shared timeout, its deadline (see Deadlines).
   */
  stamp: Stamp | null;
  x: TaskExtra | null;
  flags: number;
  /** Its position in the global queue while it waits there (see TaskQueue). */
  at: number;
}

/** The signal of a running task, created on first read (and aborted if the task was told). */
export function signalOf(task: Task): AbortSignal {
  const extra = (task.x ??= new TaskExtra());
  if (extra.controller === undefined) {
    extra.controller = new AbortController();
    if (extra.reason !== undefined) extra.controller.abort(extra.reason);
  }

  return extra.controller.signal;
}

/** Tells a running task to stop, through its signal if it has read it. The first reason wins. */
export function abortTask(task: Task, reason: unknown): void {
  const extra = (task.x ??= new TaskExtra());
  if (extra.reason !== undefined) return;

  extra.reason = reason;
  extra.controller?.abort(reason);
}

/**
 * Makes a task node. A plain object literal: V8 can allocate literals from one site straight
 * into the old generation once it sees them survive (pretenuring), which spares a million queued
 * tasks two copies each through the young generation; and with no prototype to set, making one
 * costs no call into the runtime.
 */
export function newTask(fn: ((ctx: TaskContext) => unknown) | null): Task {
  return {
    fn,
    resolve: null,
    next: null,
    prev: null,
    key: null,
    stamp: null,
    x: null,
    flags: 0,
    at: 0,
  };
}

/**
 * Makes the task node of a runAll worker, which it reuses for all its items. The same shape as
 * `newTask`'s, from an allocation site of its own: V8 decides pretenuring per site, and a site
 * that once saw its objects die young (as a short batch's worker nodes do) never pretenures
 * again, which would cost every queued run() task two copies through the young generation.
 */
export function newWorkerNode(): Task {
  return {
    fn: null,
    resolve: null,
    next: null,
    prev: null,
    key: null,
    stamp: null,
    x: null,
    flags: WAITER,
    at: 0,
  };
}

/** An intrusive doubly linked list of tasks: O(1) push, shift and removal. */
export class TaskList {
  head: Task | null = null;
  tail: Task | null = null;
  size = 0;

  push(task: Task): void {
    task.next = null;
    task.prev = this.tail;
    if (this.tail === null) this.head = task;
    else this.tail.next = task;
    this.tail = task;
    this.size += 1;
  }

  shift(): Task | null {
    const task = this.head;
    if (task === null) return null;

    this.head = task.next;
    if (this.head === null) this.tail = null;
    else this.head.prev = null;
    task.next = null;
    this.size -= 1;

    return task;
  }

  remove(task: Task): void {
    if (task.prev === null) this.head = task.next;
    else task.prev.next = task.next;
    if (task.next === null) this.tail = task.prev;
    else task.next.prev = task.prev;
    task.next = null;
    task.prev = null;
    this.size -= 1;
  }
}
