import type { KeyState } from './keyed-queue.js';
import { QUEUED } from './task.js';
import type { Stamp, Task, TaskContext } from './task.js';

/**
 * Slots per entry: a function or a task node, a resolve function, a stamp. A key's lane, whose
 * bare calls are in the limiter's CallSlab, needs one: a task node or a call's index there.
 */
const STRIDE = 3;

/**
 * A queue of waiting tasks (the global one, or a key's lane): a FIFO ring of entries in one
 * array. An entry is a
 * task node, or, for a run() call without options, only its function, its caller's resolve
 * function and its queue time: a million queued calls then cost three array slots each instead
 * of a node each, and nothing per call for the garbage collector to copy or mark but the
 * promise. Such a call gets its node when it reaches the head (see `head`), just before it
 * starts. A key's lane keeps those three slots in the limiter's CallSlab instead, and only
 * their index in its own ring.
 *
 * A task removed from the middle (aborted, dropped) leaves an empty entry that the head skips
 * when it gets there; the ring shrinks back to its first size whenever it empties, so a burst
 * of a million calls leaves nothing behind once it has been served.
 */
export class TaskQueue {
  #slots: unknown[];
  #mask: number;
  /** Slots per entry: STRIDE, or 1 with a CallSlab. */
  readonly #stride: number;
  /** Positions count up for ever: an entry's slots are at `(position & mask) * stride`. */
  #head = 0;
  #tail = 0;
  /** Live entries (empty ones left by removals not counted). */
  size = 0;

  /**
   * @param flags flags of the node a bare call gets when it reaches the head (with QUEUED).
   * @param lane the key's lane this queue belongs to, which such a node gets as its key.
   * @param capacity entries it holds before it first grows, a power of two.
   */
  constructor(
    readonly flags: number,
    readonly lane: KeyState | null,
    readonly capacity: number,
    readonly calls: CallSlab | null = null,
  ) {
    this.#stride = calls === null ? STRIDE : 1;
    this.#slots = new Array<unknown>(capacity * this.#stride).fill(null);
    this.#mask = capacity - 1;
  }

  /** The first waiting task, or null; a bare call at the head is given its node here. */
  get head(): Task | null {
    if (this.size === 0) return null;

    const slots = this.#slots;
    let at = (this.#head & this.#mask) * this.#stride;
    let first = slots[at];
    while (first === null) {
      this.#head += 1;
      at = (this.#head & this.#mask) * this.#stride;
      first = slots[at];
    }
    if (typeof first !== 'function') {
      if (typeof first !== 'number') return first as Task;

      const task = (this.calls as CallSlab).take(first, this.flags | QUEUED, this.#head, this.lane);
      slots[at] = task;

      return task;
    }

    const task = newQueuedTask(
      first as (ctx: TaskContext) => unknown,
      slots[at + 1] as (value: unknown) => void,
      slots[at + 2] as Stamp,
      this.flags | QUEUED,
      this.#head,
      this.lane,
    );
    slots[at] = task;
    slots[at + 1] = null;
    slots[at + 2] = null;

    return task;
  }

  /** Appends a task node. */
  push(task: Task): void {
    task.at = this.#tail;
    this.#append(task, null, null);
  }

  /** Appends a run() call without options: no node until it reaches the head. */
  pushCall(
    fn: (ctx: TaskContext) => unknown,
    resolve: (value: unknown) => void,
    stamp: Stamp,
  ): void {
    if (this.calls === null) this.#append(fn, resolve, stamp);
    else this.#append(this.calls.put(fn, resolve, stamp), null, null);
  }

  /** Removes and returns the first waiting task, or null. */
  shift(): Task | null {
    const task = this.head;
    if (task === null) return null;

    this.#slots[(this.#head & this.#mask) * this.#stride] = null;
    this.#head += 1;
    this.#taken();

    return task;
  }

  /** Removes a waiting task node, wherever it is. */
  remove(task: Task): void {
    const at = (task.at & this.#mask) * this.#stride;
    if (this.#slots[at] !== task) return;

    this.#slots[at] = null;
    this.#taken();
  }

  #append(first: unknown, resolve: unknown, stamp: unknown): void {
    if (this.#tail - this.#head > this.#mask) this.#grow();
    const slots = this.#slots;
    const stride = this.#stride;
    const at = (this.#tail & this.#mask) * stride;
    slots[at] = first;
    if (stride === STRIDE) {
      slots[at + 1] = resolve;
      slots[at + 2] = stamp;
    }
    this.#tail += 1;
    this.size += 1;
  }

  /** An entry left: once none is live, start again from a small empty ring. */
  #taken(): void {
    this.size -= 1;
    if (this.size > 0) return;

    if (this.#mask >= this.capacity) {
      this.#slots = new Array<unknown>(this.capacity * this.#stride).fill(null);
      this.#mask = this.capacity - 1;
    } else {
      this.#slots.fill(null);
    }
    this.#head = 0;
    this.#tail = 0;
  }

  /**
   * Doubles the ring; every entry keeps its position, so task nodes keep theirs too. The ring is
   * full, so an entry at position p moves from index p mod n to p mod 2n, which is one of the
   * two copies of the old ring laid end to end: copy it twice (two block copies instead of an
   * entry at a time), then clear the copy of each entry that is not at its place.
   */
  #grow(): void {
    const old = this.#slots;
    const size = old.length;
    const slots = old.concat(old);
    const head = (this.#head & (this.#mask * 2 + 1)) * this.#stride;
    if (head < size) {
      slots.fill(null, 0, head);
      slots.fill(null, head + size);
    } else {
      slots.fill(null, head - size, head);
    }
    this.#slots = slots;
    this.#mask = this.#mask * 2 + 1;
  }
}

/**
 * The waiting bare calls of every key's lane, in one array, each at an index its lane's ring
 * holds. The calls of all keys then lie in the order they came, and so, once the garbage
 * collector has copied them (it copies what an array holds in the array's order), do their
 * functions, promises and resolve functions: round robin over the keys starts them in about
 * that order, so memory is read in order rather than from one key's block to the next (a
 * lane's own ring would have it copied key by key). Freed entries are reused (a free list
 * through their first slot), so the array holds at most as many entries as ever waited at
 * once, and it starts again small whenever it empties.
 */
export class CallSlab {
  #slots: unknown[];
  /** Entries ever used since the array was last reset. */
  #top = 0;
  /** The first free entry below `top`, or -1; each free entry holds the next in its first slot. */
  #free = -1;
  /** Entries in use. */
  size = 0;

  constructor(readonly capacity: number) {
    this.#slots = new Array<unknown>(capacity * STRIDE).fill(null);
  }

  /** Stores a call; returns its index. */
  put(fn: (ctx: TaskContext) => unknown, resolve: (value: unknown) => void, stamp: Stamp): number {
    let index = this.#free;
    let slots = this.#slots;
    if (index >= 0) {
      this.#free = slots[index * STRIDE] as number;
    } else {
      index = this.#top;
      if (index * STRIDE >= slots.length) {
        slots = slots.concat(slots);
        slots.fill(null, index * STRIDE);
        this.#slots = slots;
      }
      this.#top = index + 1;
    }
    const at = index * STRIDE;
    slots[at] = fn;
    slots[at + 1] = resolve;
    slots[at + 2] = stamp;
    this.size += 1;

    return index;
  }

  /** Takes the call at `index` out as a task node (see `newQueuedTask`) and frees its entry. */
  take(index: number, flags: number, position: number, key: KeyState | null): Task {
    const slots = this.#slots;
    const at = index * STRIDE;
    const task = newQueuedTask(
      slots[at] as (ctx: TaskContext) => unknown,
      slots[at + 1] as (value: unknown) => void,
      slots[at + 2] as Stamp,
      flags,
      position,
      key,
    );
    this.size -= 1;
    if (this.size === 0) {
      if (slots.length > this.capacity * STRIDE) {
        this.#slots = new Array<unknown>(this.capacity * STRIDE).fill(null);
      } else {
        slots.fill(null);
      }
      this.#top = 0;
      this.#free = -1;
    } else {
      slots[at] = this.#free;
      slots[at + 1] = null;
      slots[at + 2] = null;
      this.#free = index;
    }

    return task;
  }
}

/**
 * The node of a queued run() call that reached the head. From an allocation site of its own:
 * these nodes live only while their task runs, and V8 decides pretenuring per site.
 */
function newQueuedTask(
  fn: (ctx: TaskContext) => unknown,
  resolve: (value: unknown) => void,
  stamp: Stamp,
  flags: number,
  at: number,
  key: KeyState | null,
): Task {
  return { fn, resolve, next: null, prev: null, key, stamp, x: null, flags, at };
}
