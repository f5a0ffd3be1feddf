import type { OutboxStats, OutboxStore } from '../store/contract.js';
import { setTimeout as sleep } from 'node:timers/promises';

import { redactSecrets } from './redact.js';
import { withTimeout } from './timeout.js';
import type { DispatcherSurface } from './surface.js';

/** The outbox figures as last read, shared by `/metrics`, `/api/status` and the dashboard. */
export interface FiguresSnapshot {
  stats: OutboxStats | null;
  /**
   * Every event type seen since the endpoint started (in the figures, paused, or handled by the
   * dispatcher), sorted: a type whose events were all delivered stays listed, with zero figures,
   * even when they came and went between two readings.
   */
  types: string[];
  /** When `stats` was read. */
  at: Date | null;
  paused: string[];
  /** Why the last read failed, or `null` when it succeeded. */
  error: string | null;
}

/** How long `start()` waits for the first figures, in milliseconds. */
const FIRST_READ_WAIT_MS = 1000;
/** The shortest time a read of the figures may take before it counts as failed, in ms. */
const READ_TIMEOUT_MIN_MS = 5000;

/**
 * Reads the store's figures at an interval so that scrapes and page refreshes never query the
 * database. When the dispatcher read them recently itself (its status carries them), those are
 * reused instead of asking the store again.
 */
export class StoreFigures {
  #snapshot: FiguresSnapshot = { stats: null, types: [], at: null, paused: [], error: null };
  readonly #types = new Set<string>();
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;
  readonly #readTimeoutMs: number;

  constructor(
    private readonly store: OutboxStore,
    private readonly dispatcher: DispatcherSurface,
    private readonly intervalMs: number,
  ) {
    // A read that hangs (a database that stopped answering) must not block the next ones.
    this.#readTimeoutMs = Math.max(intervalMs * 2, READ_TIMEOUT_MIN_MS);
  }

  get snapshot(): FiguresSnapshot {
    return this.#snapshot;
  }

  /**
   * Reads once now (waiting for it at most `FIRST_READ_WAIT_MS`, so that an unreachable database
   * does not hold up the endpoint's start), then every `intervalMs`.
   */
  async start(): Promise<void> {
    this.dispatcher.on('event:delivered', this.#learnType);
    this.dispatcher.on('event:retry', this.#learnType);
    this.dispatcher.on('event:dead', this.#learnType);
    const waited = new AbortController();
    const wait = sleep(FIRST_READ_WAIT_MS, undefined, { signal: waited.signal }).catch(() => {});
    await Promise.race([this.refresh(), wait]);
    waited.abort();
    this.#timer = setInterval(() => void this.refresh(), this.intervalMs);
    this.#timer.unref();
  }

  stop(): void {
    clearInterval(this.#timer);
    this.dispatcher.off('event:delivered', this.#learnType);
    this.dispatcher.off('event:retry', this.#learnType);
    this.dispatcher.off('event:dead', this.#learnType);
  }

  /** Notes the type of an event the dispatcher handled; the next reading lists it. */
  readonly #learnType = ((payload: { event: { type?: string } }): void => {
    const type = payload.event.type;
    if (type !== undefined) {
      this.#types.add(type);
    }
  }) as (...args: never[]) => void;

  /**
   * Reads the figures. `force` always asks the store (after an operator's action); otherwise the
   * dispatcher's own recent reading is used when it is fresher than the interval.
   */
  refresh(force = false): Promise<void> {
    if (this.#running && !force) {
      return this.#running;
    }

    const reading = withTimeout(
      this.#read(force),
      this.#readTimeoutMs,
      'the store gave no figures',
    );
    const running = reading
      .catch((error: unknown) => {
        this.#snapshot = { ...this.#snapshot, error: redactSecrets(error) };
      })
      .finally(() => {
        if (this.#running === running) {
          this.#running = undefined;
        }
      });
    this.#running = running;

    return running;
  }

  async #read(force: boolean): Promise<void> {
    const status = this.dispatcher.getStatus();
    const fresh =
      status.store !== null &&
      status.storeStatsAt !== null &&
      Date.now() - status.storeStatsAt.getTime() < this.intervalMs;
    try {
      if (fresh && !force && status.store !== null && status.storeStatsAt !== null) {
        const paused = await this.store.listPaused();
        this.#update(status.store, status.storeStatsAt, paused);

        return;
      }

      const [stats, paused] = await Promise.all([this.store.stats(), this.store.listPaused()]);
      this.#update(stats, new Date(), paused);
    } catch (error) {
      this.#snapshot = { ...this.#snapshot, error: redactSecrets(error) };
    }
  }

  #update(stats: OutboxStats, at: Date, paused: string[]): void {
    for (const type of [...Object.keys(stats.byType), ...paused]) {
      this.#types.add(type);
    }

    const types = [...this.#types].sort();
    this.#snapshot = { stats, types, at, paused: [...paused].sort(), error: null };
  }
}
