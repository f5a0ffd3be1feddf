import { CallSlab, TaskQueue } from './task-queue.js';
import type { Stamp, Task, TaskContext } from './task.js';

/** Entries a lane's queue holds before it first grows. */
const LANE_CAPACITY = 2;

/** Idle lanes kept for reuse, at most. */
const IDLE_LANES = 256;

/** The lane of one key: its tasks waiting, how many run, its place in the round-robin ring. */
export class KeyState {
  /** Its waiting tasks. */
  readonly list: TaskQueue;
  active = 0;
  /** Tasks of this key parked outside a full queue: they keep the lane alive. */
  parked = 0;
  ringNext: KeyState | null = null;
  ringPrev: KeyState | null = null;
  /** Links in the list of idle lanes kept for reuse, oldest first. */
  idleNext: KeyState | null = null;
  idlePrev: KeyState | null = null;
  isIdleListed = false;
  /** Forgotten: no longer in the table. */
  evicted = false;

  /**
   * @param key the key, or undefined for the lane of tasks without one.
   * @param cap how many of its tasks may run at once.
   * @param flags flags of the node a waiting bare call gets when it reaches the head.
   */
  constructor(
    readonly key: string | undefined,
    readonly cap: number,
    flags: number,
    calls: CallSlab,
  ) {
    this.list = new TaskQueue(flags, this, LANE_CAPACITY, calls);
  }

  get idle(): boolean {
    return this.active === 0 && this.list.size === 0 && this.parked === 0;
  }
}

/**
 * Per-key lanes served round robin. A lane is in the ring while it has waiting tasks and runs
 * fewer than its cap, so the next task to start is always at the cursor: O(1) per start, and one
 * hot key gets one turn per round like every other. An idle lane is kept for reuse among the
 * last `IDLE_LANES` idle ones (creating and dropping a lane per task would cost more than the
 * task), then forgotten; so the table holds the live keys plus a bounded few. Tasks without a
 * key share one lane with no per-key cap.
 */
export class KeyedQueue {
  readonly #lanes = new Map<string | undefined, KeyState>();
  #cursor: KeyState | null = null;
  #idleHead: KeyState | null = null;
  #idleTail: KeyState | null = null;
  #idleCount = 0;
  readonly #idleCap: number;
  /** The waiting bare calls of every lane (see CallSlab). */
  readonly #calls = new CallSlab(16);

  /**
   * @param cap how many tasks of one key may run at once.
   * @param maxKeys how many keys may be live at once.
   * @param flags flags of the node a waiting bare call gets when it reaches the head.
   */
  constructor(
    readonly cap: number,
    readonly maxKeys: number,
    readonly flags: number,
  ) {
    this.#idleCap = Math.min(maxKeys, IDLE_LANES);
  }

  /** Live keys (running or waiting). */
  get size(): number {
    return this.#lanes.size - this.#idleCount;
  }

  /** The lane of `key`, created if needed; null if the table of live keys is full. */
  lane(key: string | undefined): KeyState | null {
    let lane = this.#lanes.get(key);
    if (lane !== undefined) {
      if (lane.isIdleListed) this.#unlistIdle(lane);

      return lane;
    }
    if (key !== undefined && this.size >= this.maxKeys) return null;

    lane = new KeyState(key, key === undefined ? Infinity : this.cap, this.flags, this.#calls);
    this.#lanes.set(key, lane);

    return lane;
  }

  /** Lists `lane` as idle if nothing runs or waits in it; the oldest idle lanes are forgotten. */
  forgetIfIdle(lane: KeyState): void {
    if (lane.isIdleListed || lane.evicted || !lane.idle) return;

    lane.isIdleListed = true;
    lane.idlePrev = this.#idleTail;
    if (this.#idleTail === null) this.#idleHead = lane;
    else this.#idleTail.idleNext = lane;
    this.#idleTail = lane;
    this.#idleCount += 1;
    if (this.#idleCount > this.#idleCap) {
      const oldest = this.#idleHead as KeyState;
      this.#unlistIdle(oldest);
      oldest.evicted = true;
      this.#lanes.delete(oldest.key);
    }
  }

  #unlistIdle(lane: KeyState): void {
    if (lane.idlePrev === null) this.#idleHead = lane.idleNext;
    else lane.idlePrev.idleNext = lane.idleNext;
    if (lane.idleNext === null) this.#idleTail = lane.idlePrev;
    else lane.idleNext.idlePrev = lane.idlePrev;
    lane.idleNext = null;
    lane.idlePrev = null;
    lane.isIdleListed = false;
    this.#idleCount -= 1;
  }

  /** The next task to start, or null if every waiting key is at its cap. */
  peek(): Task | null {
    return this.#cursor === null ? null : this.#cursor.list.head;
  }

  push(task: Task, lane: KeyState): void {
    lane.list.push(task);
    if (lane.ringNext === null && lane.active < lane.cap) this.#join(lane);
  }

  /** Queues a run() call without options but its key: no node until it reaches the head. */
  pushCall(
    fn: (ctx: TaskContext) => unknown,
    resolve: (value: unknown) => void,
    stamp: Stamp,
    lane: KeyState,
  ): void {
    lane.list.pushCall(fn, resolve, stamp);
    if (lane.ringNext === null && lane.active < lane.cap) this.#join(lane);
  }

  /** Takes the task at the cursor and moves the cursor on to the next key. */
  take(): Task | null {
    const lane = this.#cursor;
    if (lane === null) return null;

    const task = lane.list.shift();
    lane.active += 1;
    if (lane.list.size === 0 || lane.active >= lane.cap) this.#leave(lane);
    else this.#cursor = lane.ringNext;

    return task;
  }

  /** A task of `lane` started without waiting. */
  startedDirect(lane: KeyState): void {
    lane.active += 1;
  }

  /** A task of `lane` finished. */
  finished(lane: KeyState): void {
    lane.active -= 1;
    if (lane.list.size > 0) {
      if (lane.ringNext === null && lane.active < lane.cap) this.#join(lane);

      return;
    }
    this.forgetIfIdle(lane);
  }

  /** Removes a waiting task (aborted, dropped, handed back). */
  remove(task: Task, lane: KeyState): void {
    lane.list.remove(task);
    if (lane.list.size === 0 && lane.ringNext !== null) this.#leave(lane);
    this.forgetIfIdle(lane);
  }

  /** The lane with the most waiting tasks (the one that pays under `drop-oldest`). O(keys). */
  busiest(): KeyState | null {
    let busiest: KeyState | null = null;
    for (const lane of this.#lanes.values()) {
      if (lane.list.size > (busiest?.list.size ?? 0)) busiest = lane;
    }

    return busiest;
  }

  /** Every lane, for hand-back at shutdown. */
  lanes(): IterableIterator<KeyState> {
    return this.#lanes.values();
  }

  /** Joins the ring just before the cursor: last in the current round. */
  #join(lane: KeyState): void {
    const cursor = this.#cursor;
    if (cursor === null) {
      lane.ringNext = lane;
      lane.ringPrev = lane;
      this.#cursor = lane;

      return;
    }
    const last = cursor.ringPrev as KeyState;
    last.ringNext = lane;
    lane.ringPrev = last;
    lane.ringNext = cursor;
    cursor.ringPrev = lane;
  }

  #leave(lane: KeyState): void {
    const next = lane.ringNext as KeyState;
    if (next === lane) {
      this.#cursor = null;
    } else {
      const prev = lane.ringPrev as KeyState;
      prev.ringNext = next;
      next.ringPrev = prev;
      if (this.#cursor === lane) this.#cursor = next;
    }
    lane.ringNext = null;
    lane.ringPrev = null;
  }
}
