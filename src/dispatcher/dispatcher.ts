import { EventEmitter } from 'node:events';
// Imported: the global `performance` is a getter, read twice per event otherwise.
import { performance } from 'node:perf_hooks';
import { getHeapStatistics } from 'node:v8';
import { pino } from 'pino';
import type { Logger } from 'pino';
import type { OutboxEvent } from '../event.js';
import {
  ConcurrencyLimiter,
  MemoryMonitor,
  isAbortedError,
  isCircuitOpenError,
  isQueueFullError,
  isShuttingDownError,
} from '../limiter/index.js';
import type { TaskContext } from '../limiter/index.js';
import type { Publisher } from '../publisher/contract.js';
import type { Claim, OutboxStore } from '../store/contract.js';
import { AckBuffer } from './acks.js';
import { classifyForLimiter, safeMessage, toFailure } from './classify.js';
import type {
  DispatcherEventMap,
  DispatcherState,
  DispatcherStatus,
  EventOutcome,
} from './events.js';
import { resolveOptions } from './options.js';
import type { DispatcherOptions, ResolvedOptions } from './options.js';
import { Outcomes } from './outcomes.js';
import type { Batch } from './outcomes.js';
import { RetryPolicy } from './retry-policy.js';
import { ClaimRoom } from './room.js';
import { ClaimRuns, RunStoppedError, isRunStoppedError } from './runs.js';
import type { KeyRun } from './runs.js';
import { StoreWatch } from './store-watch.js';
import { TypeGate } from './type-gate.js';
import { Waker } from './waker.js';

/**
 * What a claim loop is doing (`claimers` loops run side by side and share the room; each is
 * this small state machine):
 *
 * - `waiting-for-room`: the limiter has no room (every slot busy, or the breaker open); it waits
 *   for `limiter.onRoom()`, which also resolves when an open breaker turns half-open, or for
 *   another loop's claim to return the room it held;
 * - `claiming`: one claim query is running, for at most `min(batchSize, limiter.available)`
 *   events, so that every claimed event starts at once (plus `prefetch` events that wait in
 *   the limiter's queue for the next free slot, when the breaker is closed);
 * - `idle`: the last claim found nothing; it sleeps, cut short by a store wake-up or by an
 *   acknowledgement (which may unblock a key), and each empty claim doubles the sleep up to
 *   `pollIntervalMs`;
 * - `backing-off`: the store failed; it sleeps with exponential backoff (up to
 *   `storeRetryMaxMs`) and tries again, until `stop()`;
 * - `stopped`: the loop has returned (after `stop()`).
 */
export type LoopState = 'waiting-for-room' | 'claiming' | 'idle' | 'backing-off' | 'stopped';

const STORE_RETRY_MIN_MS = 100;

const delay = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms).unref());
const ACK_GRACE_MS = 5_000;

/**
 * The outbox dispatcher: claims events from a store under a lease, publishes them through the
 * limiter (concurrency, one at a time per key, per-type limits, circuit breaker), and records
 * each outcome (delivered, retried later, dead-lettered) in batched acknowledgements.
 */
export class OutboxDispatcher extends EventEmitter<DispatcherEventMap> {
  /** The limiter every publish runs through (read its statistics for metrics). */
  readonly limiter: ConcurrencyLimiter;

  readonly #options: ResolvedOptions;
  readonly #store: OutboxStore;
  readonly #publisher: Publisher;
  readonly #logger: Logger;
  readonly #retry: RetryPolicy;
  readonly #gate: TypeGate;
  readonly #acks: AckBuffer;
  readonly #memory: MemoryMonitor;
  readonly #stopController = new AbortController();
  readonly #waker = new Waker(this.#stopController.signal);
  readonly #watch: StoreWatch;
  readonly #outcomes: Outcomes;

  #state: DispatcherState = 'idle';
  readonly #loopStates: LoopState[] = [];
  #startedAt: Date | null = null;
  #loops: Promise<void> | undefined;
  #stopping: Promise<void> | undefined;
  #unsubscribe: (() => void) | undefined;
  readonly #room: ClaimRoom;

  constructor(options: DispatcherOptions) {
    super();
    this.#options = resolveOptions(options);
    this.#store = this.#options.store;
    this.#publisher = this.#options.publisher;
    this.#logger = (options.logger ?? pino({ level: 'silent' })).child({
      component: 'dispatcher',
      store: this.#store.kind,
      publisher: this.#publisher.name,
    });
    this.#retry = new RetryPolicy({
      retryBaseMs: this.#options.retryBaseMs,
      retryMaxMs: this.#options.retryMaxMs,
      maxAttempts: this.#options.maxAttempts,
      random: this.#options.random,
    });
    this.#gate = new TypeGate(this.#options.typeConcurrency);
    this.limiter = new ConcurrencyLimiter({
      concurrency: this.#options.concurrency,
      perKey: { concurrency: 1 },
      timeout: this.#options.publishTimeoutMs,
      breaker: this.#options.breaker === false ? false : (this.#options.breaker ?? {}),
      whileOpen: 'reject',
      adaptive: this.#options.adaptive ?? false,
      classify: classifyForLimiter,
    });
    const emit = this.#emit.bind(this);
    this.#watch = new StoreWatch(this.#store, this.#logger, emit);
    this.#acks = new AckBuffer(this.#store, {
      flushMs: this.#options.ackFlushMs,
      maxPending: this.#options.ackMaxPending,
      retryMinMs: STORE_RETRY_MIN_MS,
      retryMaxMs: this.#options.storeRetryMaxMs,
      onResult: (operation, token, result) => {
        // A completed event may free the next event of its key.
        if (this.#outcomes.acknowledged(operation, token, result)) this.#waker.wake();
      },
      onError: (operation, error) => this.#watch.failed(operation, error),
      onRecovered: (operation) => this.#watch.succeeded(operation),
    });
    this.#outcomes = new Outcomes(this.#acks, this.#logger, emit, this.#publisher.name, () =>
      this.limiter.getMemoryStats(),
    );
    this.#memory = new MemoryMonitor({
      interval: this.#options.memoryCheckIntervalMs,
      threshold: this.#options.maxHeapPercent / 100,
      stats: () => this.limiter.getMemoryStats(),
    });
    this.#room = new ClaimRoom(this.limiter, this.#options);
    this.#relayLimiterEvents();
  }

  /** The dispatcher's life state. */
  get state(): DispatcherState {
    return this.#state;
  }

  /** What the claim loop is doing now (see `LoopState`). */
  get loopState(): LoopState {
    const states = this.#loopStates;
    if (states.length === 0) return 'stopped';

    return states.includes('claiming') ? 'claiming' : (states[0] ?? 'stopped');
  }

  /**
   * Starts the claim loop, the memory monitor and the figures refresh. Resolves once running;
   * store failures after that are retried, never thrown. Calling it again while running is a
   * no-op; a stopped dispatcher cannot start again (make a new one).
   */
  async start(): Promise<void> {
    if (this.#state === 'starting' || this.#state === 'running') return;

    if (this.#state !== 'idle') {
      throw new Error(`a ${this.#state} dispatcher cannot start again; create a new one`);
    }

    this.#setState('starting');
    this.#unsubscribe = this.#store.onWake(() => this.#waker.wake());
    this.#memory.start();
    await this.#watch.start(this.#options.statsIntervalMs);
    this.#startedAt = new Date();
    this.#setState('running');
    this.#logger.info(
      {
        concurrency: this.#options.concurrency,
        batchSize: this.#options.batchSize,
        leaseMs: this.#options.leaseMs,
        pollIntervalMs: this.#options.pollIntervalMs,
      },
      'dispatcher started',
    );
    const loops = Array.from({ length: this.#options.claimers }, (_, index) =>
      this.#run(index).catch((error: unknown) => {
        this.#loopStates[index] = 'stopped';
        this.#logger.fatal({ error: safeMessage(error) }, 'the claim loop failed');
        if (this.listenerCount('error') > 0) {
          this.emit('error', error instanceof Error ? error : new Error(safeMessage(error)));
        }
      }),
    );
    this.#loops = Promise.all(loops).then(() => undefined);
  }

  /**
   * Stops gracefully; idempotent (every call returns the same promise). It stops claiming, lets
   * the events in flight finish for up to `timeout` ms (default `shutdownTimeoutMs`), aborts the
   * rest through their signals (they are retried at once by whoever claims them next), releases
   * every claimed event that did not start, writes the pending outcomes and stops the monitors.
   * The store and the publisher stay open: their owner closes them.
   */
  stop(options: { timeout?: number } = {}): Promise<void> {
    if (this.#stopping !== undefined) return this.#stopping;

    const timeout = options.timeout ?? this.#options.shutdownTimeoutMs;
    this.#stopping = this.#shutdown(timeout);

    return this.#stopping;
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
      await this.limiter.run(
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

  /**
   * `processEvent` for a keyed event of a claim that may hold runs: its task publishes only if
   * no earlier event of its run failed and its lease still outlasts a publish.
   */
  async #processInRun(event: OutboxEvent & { key: string }, run: KeyRun): Promise<EventOutcome> {
    run.open += 1;
    const started = performance.now();
    try {
      await this.limiter.run(this.#runTask(event, run), { key: event.key });

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
    const stopping = this.#stopController.signal.aborted && isAbortedError(error);
    const retryAt = new Date(Date.now() + (stopping ? 0 : decision.delayMs));

    return { kind: 'retry', durationMs, error: failure.message, failure: failure.kind, retryAt };
  }

  /** The dispatcher's state and figures, read from memory (no database query). */
  getStatus(): DispatcherStatus & {
    loop: LoopState;
    types: Record<string, { active: number; limit: number }>;
  } {
    const limiter = this.limiter.getMemoryStats();
    const memory = process.memoryUsage();

    return {
      state: this.#state,
      startedAt: this.#startedAt,
      limiter,
      breaker: {
        state: this.limiter.breaker?.state ?? 'closed',
        failureRate: limiter.failureRate,
      },
      store: this.#watch.stats,
      storeStatsAt: this.#watch.statsAt,
      storeReachable: this.#watch.reachable,
      memory: {
        heapUsed: memory.heapUsed,
        heapTotal: memory.heapTotal,
        rss: memory.rss,
        heapLimit: getHeapStatistics().heap_size_limit,
      },
      counters: { ...this.#outcomes.counters },
      paused: [...this.#watch.paused],
      loop: this.loopState,
      types: this.#gate.snapshot(),
    };
  }

  // The claim loop.

  /** One claim loop; `claimers` of them run side by side, sharing the room. */
  async #run(index: number): Promise<void> {
    const signal = this.#stopController.signal;
    const { batchSize, idleMinMs, pollIntervalMs, storeRetryMaxMs } = this.#options;
    const perKey = this.#options.claimPerKey;
    const enter = (state: LoopState) => (this.#loopStates[index] = state);
    let idleDelay = idleMinMs;
    let storeDelay = STORE_RETRY_MIN_MS;

    while (!signal.aborted) {
      const room = Math.min(batchSize, this.#room.size);
      if (room <= 0 || room < this.#room.floor) {
        enter('waiting-for-room');
        await this.#waker.until(this.#room.change(room));
        continue;
      }

      enter('claiming');
      const mark = this.#waker.mark();
      let claim: Claim | undefined;
      let failure: unknown;
      this.#room.reserve(room);
      // The lease ends no earlier than this, whatever the database's clock says.
      const sentAt = performance.now();
      try {
        claim = await this.#store.claim({
          limit: room,
          leaseMs: this.#options.leaseMs,
          types: this.#options.types,
          excludeTypes: this.#gate.enabled
            ? this.#gate.saturated(this.#watch.knownTypes)
            : undefined,
          perKey: perKey > 1 ? Math.min(perKey, room) : undefined,
        });
      } catch (error) {
        failure = error;
      } finally {
        this.#room.returned(room);
      }

      if (claim === undefined) {
        this.#watch.failed('claim', failure);
        enter('backing-off');
        await this.#waker.sleep(storeDelay);
        storeDelay = Math.min(storeRetryMaxMs, storeDelay * 2);
        continue;
      }

      this.#watch.succeeded('claim');
      storeDelay = STORE_RETRY_MIN_MS;
      this.#accept(
        claim,
        perKey > 1
          ? new ClaimRuns(sentAt + this.#options.leaseMs - this.#options.publishTimeoutMs)
          : undefined,
      );
      if (claim.events.length > 0 || claim.rejected.length > 0 || this.#waker.wokenSince(mark)) {
        idleDelay = idleMinMs;
        continue;
      }

      enter('idle');
      await this.#waker.sleep(idleDelay, mark);
      idleDelay = Math.min(pollIntervalMs, idleDelay * 2);
    }

    enter('stopped');
  }

  /**
   * Starts every claimed event (or hands it back when it cannot start now). With `runs`, the
   * events of one key go to the limiter in claim order (id order) and start one after another;
   * once one of them is handed back here, the later ones of its key are handed back too.
   */
  #accept(claim: Claim, runs: ClaimRuns | undefined): void {
    this.#outcomes.rejected(claim.rejected);
    const { events, token } = claim;
    if (events.length === 0) return;

    const batch = this.#outcomes.batch(token, events.length);
    const gated = this.#gate.enabled;
    let lastType: string | undefined;
    for (const event of events) {
      if (event.type !== lastType) {
        lastType = event.type;
        this.#watch.noteType(lastType);
      }

      const run = runs === undefined || event.key === null ? undefined : runs.of(event.key);
      let reason: string | undefined;
      if (this.#stopController.signal.aborted) reason = 'dispatcher stopping';
      else if (run?.broken === true) reason = new RunStoppedError('run-broken').message;
      else if (gated && !this.#gate.tryEnter(event.type)) reason = 'type limit reached';

      if (reason === undefined) {
        this.#room.started();
        void this.#dispatch(event, batch, run);
      } else {
        if (run !== undefined) run.broken = true;
        this.#outcomes.record(event, batch, { kind: 'unstarted', reason });
      }
    }
  }

  /**
   * Publishes one claimed event through the limiter and records its outcome. An event of a run
   * that is not delivered stops the run. Never rejects.
   */
  async #dispatch(event: OutboxEvent, batch: Batch, run?: KeyRun): Promise<void> {
    const outcome =
      run === undefined
        ? await this.processEvent(event)
        : await this.#processInRun(event as OutboxEvent & { key: string }, run);
    // Before the next event of the run can start: a timed-out publish keeps its key's slot
    // until it really ends, and may yet resolve.
    if (run !== undefined && outcome.kind !== 'delivered') run.broken = true;
    try {
      if (this.#gate.enabled) this.#gate.leave(event.type);
      if (run === undefined) this.#outcomes.record(event, batch, outcome);
      else this.#recordInRun(event, batch, run, outcome);
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
  #recordInRun(event: OutboxEvent, batch: Batch, run: KeyRun, outcome: EventOutcome): void {
    run.open -= 1;
    if (outcome.kind !== 'delivered' && run.held === undefined && run.open > 0) {
      run.held = { event, outcome };

      return;
    }

    this.#outcomes.record(event, batch, outcome);
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

  // Stopping.

  async #shutdown(timeout: number): Promise<void> {
    if (this.#state === 'idle') {
      this.#setState('stopped');

      return;
    }

    const deadline = Date.now() + timeout;
    this.#setState('stopping');
    this.#logger.info(
      { inFlight: this.#room.outstanding, timeoutMs: timeout },
      'dispatcher stopping',
    );
    this.#stopController.abort();
    this.#unsubscribe?.();
    this.#watch.stop();
    try {
      // A claim in progress normally returns at once; one stuck on a silent database is left
      // behind at the deadline (its events come back when their lease ends).
      await Promise.race([this.#loops, delay(Math.max(0, deadline - Date.now()))]);
      const drained = await this.limiter.drain({ timeout: Math.max(0, deadline - Date.now()) });
      await this.#room.settled();
      if (drained.aborted > 0) {
        this.#logger.warn({ aborted: drained.aborted }, 'publishes aborted at the deadline');
      }
    } finally {
      const left = await this.#acks.flushUntil(Math.max(deadline, Date.now() + ACK_GRACE_MS));
      if (left > 0) {
        this.#logger.error(
          { pending: left },
          'outcomes could not be written; their events will be claimed again after the lease',
        );
      }
      this.#acks.close();
      this.#memory.stop();
      this.#setState('stopped');
      this.#logger.info({ ...this.#outcomes.counters }, 'dispatcher stopped');
    }
  }

  // Small helpers.

  #relayLimiterEvents(): void {
    this.limiter.on('circuit-breaker:opened', (payload) => {
      this.#logger.warn({ ...payload }, 'circuit breaker opened: claiming paused');
      this.#emit('circuit-breaker:opened', payload);
    });
    this.limiter.on('circuit-breaker:half-open', (payload) => {
      this.#logger.info({ ...payload }, 'circuit breaker half-open: probing');
      this.#emit('circuit-breaker:half-open', payload);
    });
    this.limiter.on('circuit-breaker:closed', (payload) => {
      this.#logger.info({ ...payload }, 'circuit breaker closed: claiming resumed');
      this.#emit('circuit-breaker:closed', payload);
    });
    this.#memory.on('memory:high', (payload) => {
      this.#logger.warn(
        { heapUsed: payload.heapUsed, heapLimit: payload.heapLimit, ratio: payload.ratio },
        'heap use above the threshold',
      );
      this.#emit('memory:high', payload);
    });
  }

  #setState(to: DispatcherState): void {
    const from = this.#state;
    this.#state = to;
    this.#emit('state', { from, to });
  }

  /** Emits to listeners; a listener that throws is logged and never stops the dispatcher. */
  #emit<K extends keyof DispatcherEventMap>(name: K, ...args: DispatcherEventMap[K]): void {
    if (this.listenerCount(name) === 0) return;

    try {
      (this.emit as (name: string, ...rest: unknown[]) => boolean)(name, ...args);
    } catch (error) {
      this.#logger.error({ event: name, error: safeMessage(error) }, 'a listener threw');
    }
  }
}
