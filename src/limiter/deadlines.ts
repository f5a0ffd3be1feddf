import type { Clock, TimerHandle } from './clock.js';
import { TaskList } from './task.js';
import type { Stamp, Task } from './task.js';

/**
 * The deadlines of running tasks that share one timeout, on one timer. With one timeout for all,
 * deadlines come in the order the tasks started, so the running tasks form a FIFO and only its
 * head needs a timer: a task that ends leaves the list (O(1)) and costs no timer of its own.
 *
 * A deadline is the start time plus the timeout, rounded up to a whole millisecond (timers have
 * no finer resolution), so tasks started within the same millisecond share one `Stamp`.
 * While the list is empty, it adopts the timeout of the next task that asks (see `accepts`).
 */
export class Deadlines {
  /** Running tasks with a deadline, in start order (so in deadline order). */
  readonly list = new TaskList();
  #ms: number;
  #timer: TimerHandle | undefined = undefined;
  #last: Stamp | null = null;

  /**
   * @param clock the time source.
   * @param ms the shared timeout in milliseconds, or 0 until the first task sets it.
   * @param expire called with each task whose deadline has passed, after it left the list.
   */
  constructor(
    readonly clock: Clock,
    ms: number,
    readonly expire: (task: Task, timeoutMs: number) => void,
  ) {
    this.#ms = ms;
  }

  /** The shared timeout, milliseconds. */
  get ms(): number {
    return this.#ms;
  }

  /** True if a task with this timeout can join the list (an empty list adopts it). */
  accepts(ms: number): boolean {
    if (ms === this.#ms) return true;
    if (this.list.head !== null) return false;

    this.#ms = ms;
    this.#last = null;

    return true;
  }

  /** Adds a task that just started; its `stamp` holds its deadline while it is listed. */
  add(task: Task): void {
    const at = Math.ceil(this.clock.now() + this.#ms);
    let stamp = this.#last;
    if (stamp === null || stamp.at !== at) {
      stamp = { at };
      this.#last = stamp;
    }
    task.stamp = stamp;
    const first = this.list.head === null;
    this.list.push(task);
    if (first && this.#timer === undefined) this.#arm(at);
  }

  /** Removes a task that ended before its deadline. */
  remove(task: Task): void {
    this.list.remove(task);
    task.stamp = null;
    if (this.list.head === null && this.#timer !== undefined) {
      this.clock.clearTimeout(this.#timer);
      this.#timer = undefined;
    }
  }

  #arm(at: number): void {
    this.#timer = this.clock.setTimeout(this.#fire, Math.max(0, at - this.clock.now()));
  }

  readonly #fire = (): void => {
    this.#timer = undefined;
    const now = this.clock.now();
    for (;;) {
      const head = this.list.head;
      if (head === null) return;

      const at = (head.stamp as Stamp).at;
      if (at > now) {
        // `expire` may have started tasks, and the first of them armed the timer already.
        if (this.#timer === undefined) this.#arm(at);

        return;
      }
      this.list.shift();
      head.stamp = null;
      this.expire(head, this.#ms);
    }
  };
}
