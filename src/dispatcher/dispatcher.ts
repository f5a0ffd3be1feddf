import { EventEmitter } from 'node:events';
import { getHeapStatistics } from 'node:v8';
import { pino } from 'pino';
import type { Logger } from 'pino';
import type { OutboxEvent } from '../event.js';
import { ConcurrencyLimiter, MemoryMonitor } from '../limiter/index.js';
import type { Publisher } from '../publisher/contract.js';
import type { OutboxStore } from '../store/contract.js';
import { AckBuffer } from './acks.js';
import { ClaimLoops, STORE_RETRY_MIN_MS } from './claim-loop.js';
import type { LoopState } from './claim-loop.js';
import { classifyForLimiter, safeMessage } from './classify.js';
import { Deliveries } from './deliveries.js';
import type {
  DispatcherEventMap,
  DispatcherState,
  DispatcherStatus,
  EventOutcome,
} from './events.js';
import { relayLimiterEvents } from './limiter-events.js';
import { resolveOptions } from './options.js';
import type { DispatcherOptions, ResolvedOptions } from './options.js';
import { Outcomes } from './outcomes.js';
import { RetryPolicy } from './retry-policy.js';
import { ClaimRoom } from './room.js';
import { StoreWatch } from './store-watch.js';
import { TypeGate } from './type-gate.js';
import { Waker } from './waker.js';

export type { LoopState } from './claim-loop.js';

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
  readonly #gate: TypeGate;
  readonly #acks: AckBuffer;
  readonly #memory: MemoryMonitor;
  readonly #stopController = new AbortController();
  readonly #waker = new Waker(this.#stopController.signal);
  readonly #watch: StoreWatch;
  readonly #outcomes: Outcomes;

  #state: DispatcherState = 'idle';
  #startedAt: Date | null = null;
  #loops: Promise<void> | undefined;
  #stopping: Promise<void> | undefined;
  #unsubscribe: (() => void) | undefined;
  readonly #room: ClaimRoom;
  readonly #deliveries: Deliveries;
  readonly #claimLoops: ClaimLoops;

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
    this.#outcomes = new Outcomes(
      this.#acks,
      this.#logger,
      emit,
      this.#publisher.name,
      () => this.limiter.getMemoryStats(),
      (name) => this.listenerCount(name) > 0,
    );
    this.#memory = new MemoryMonitor({
      interval: this.#options.memoryCheckIntervalMs,
      threshold: this.#options.maxHeapPercent / 100,
      stats: () => this.limiter.getMemoryStats(),
    });
    this.#room = new ClaimRoom(this.limiter, this.#options);
    const stopSignal = this.#stopController.signal;
    this.#deliveries = new Deliveries({
      limiter: this.limiter,
      publisher: this.#publisher,
      retry: new RetryPolicy({
        retryBaseMs: this.#options.retryBaseMs,
        retryMaxMs: this.#options.retryMaxMs,
        maxAttempts: this.#options.maxAttempts,
        random: this.#options.random,
      }),
      gate: this.#gate,
      watch: this.#watch,
      outcomes: this.#outcomes,
      room: this.#room,
      logger: this.#logger,
      stopSignal,
    });
    this.#claimLoops = new ClaimLoops({
      options: this.#options,
      store: this.#store,
      room: this.#room,
      waker: this.#waker,
      gate: this.#gate,
      watch: this.#watch,
      deliveries: this.#deliveries,
      stopSignal,
    });
    relayLimiterEvents(this.limiter, this.#memory, this.#logger, emit);
  }

  /** The dispatcher's life state. */
  get state(): DispatcherState {
    return this.#state;
  }

  /** What the claim loop is doing now (see `LoopState`). */
  get loopState(): LoopState {
    return this.#claimLoops.state;
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
      this.#claimLoops.run(index).catch((error: unknown) => {
        this.#claimLoops.failed(index);
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
  processEvent(event: OutboxEvent, options?: { signal?: AbortSignal }): Promise<EventOutcome> {
    return this.#deliveries.processEvent(event, options);
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
