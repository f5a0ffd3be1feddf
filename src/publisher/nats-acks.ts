import { performance } from 'node:perf_hooks';
import { createInbox } from 'nats';
import type { Msg, MsgHdrs, NatsConnection, NatsError, Subscription } from 'nats';
import { PublishError } from './contract.js';
import type { PublishFailureKind } from './contract.js';

/** Milliseconds between two looks for acknowledgements that are overdue (at most). */
export const ACK_SWEEP_MS = 100;

/** What every acknowledgement of a stored message starts with: `{"stream":"` and a name. */
const STORED = Buffer.from('{"stream":"');
const QUOTE = 0x22;

/** One publish waiting for its acknowledgement. */
class PendingAck {
  constructor(
    readonly eventId: string,
    readonly subject: string,
    /** `performance.now()` after which it has timed out. */
    readonly deadline: number,
    readonly resolve: () => void,
    readonly reject: (error: PublishError) => void,
  ) {}
}

/**
 * The kind of a JetStream API error: 4xx are refusals (bad message, over a limit) that a retry
 * would meet again, the rest may pass later; a full stream or account is overload.
 */
export function apiErrorKind(code: number | undefined, description: string): PublishFailureKind {
  if (code === undefined) return 'retryable';
  if (/maximum (messages|bytes)|resource limits|insufficient resources/i.test(description)) {
    return 'overload';
  }

  return code >= 400 && code < 500 ? 'permanent' : 'retryable';
}

/** Whether `data` starts with `{"stream":"` followed by a non-empty stream name. */
function isStoredAck(data: Uint8Array): boolean {
  if (data.length <= STORED.length) return false;
  for (let i = 0; i < STORED.length; i += 1) {
    if (data[i] !== STORED[i]) return false;
  }

  return data[STORED.length] !== QUOTE;
}

/**
 * Publishes to JetStream with the core client's `publish` and a reply subject, and settles each
 * publish on the stream's acknowledgement, read from one subscription: the replies of one
 * connection share an inbox (`<inbox>.<n>`). This is what the client's `js.publish()` does,
 * without its per-publish request object, timer and JSON decoding: overdue publishes are found
 * by one sweep every `ACK_SWEEP_MS`, and the acknowledgement is only parsed in full when it is
 * not a plain `{"stream":...}`.
 *
 * A publish settles once: resolved on a stored (or duplicate) acknowledgement; rejected with a
 * `PublishError` on an API error (kind from `apiErrorKind`), on "no responders" (no stream
 * captures the subject: retryable, the stream may come back), on timeout, and when the
 * connection is lost or closed (retryable: the event id makes a second publish harmless).
 */
export class JetStreamAcks {
  readonly #connection: NatsConnection;
  readonly #prefix: string;
  readonly #timeoutMs: number;
  readonly #subscription: Subscription;
  /** Pending publishes by reply subject, oldest first (a `Map` keeps insertion order). */
  readonly #pending = new Map<string, PendingAck>();
  #next = 0;
  #timer: NodeJS.Timeout | undefined;
  readonly #sweep = () => this.#expire();

  /** @param timeoutMs milliseconds a publish waits for its acknowledgement. */
  constructor(connection: NatsConnection, timeoutMs: number) {
    this.#connection = connection;
    this.#timeoutMs = timeoutMs;
    const inbox = createInbox();
    this.#prefix = `${inbox}.`;
    this.#subscription = connection.subscribe(`${inbox}.*`, {
      callback: (error, message) => this.#received(error, message),
    });
  }

  /**
   * Publishes headers and data to `subject`; resolves on the stream's acknowledgement. Throws
   * at once what the client throws (a payload over the server's maximum).
   */
  publish(subject: string, data: Uint8Array, headers: MsgHdrs, eventId: string): Promise<void> {
    const reply = this.#prefix + String(this.#next++);
    this.#connection.publish(subject, data, { headers, reply });

    return new Promise<void>((resolve, reject) => {
      const deadline = performance.now() + this.#timeoutMs;
      this.#pending.set(reply, new PendingAck(eventId, subject, deadline, resolve, reject));
      if (this.#timer === undefined) this.#arm();
    });
  }

  /** Rejects every pending publish with the retryable error `why` gives for it. */
  failAll(why: (eventId: string) => string): void {
    const pending = [...this.#pending.values()];
    this.#pending.clear();
    for (const ack of pending) ack.reject(new PublishError(why(ack.eventId), 'retryable'));
  }

  /** Stops listening; pending publishes are rejected as retryable. */
  close(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#subscription.unsubscribe();
    this.failAll((id) => `the NATS connection closed before event ${id} was acknowledged`);
  }

  #arm(): void {
    this.#timer = setTimeout(this.#sweep, Math.min(ACK_SWEEP_MS, this.#timeoutMs));
    this.#timer.unref();
  }

  #received(error: NatsError | null, message: Msg): void {
    if (error !== null) {
      // A subscription error (a permission denied on the inbox): nothing will be answered.
      const detail = error.message;
      this.failAll((id) => `the acknowledgement of event ${id} cannot be received: ${detail}`);

      return;
    }

    const reply = message.subject;
    const ack = this.#pending.get(reply);
    if (ack === undefined) return;

    this.#pending.delete(reply);
    const data = message.data;
    if (isStoredAck(data)) {
      ack.resolve();

      return;
    }

    const failure = this.#failure(ack, data, message.headers);
    if (failure === undefined) ack.resolve();
    else ack.reject(failure);
  }

  /**
   * The error an answer that is not a plain stored acknowledgement stands for; undefined when,
   * parsed in full, it is a stored one after all.
   */
  #failure(
    ack: PendingAck,
    data: Uint8Array,
    headers: MsgHdrs | undefined,
  ): PublishError | undefined {
    const what = `JetStream publish of event ${ack.eventId}`;
    if (data.length === 0 && headers?.code === 503) {
      return new PublishError(
        `${what}: no JetStream stream captures the subject ${JSON.stringify(ack.subject)} ` +
          '(NATS answered "no responders"), or JetStream is not ready',
        'retryable',
      );
    }

    let answer: unknown;
    try {
      answer = JSON.parse(Buffer.from(data.buffer, data.byteOffset, data.length).toString());
    } catch {
      answer = undefined;
    }
    const body = (answer ?? {}) as {
      stream?: unknown;
      error?: { code?: number; err_code?: number; description?: string };
    };
    const api = body.error;
    if (api !== undefined) {
      const description = api.description ?? 'no description';
      const codes = `code ${String(api.code)}, err_code ${String(api.err_code)}`;

      return new PublishError(
        `${what}: JetStream refused it: ${description} (${codes})`,
        apiErrorKind(api.code, description),
        { cause: api },
      );
    }

    if (typeof body.stream === 'string' && body.stream !== '') return undefined;

    const shown = headers?.code ? `status ${headers.code} ${headers.description}` : 'a reply';

    return new PublishError(
      `${what}: ${shown} that is not a JetStream acknowledgement`,
      'retryable',
    );
  }

  /** Rejects the publishes whose acknowledgement is overdue (the oldest come first). */
  #expire(): void {
    this.#timer = undefined;
    const now = performance.now();
    for (const [reply, ack] of this.#pending) {
      if (ack.deadline > now) break;

      this.#pending.delete(reply);
      ack.reject(
        new PublishError(
          `JetStream did not acknowledge event ${ack.eventId} within ${this.#timeoutMs} ms`,
          'retryable',
        ),
      );
    }

    if (this.#pending.size > 0) this.#arm();
  }
}
