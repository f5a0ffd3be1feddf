import { raceSignal, toPublishError } from './errors.js';

export interface ConnectorOptions<C> {
  /** What the connection is, for error messages (`amqp://guest:***@127.0.0.1:5672`). */
  describe: string;
  /** Opens a connection; may throw. */
  open: () => Promise<C>;
  /** Closes a connection; errors are ignored. */
  close: (connection: C) => Promise<void>;
  /** Wait before the first retry after a failed attempt, in milliseconds. Default: 100. */
  initialDelayMs?: number;
  /** Longest wait between attempts, in milliseconds. Default: 5000. */
  maxDelayMs?: number;
}

/**
 * Holds one connection, opened on first use and opened again after it was lost. Callers that
 * arrive while an attempt runs share it. A failed attempt rejects its callers with a retryable
 * error, and the next attempt waits a growing delay (capped), so an outage is not hammered.
 */
export class Connector<C> {
  readonly #options: ConnectorOptions<C>;
  #current: C | undefined;
  #attempt: Promise<C> | undefined;
  #failures = 0;
  #lastFailureAt = 0;
  #closed = false;

  constructor(options: ConnectorOptions<C>) {
    this.#options = options;
  }

  /** The live connection, if there is one. */
  get current(): C | undefined {
    return this.#current;
  }

  /** The live connection, opening it when needed; rejects at once when `signal` aborts. */
  get(signal?: AbortSignal): Promise<C> {
    if (this.#current !== undefined) return Promise.resolve(this.#current);
    if (this.#closed) return Promise.reject(new Error(`${this.#options.describe} is closed`));

    this.#attempt ??= this.#open();
    if (signal === undefined) return this.#attempt;

    return raceSignal(this.#attempt, signal, `connecting to ${this.#options.describe}`);
  }

  /**
   * Calls `send(connection, event, options)` on the live connection: at once when connected
   * (no closure, no extra promise: this is every publish's path), else once it is opened;
   * rejects at once when `options.signal` aborts while opening.
   */
  send<E, O extends { readonly signal?: AbortSignal | undefined }>(
    send: (connection: C, event: E, options: O) => Promise<void>,
    event: E,
    options: O,
  ): Promise<void> {
    const live = this.#current;
    if (live !== undefined) return send(live, event, options);

    return this.get(options.signal).then((opened) => send(opened, event, options));
  }

  async #open(): Promise<C> {
    try {
      const initial = this.#options.initialDelayMs ?? 100;
      const cap = this.#options.maxDelayMs ?? 5000;
      const delay = this.#failures === 0 ? 0 : Math.min(cap, initial * 2 ** (this.#failures - 1));
      const wait = this.#lastFailureAt + delay - Date.now();
      if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));

      const connection = await this.#options.open();
      if (this.#closed) {
        await this.#options.close(connection).catch(() => undefined);
        throw new Error(`${this.#options.describe} is closed`);
      }

      this.#current = connection;
      this.#failures = 0;

      return connection;
    } catch (error) {
      this.#failures += 1;
      this.#lastFailureAt = Date.now();
      throw toPublishError(error, `connecting to ${this.#options.describe}`);
    } finally {
      this.#attempt = undefined;
    }
  }

  /** Forgets `connection` after it was lost, so that the next `get` opens a new one. */
  lost(connection: C): void {
    if (this.#current === connection) this.#current = undefined;
  }

  /** Closes the connection; idempotent. Later `get` calls reject. */
  async close(): Promise<void> {
    this.#closed = true;
    const attempt = this.#attempt;
    if (attempt !== undefined) await attempt.catch(() => undefined);

    const connection = this.#current;
    this.#current = undefined;
    if (connection !== undefined) await this.#options.close(connection).catch(() => undefined);
  }
}
