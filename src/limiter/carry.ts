// The runAll workers' way through the limiter: taking a slot, and keeping it from one item to
// the next while nobody else waits for one.
import { admit, takePermit } from './admission.js';
import { ShuttingDownError } from './errors.js';
import type { KeyState } from './keyed-queue.js';
import { countOutcome, finishTask, startTask } from './settlement.js';
import { catchRefusal, refusal, resetRefusal } from './promises.js';
import type { LimiterState } from './state.js';
import { PERMIT, RUNNING, SAMPLED, WAITER } from './task.js';
import type { Task, TaskExtra } from './task.js';

/** The flags of a worker node that holds a slot on a closed-breaker permit, untimed. */
const CARRIED = WAITER | RUNNING | PERMIT;

/** A runAll worker asks for a slot: true = started, false = queued, an Error = refused. */
export function beginWaiter(s: LimiterState, node: Task, key: string | undefined): boolean | Error {
  if (s.closed) return new ShuttingDownError();

  node.resolve = null;
  node.flags = WAITER;
  // The fast path of admit, inlined for the unkeyed case.
  if (s.keys === null && s.queued === 0 && s.active < s.current) {
    const permit = s.breaker === null ? PERMIT : takePermit(s);
    if (permit !== 0) {
      startTask(s, node, permit);

      return true;
    }
  }
  // A refusal during admission arrives through node.resolve: catch it without a closure.
  resetRefusal();
  node.resolve = catchRefusal;
  admit(s, node, key);
  if ((node.flags & RUNNING) !== 0) return true;
  if (node.resolve === null) return refusal as Error;

  return false;
}

/**
 * A runAll worker's item ended and the worker has another: when nobody else waits, the node
 * keeps its slot for the next item (the slot is never free in between, so nobody could have
 * taken it), which spares a release and an acquire per item. Returns true if it kept it.
 */
export function carryOn(
  s: LimiterState,
  node: Task,
  ok: boolean,
  result: unknown,
  skipped: number,
): boolean {
  // `skipped` earlier items of this node carried on without asking (while the gate was open).
  creditSuccesses(s, skipped);
  // The common case in as few steps as possible: a success, nothing to time or record.
  if (
    ok &&
    s.gate.carry &&
    node.flags === (WAITER | RUNNING | PERMIT) &&
    (node.x as TaskExtra).controller === undefined
  ) {
    creditSuccesses(s, 1);
    if (--s.sampleCountdown > 0) return true;

    timeCarried(s, node);

    return true;
  }
  const breaker = s.breaker;
  if (
    s.queued !== 0 ||
    s.keys !== null ||
    s.closed ||
    (breaker !== null && breaker.state !== 'closed') ||
    (node.x as TaskExtra).controller !== undefined
  ) {
    finishTask(s, node, ok, result);

    return false;
  }
  countOutcome(s, node, node.flags, ok, result);
  // Counting may have opened the breaker or lowered the limit.
  if (s.active > s.current || (breaker !== null && breaker.state !== 'closed')) {
    finishTask(s, node, true, undefined, false);

    return false;
  }
  node.flags = WAITER | RUNNING | PERMIT;
  if (--s.sampleCountdown <= 0) timeCarried(s, node);

  return true;
}

/** carryOn for per-key limits: see BatchHooks.carryOnTo. */
export function carryOnTo(
  s: LimiterState,
  node: Task,
  ok: boolean,
  result: unknown,
  key: string | undefined,
): boolean {
  const breaker = s.breaker;
  const keys = s.keys;
  if (
    keys === null ||
    s.queued !== 0 ||
    s.closed ||
    (breaker !== null && breaker.state !== 'closed') ||
    (node.x as TaskExtra).controller !== undefined
  ) {
    finishTask(s, node, ok, result);

    return false;
  }
  // A success of an untimed item with no adaptive limit only adds to the totals.
  if (ok && node.flags === CARRIED && s.adaptive === null) {
    s.processed += 1;
    breaker?.recordSuccesses(1);
  } else {
    countOutcome(s, node, node.flags, ok, result);
  }
  const from = node.key as KeyState;
  const to = from.key === key ? from : keys.lane(key);
  if (
    to === null ||
    s.active > s.current ||
    (breaker !== null && breaker.state !== 'closed') ||
    (to !== from && (to.list.size > 0 || to.active >= to.cap))
  ) {
    if (to !== null && to !== from) keys.forgetIfIdle(to);
    finishTask(s, node, true, undefined, false);

    return false;
  }
  if (to !== from) {
    keys.startedDirect(to);
    node.key = to;
    keys.finished(from);
  }
  node.flags = CARRIED;
  if (--s.sampleCountdown <= 0) timeCarried(s, node);

  return true;
}

/**
 * The sampling countdown ran out on a node that keeps its slot: times its next item (it waited
 * for no slot, so its queue wait is 0) and restarts the countdown.
 */
function timeCarried(s: LimiterState, node: Task): void {
  s.sampleCountdown = s.sampleEvery;
  node.flags |= SAMPLED;
  (node.x as TaskExtra).startedAt = s.clock.now();
  s.queueWait.record(0, s.sampleEvery);
}

/** Counts `count` successes of runAll items that passed the gate. */
export function creditSuccesses(s: LimiterState, count: number): void {
  if (count === 0) return;

  s.processed += count;
  s.sampleCountdown -= count;
  s.breaker?.recordSuccesses(count);
}
