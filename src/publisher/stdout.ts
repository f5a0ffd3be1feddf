import type { Writable } from 'node:stream';
import type { OutboxEvent } from '../event.js';
import type { Publisher, PublishOptions } from './contract.js';
import { encodeCloudEvent, resolveCloudEventsOptions } from './cloudevents.js';
import type { CloudEventsOptions } from './cloudevents.js';
import { closedError, toPublishError } from './errors.js';
import { PublisherLifecycle } from './lifecycle.js';

export interface StdoutPublisherOptions {
  /** Milliseconds `close()` waits for outstanding confirmations before it closes the
   * connection under them. Default: 5000. */
  closeTimeoutMs?: number;
  /** Where the lines go. Default: `process.stdout`. */
  stream?: Writable;
  /** The CloudEvents `source`; the mode is always structured (one JSON CloudEvent a line). */
  cloudEvents?: Pick<CloudEventsOptions, 'source'>;
}

/**
 * Writes each event as one line of JSON (a structured CloudEvent) to standard output. An event
 * counts as delivered once the stream has accepted the line. For demos, debugging and piping
 * into another program.
 */
export class StdoutPublisher implements Publisher {
  readonly name = 'stdout';
  readonly #stream: Writable;
  readonly #source: string;
  readonly #lifecycle: PublisherLifecycle;

  constructor(options: StdoutPublisherOptions = {}) {
    this.#lifecycle = new PublisherLifecycle(this.name, options.closeTimeoutMs);
    this.#stream = options.stream ?? process.stdout;
    this.#source = resolveCloudEventsOptions({ ...options.cloudEvents, mode: 'structured' }).source;
  }

  publish(event: OutboxEvent, options: PublishOptions): Promise<void> {
    if (this.#lifecycle.closed) return Promise.reject(closedError(this.name));

    const encoded = encodeCloudEvent(event, { source: this.#source, mode: 'structured' });
    const line = Buffer.concat([encoded.body, Buffer.from('\n')]);
    const context = () => `event ${event.id} to stdout`;
    const written = new Promise<void>((resolve, reject) => {
      this.#stream.write(line, (error) =>
        error ? reject(toPublishError(error, `writing ${context()}`)) : resolve(),
      );
    });

    return this.#lifecycle.inFlight.track(written, options, context);
  }

  close(): Promise<void> {
    return this.#lifecycle.close(() => undefined);
  }
}
