import { InFlight } from './in-flight.js';
import { DEFAULT_CLOSE_TIMEOUT_MS, positiveNumber } from './options.js';

/**
 * The life of a publisher, the same for every destination: it counts its publishes in flight,
 * is marked closed as soon as `close()` is called (publishes are refused from then on), and
 * closes once: it waits up to `closeTimeoutMs` for outstanding confirmations, then releases its
 * connections. Later `close()` calls share that first one.
 */
export class PublisherLifecycle {
  /** The publishes sent and not yet settled. */
  readonly inFlight = new InFlight();
  readonly #closeTimeoutMs: number;
  #closed = false;
  #closing: Promise<void> | undefined;

  /**
   * @param name the publisher's name, which prefixes its options in error messages (`amqp`).
   * @param closeTimeoutMs the publisher's `closeTimeoutMs` option, checked here; milliseconds,
   *   default 5000.
   */
  constructor(name: string, closeTimeoutMs: number | undefined) {
    this.#closeTimeoutMs = positiveNumber(
      `${name}.closeTimeoutMs`,
      closeTimeoutMs,
      DEFAULT_CLOSE_TIMEOUT_MS,
    );
  }

  /** Whether `close()` was called. */
  get closed(): boolean {
    return this.#closed;
  }

  /** Closes once: drains what is in flight (up to the timeout), then runs `release`. */
  close(release: () => Promise<void> | void): Promise<void> {
    this.#closed = true;
    this.#closing ??= (async () => {
      await this.inFlight.drain(this.#closeTimeoutMs);
      await release();
    })();

    return this.#closing;
  }
}
