import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CallSlab, TaskQueue } from '../../src/limiter/task-queue.js';
import { newTask } from '../../src/limiter/task.js';
import type { Stamp, Task } from '../../src/limiter/task.js';
import { random } from './helpers.js';

describe('TaskQueue', () => {
  it('keeps FIFO order through growth wherever the head is, with removals and bare calls', () => {
    for (let seed = 1; seed <= 40; seed += 1) {
      const next = random(seed);
      const queue = new TaskQueue(0, null, 2);
      // The model: what the queue should hand out, in order (a node or the function of a call).
      const model: Array<Task | (() => void)> = [];
      for (let step = 0; step < 600; step += 1) {
        const roll = next();
        if (roll < 0.45) {
          const task = newTask(() => undefined);
          queue.push(task);
          model.push(task);
        } else if (roll < 0.65) {
          const fn = (): void => undefined;
          queue.pushCall(fn, () => undefined, { at: step });
          model.push(fn);
        } else if (roll < 0.75 && model.length > 0) {
          // Remove a waiting node from anywhere.
          const at = Math.floor(next() * model.length);
          const entry = model[at] as Task | (() => void);
          if (typeof entry !== 'function') {
            queue.remove(entry);
            model.splice(at, 1);
          }
        } else {
          const task = queue.shift();
          const expected = model.shift();
          if (expected === undefined) {
            assert.equal(task, null);
          } else if (typeof expected === 'function') {
            assert.equal(task?.fn, expected, `seed ${seed}, step ${step}`);
          } else {
            assert.equal(task, expected, `seed ${seed}, step ${step}`);
          }
        }
        assert.equal(queue.size, model.length, `seed ${seed}, step ${step}`);
      }
    }
  });

  it('keeps FIFO order per queue when queues share a CallSlab, and empties the slab', () => {
    interface Call {
      fn: () => void;
      resolve: (value: unknown) => void;
      stamp: Stamp;
    }
    for (let seed = 1; seed <= 40; seed += 1) {
      const next = random(seed);
      const calls = new CallSlab(2);
      const queues = [0, 1, 2, 3].map(() => new TaskQueue(0, null, 2, calls));
      const models: Array<Array<Task | Call>> = queues.map(() => []);
      let waitingCalls = 0;
      for (let step = 0; step < 800; step += 1) {
        const which = Math.floor(next() * queues.length);
        const queue = queues[which] as TaskQueue;
        const model = models[which] as Array<Task | Call>;
        const roll = next();
        if (roll < 0.2) {
          const task = newTask(() => undefined);
          queue.push(task);
          model.push(task);
        } else if (roll < 0.55) {
          const call: Call = { fn: () => undefined, resolve: () => undefined, stamp: { at: step } };
          queue.pushCall(call.fn, call.resolve, call.stamp);
          model.push(call);
          waitingCalls += 1;
        } else if (roll < 0.65 && model.length > 0) {
          const at = Math.floor(next() * model.length);
          const entry = model[at] as Task | Call;
          if ('flags' in entry) {
            queue.remove(entry);
            model.splice(at, 1);
          }
        } else {
          const task = queue.shift();
          const expected = model.shift();
          if (expected === undefined) {
            assert.equal(task, null);
          } else if ('flags' in expected) {
            assert.equal(task, expected, `seed ${seed}, step ${step}`);
          } else {
            assert.equal(task?.fn, expected.fn, `seed ${seed}, step ${step}`);
            assert.equal(task?.resolve, expected.resolve);
            assert.equal(task?.stamp, expected.stamp);
            waitingCalls -= 1;
          }
        }
        assert.equal(queue.size, model.length, `seed ${seed}, step ${step}`);
        assert.equal(calls.size, waitingCalls, `seed ${seed}, step ${step}`);
      }
      for (const queue of queues) while (queue.shift() !== null);
      assert.equal(calls.size, 0);
    }
  });
});
