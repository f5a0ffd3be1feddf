/**
 * Runs of a key: with `claimPerKey` above 1, one claim may hold several consecutive events of an
 * ordering key. They go to the limiter together, where its per-key concurrency of 1 starts them
 * one at a time in the order given (id order). Once one of them is not delivered, the later ones
 * must not be published: they are handed back, and the store keeps them behind the one that
 * failed.
 */

import type { OutboxEvent } from '../event.js';
import type { EventOutcome } from './events.js';

/** Why an event of a run was handed back without a publish. */
export type RunStopReason = 'run-broken' | 'lease-ending';

/** Thrown by a run's task instead of publishing; the event is released, its attempt not counted. */
export class RunStoppedError extends Error {
  readonly isRunStopped = true;

  constructor(readonly reason: RunStopReason) {
    super(
      reason === 'run-broken'
        ? 'an earlier event of its key in this claim was not delivered'
        : 'its lease would end before a publish could time out',
    );
    this.name = 'RunStoppedError';
  }
}

export function isRunStoppedError(error: unknown): error is RunStoppedError {
  return error instanceof RunStoppedError;
}

/** The events of one key in one claim: whether one of them was not delivered. */
export class KeyRun {
  /** Set once an event of the run was not delivered: the later ones are not published. */
  broken = false;

  /** Events of the run handed to the limiter whose outcome is not recorded yet. */
  open = 0;

  /** The event that broke the run and its outcome, recorded once the later events are. */
  held: { event: OutboxEvent; outcome: EventOutcome } | undefined;

  /**
   * @param startBy the last moment (`performance.now()` clock, ms) an event of the run may start:
   *   its lease end, as seen before the claim was sent, less the publish timeout.
   */
  constructor(readonly startBy: number) {}
}

/** The runs of one claim, by key; made only for claims that may hold runs. */
export class ClaimRuns {
  readonly #runs = new Map<string, KeyRun>();

  /** @param startBy see `KeyRun`. */
  constructor(readonly startBy: number) {}

  /** The run of `key` in this claim, made at its first event. */
  of(key: string): KeyRun {
    let run = this.#runs.get(key);
    if (run === undefined) {
      run = new KeyRun(this.startBy);
      this.#runs.set(key, run);
    }

    return run;
  }
}
