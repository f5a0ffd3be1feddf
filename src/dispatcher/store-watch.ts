import type { Logger } from 'pino';
import type { OutboxStats, OutboxStore } from '../store/contract.js';
import { safeMessage } from './classify.js';
import type { Emit } from './events.js';

/**
 * Watches the store for the dispatcher: whether it answers (reported once per outage, with
 * `store:error` for every failed call and `store:recovered` at the first success after), and
 * its figures and paused types, refreshed on a timer so that `getStatus()` never queries.
 */
export class StoreWatch {
  stats: OutboxStats | null = null;
  statsAt: Date | null = null;
  paused: string[] = [];
  /** Event types seen in the figures or in claims (for the per-type claim filter). */
  readonly knownTypes = new Set<string>();
  #reachable = true;
  #downSince = 0;
  #timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly store: OutboxStore,
    private readonly logger: Logger,
    private readonly emit: Emit,
  ) {}

  get reachable(): boolean {
    return this.#reachable;
  }

  /** Reads the figures now, then every `intervalMs`. */
  async start(intervalMs: number): Promise<void> {
    await this.refresh();
    this.#timer = setInterval(() => void this.refresh(), intervalMs);
    this.#timer.unref();
  }

  stop(): void {
    clearInterval(this.#timer);
  }

  noteType(type: string): void {
    if (this.knownTypes.size < 10_000) this.knownTypes.add(type);
  }

  async refresh(): Promise<void> {
    try {
      const [stats, paused] = await Promise.all([this.store.stats(), this.store.listPaused()]);
      this.stats = stats;
      this.statsAt = new Date();
      this.paused = paused;
      for (const type of Object.keys(stats.byType)) this.noteType(type);
      this.succeeded('stats');
    } catch (error) {
      this.failed('stats', error);
    }
  }

  /** A store call failed: logged once per outage, emitted every time. */
  failed(operation: string, error: unknown): void {
    const failure = error instanceof Error ? error : new Error(safeMessage(error));
    if (this.#reachable) {
      this.#reachable = false;
      this.#downSince = Date.now();
      this.logger.error(
        { operation, error: safeMessage(error) },
        'store unreachable; retrying with backoff',
      );
    } else {
      this.logger.debug({ operation, error: safeMessage(error) }, 'store still unreachable');
    }
    this.emit('store:error', { error: failure, operation });
  }

  /** A store call succeeded: ends an outage if there was one. */
  succeeded(operation: string): void {
    if (this.#reachable) return;

    this.#reachable = true;
    const downMs = Date.now() - this.#downSince;
    this.logger.info({ operation, downMs }, 'store reachable again');
    this.emit('store:recovered', { operation, downMs });
  }
}
