/**
 * The event as it travels from the outbox to a publisher. Stores build it from their rows; the
 * dispatcher and the publishers only ever see this shape, never a database row.
 */
export interface OutboxEvent {
  /** The row's increasing id, as a decimal string (a PostgreSQL `bigint` may exceed 2^53). */
  readonly id: string;
  /** The event type, used for routing (`order.created`). */
  readonly type: string;
  /** The ordering key (an aggregate id, a tenant), or `null` when the event is not ordered. */
  readonly key: string | null;
  /** The parsed JSON payload. */
  readonly payload: unknown;
  /** String headers such as `content-type` or `traceparent`. */
  readonly headers: Readonly<Record<string, string>>;
  /** When the producer wrote the event. */
  readonly createdAt: Date;
  /** When the event becomes (or became) available for delivery. */
  readonly availableAt: Date;
  /** How many times the event has been claimed, this claim included. */
  readonly attempts: number;
  /** The error of the previous failed attempt, if any. */
  readonly lastError: string | null;
}

/** What a producer writes: only `type` and `payload` are required. */
export interface NewOutboxEvent {
  /** The event type, used for routing. */
  type: string;
  /** Any JSON-serialisable value. */
  payload: unknown;
  /** The ordering key; events with the same key are delivered one at a time, in id order. */
  key?: string | null;
  /** String headers carried to the published message (`traceparent`, `content-type`). */
  headers?: Record<string, string>;
  /** Deliver no earlier than this time (scheduled delivery). Default: now. */
  availableAt?: Date;
}
