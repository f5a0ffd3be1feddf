// One object of each class the limiter makes per limiter, batch or task, kept for the life of
// the process, so that V8 keeps their shapes and the optimized code built on them.
import { Batch } from './batch.js';
import type { BatchHooks } from './batch.js';
import { SyncWorker } from './batch-workers.js';
import { Runner, noop } from './promises.js';
import type { LimiterState } from './state.js';
import { newTask } from './task.js';

/**
 * The kept objects. V8 forgets an object shape (a hidden class) once the last object that has
 * it is collected, and throws the optimized code that relies on it away; the next limiter or
 * batch then rebuilds its shapes, relearns their fields and runs unoptimized code until V8 has
 * compiled it again: a third of the time of a 1,000,000-item `runAll` made after the previous
 * limiter was collected, and as much CPU again on the compiler's thread. They cost a few
 * hundred bytes, and none of them ever runs a task.
 */
const kept: object[] = [];

/**
 * Keeps the shapes of a limiter made with every option (`s`, its queues, lanes, breaker and
 * adaptive limit) and of a batch, a worker and a runner made for it.
 */
export function keepShapes(s: LimiterState, hooks: BatchHooks): void {
  const batch = new Batch([], hooks, noop, null, false, null);
  kept.push(s, batch, new SyncWorker(batch), new Runner(newTask(null), Number.NaN));
  const lane = s.keys?.lane('');
  if (lane !== null && lane !== undefined) kept.push(lane);
}
