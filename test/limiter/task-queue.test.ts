import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { TaskQueue } from '../../src/limiter/task-queue.js';
import { newTask } from '../../src/limiter/task.js';
import type { Task } from '../../src/limiter/task.js';
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
});
