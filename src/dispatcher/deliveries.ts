// Imported: the global `performance` is a getter, read twice per event otherwise.
import { performance } from 'node:perf_hooks';
import type { Logger } from 'pino';
import type { OutboxEvent } from '../event.js';
import {
  isAbortedError,
  isCircuitOpenError,
  isQueueFullError,
  isShuttingDownError,
} from '../limiter/index.js';
import type { ConcurrencyLimiter, TaskContext } from '../limiter/index.js';
import type { Publisher } from '../publisher/contract.js';
import type { Claim } from '../store/contract.js';
import { safeMessage, toFailure } from './classify.js';
import type { EventOutcome } from './events.js';
import type { Batch, Outcomes } from './outcomes.js';
import type { RetryPolicy } from './retry-policy.js';
import type { ClaimRoom } from './room.js';
import { RunStoppedError, isRunStoppedError } from './runs.js';
import type { ClaimRuns, KeyRun } from './runs.js';
import type { StoreWatch } from './store-watch.js';
import type { TypeGate } from './type-gate.js';

/** The parts of the dispatcher a claimed event goes through. */
export interface DeliveryParts {
  limiter: ConcurrencyLimiter;
  publisher: Publisher;
  retry: RetryPolicy;
  gate: TypeGate;
  watch: StoreWatch;
  outcomes: Outcomes;
  room: ClaimRoom;
  logger: Logger;
  /** Aborted when the dispatcher stops. */
  stopSignal: AbortSignal;
}

/**
 * The way of a claimed event through the dispatcher: started in the limiter (or handed back
 * when it cannot start now), published, and its outcome decided and recorded.
 */
export class Deliveries {
  readonly #limiter: ConcurrencyLimiter;
  readonly #publisher: Publisher;
  readonly #retry: RetryPolicy;
  readonly #gate: TypeGate;
  readonly #watch: StoreWatch;
  readonly #outcomes: Outcomes;
  readonly #room: ClaimRoom;
  readonly #logger: Logger;
  readonly #stopSignal: AbortSignal;

  constructor(parts: DeliveryParts) {
    this.#limiter = parts.limiter;
    this.#publisher = parts.publisher;
    this.#retry = parts.retry;
    this.#gate = parts.gate;
    this.#watch = parts.watch;
    this.#outcomes = parts.outcomes;
    this.#room = parts.room;
    this.#logger = parts.logger;
    this.#stopSignal = parts.stopSignal;
  }

  /**
   * Starts every claimed event (or hands it back when it cannot start now). With `runs`, the
   * events of one key go to the limiter in claim order (id order) and start one after another;
   * once one of them is handed back here, the later ones of its key are handed back too.
   */
  accept(claim: Claim, runs: ClaimRuns | undefined): void {
    this.#outcomes.rejected(claim.rejected);
    const { events, token } = claim;
    if (events.length === 0) return;

    const batch = this.#outcomes.batch(token, events.length);
    // The clock is read at each start only if a delivery's duration is read (see `#dispatch`).
    const timed = this.#outcomes.timed;
    const gated = this.#gate.enabled;
    let lastType: string | undefined;
    for (const event of events) {
      if (event.type !== lastType) {
        lastType = event.type;
        this.#watch.noteType(lastType);
      }

      const run = runs === undefined || event.key === null ? undefined : runs.of(event.key);
      let reason: string | undefined;
      if (this.#stopSignal.aborted) reason = 'dispatcher stopping';
      else if (run?.broken === true) reason = new RunStoppedError('run-broken').message;
      else if (gated && !this.#gate.tryEnter(event.type)) reason = 'type limit reached';

      if (reason === undefined) {
        this.#room.started();
        void this.#dispatch(event, batch, run, timed);
      } else {
        if (run !== undefined) run.broken = true;
        this.#outcomes.record(event, batch, { kind: 'unstarted', reason });
      }
    }
  }

  /**
   * Publishes one event through the limiter (its slot, its key, the breaker, the publish
   * timeout) and says what should become of it. It records nothing in the store: the claim loop
   * does, with the claim's token. Never rejects.
   */
  async processEvent(
    event: OutboxEvent,
    options?: { signal?: AbortSignal },
  ): Promise<EventOutcome> {
    const started = performance.now();
    const signal = options?.signal;
    try {
      // Without a key or a signal the limiter needs no options (and no per-task extras).
      await this.#limiter.run(
        this.#publishTask(event),
        event.key === null && signal === undefined
          ? undefined
          : { key: event.key ?? undefined, signal },
      );

      return { kind: 'delivered', durationMs: performance.now() - started };
    } catch (error) {
      return this.#failed(event, error, performance.now() - started);
    }
  }

  /** What becomes of an event whose publish (or its start) failed with `error`. */
  #failed(event: OutboxEvent, error: unknown, durationMs: number): EventOutcome {
    if (
      isShuttingDownError(error) ||
      isCircuitOpenError(error) ||
      isQueueFullError(error) ||
      isRunStoppedError(error)
    ) {
      return { kind: 'unstarted', reason: safeMessage(error) };
    }

    const failure = toFailure(error);
    const decision = this.#retry.decide({ attempts: event.attempts, ...failure });
    if (decision.action === 'dead') return { kind: 'dead', durationMs, reason: decision.reason };

    // An event aborted by a shutdown may be taken again at once by another dispatcher.
    const stopping = this.#stopSignal.aborted && isAbortedError(error);
    const retryAt = new Date(Date.now() + (stopping ? 0 : decision.delayMs));

    return { kind: 'retry', durationMs, error: failure.message, failure: failure.kind, retryAt };
  }

  /**
   * Publishes one claimed event through the limiter, as `processEvent` does, and records its
   * outcome; an event of a run publishes through the run's task, and one that is not delivered
   * stops the run. Never rejects. With `timed`, the event's duration counts from here; without,
   * nobody reads it (only a listener of `event:delivered` added meanwhile would) and it counts
   * from the claim's start, in the same turn: the clock is read only for a duration that is read.
   */
  async #dispatch(
    event: OutboxEvent,
    batch: Batch,
    run: KeyRun | undefined,
    timed: boolean,
  ): Promise<void> {
    const started = timed ? performance.now() : batch.startedAt;
    // Undefined once delivered.
    let outcome: EventOutcome | undefined;
    try {
      if (run === undefined) {
        // Without a key the limiter needs no options (and no per-task extras).
        await this.#limiter.run(
          this.#publishTask(event),
          event.key === null ? undefined : { key: event.key },
        );
      } else {
        run.open += 1;
        await this.#limiter.run(this.#runTask(event, run), { key: event.key as string });
      }
    } catch (error) {
      outcome = this.#failed(event, error, performance.now() - started);
    }

    // Before the next event of the run can start: a timed-out publish keeps its key's slot
    // until it really ends, and may yet resolve.
    if (run !== undefined && outcome !== undefined) run.broken = true;
    try {
      if (this.#gate.enabled) this.#gate.leave(event.type);
      if (run !== undefined) this.#recordInRun(event, batch, run, started, outcome);
      else if (outcome === undefined) this.#outcomes.delivered(event, batch, started);
      else this.#outcomes.record(event, batch, outcome);
    } catch (error) {
      this.#logger.error({ id: event.id, error: safeMessage(error) }, 'outcome not recorded');
    }

    this.#room.finished();
  }

  /**
   * Records the outcome of an event of a run. The event that broke the run is recorded after the
   * run's later events, which are released as each takes its turn in the limiter: its
   * acknowledgement is then written no earlier than theirs (the buffer writes a claim's releases
   * before its fails), so that a failed event whose retry is due cannot be claimed again while
   * later events of its key are still leased.
   */
  #recordInRun(
    event: OutboxEvent,
    batch: Batch,
    run: KeyRun,
    started: number,
    outcome: EventOutcome | undefined,
  ): void {
    run.open -= 1;
    if (outcome !== undefined && run.held === undefined && run.open > 0) {
      run.held = { event, outcome };

      return;
    }

    if (outcome === undefined) this.#outcomes.delivered(event, batch, started);
    else this.#outcomes.record(event, batch, outcome);
    const held = run.held;
    if (held !== undefined && run.open === 0) {
      run.held = undefined;
      this.#outcomes.record(held.event, batch, held.outcome);
    }
  }

  /**
   * The limiter's task for one event. The task's context goes to the publisher as it is: its
   * signal is only created if the publisher reads it.
   */
  #publishTask(event: OutboxEvent): (ctx: TaskContext) => Promise<void> {
    return (ctx) => this.#publisher.publish(event, ctx);
  }

  /**
   * The task of an event of a run. It publishes only if no earlier event of the run failed and
   * its publish, even a timed-out one, ends before the lease; a failed publish stops the run at
   * once, before the limiter starts the key's next task.
   */
  #runTask(event: OutboxEvent, run: KeyRun): (ctx: TaskContext) => Promise<void> {
    return async (ctx) => {
      if (run.broken) throw new RunStoppedError('run-broken');

      if (performance.now() > run.startBy) {
        run.broken = true;
        throw new RunStoppedError('lease-ending');
      }

      try {
        await this.#publisher.publish(event, ctx);
      } catch (error) {
        run.broken = true;
        throw error;
      }
    };
  }
}
