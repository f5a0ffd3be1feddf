import type { OutboxEvent } from '../event.js';

/**
 * The store contract: everything the dispatcher, the CLI and the HTTP endpoint need from an
 * outbox, free of any database's types. PostgreSQL and SQLite implement it, and one conformance
 * suite (`test/store/conformance.ts`) checks both against the real databases.
 *
 * Every acknowledgement (`complete`, `fail`, `deadLetter`, `release`) carries the claim token.
 * A store applies it only to events that are still leased under that token; the others are
 * reported back as `refused` (their lease expired and someone else may own them now).
 */
export interface OutboxStore {
  /** A short name for logs and metrics: `postgres` or `sqlite`. */
  readonly kind: string;

  /** Applies the numbered migrations that are missing. Idempotent and safe to run concurrently. */
  migrate(): Promise<void>;

  /**
   * Claims up to `limit` available events under a new lease. A keyed event is handed out only
   * when no earlier event of its key is pending (leased, waiting for a retry, not yet available)
   * nor, under `hold`, dead, and never while another claim holds an event of its key. With
   * `perKey` above 1, a claim may hand out a run of a key: its free head and the key's following
   * pending events, consecutive in id order, all under this claim's lease (see
   * `ClaimOptions.perKey`). Two claims never hold events of one key at the same time.
   */
  claim(options: ClaimOptions): Promise<Claim>;

  /** Marks events delivered: deleted, or kept until the retention period ends. */
  complete(token: string, ids: readonly string[]): Promise<AckResult>;

  /**
   * Records failed attempts. Each event becomes available again at its `retryAt`, unless it has
   * used up the store's attempt limit, in which case it is dead-lettered with its error.
   */
  fail(token: string, failures: readonly FailedAttempt[]): Promise<AckResult>;

  /** Dead-letters events at once (a permanent failure, a payload that cannot be read). */
  deadLetter(token: string, items: readonly DeadLetterItem[]): Promise<AckResult>;

  /** Hands back claimed events that never started; their attempt is not counted. */
  release(token: string, ids: readonly string[]): Promise<AckResult>;

  /** Extends the lease of events still held under `token` by `leaseMs` from now. */
  extendLease(token: string, ids: readonly string[], leaseMs: number): Promise<AckResult>;

  /** Lists dead events, oldest first. */
  listDead(options?: ListDeadOptions): Promise<DeadEvent[]>;

  /** Makes dead events pending again with a fresh attempt count. Returns how many. */
  requeueDead(selection: DeadSelection): Promise<number>;

  /** Deletes delivered events older than the retention period, in bounded batches. */
  purgeDelivered(options?: PurgeOptions): Promise<number>;

  /**
   * Pauses or resumes delivery of one event type for every dispatcher sharing this outbox. Paused
   * events stay pending (they count in the figures and the lag) and `claim` skips them.
   */
  setPaused(type: string, paused: boolean): Promise<void>;

  /** The paused event types. */
  listPaused(): Promise<string[]>;

  /** Operator figures, cheap enough to read every few seconds. */
  stats(): Promise<OutboxStats>;

  /**
   * Calls `listener` when new events may be available (a notification from the database or an
   * insert through this process). Polling stays the safety net. Returns the unsubscribe function.
   */
  onWake(listener: () => void): () => void;

  /** Checks that the database answers; rejects with the reason otherwise. */
  ping(): Promise<void>;

  /** Closes connections and listeners. Idempotent. */
  close(): Promise<void>;
}

export interface ClaimOptions {
  /** The most events to claim. */
  limit: number;
  /** How long the lease lasts, in milliseconds. */
  leaseMs: number;
  /** Claim only these types (exact names), when given. */
  types?: readonly string[];
  /** Never claim these types (exact names): paused types stay pending. */
  excludeTypes?: readonly string[];
  /**
   * The most events of one ordering key this claim may hand out (default 1). They are the
   * key's next pending events, consecutive in id order, all under this claim's lease. A
   * consumer must publish them in id order and release the rest of a key's run when one of
   * them is not delivered.
   *
   * The claim picks free heads (and unkeyed events) in the same order as with 1, and after each
   * keyed head takes the key's following pending events, up to `perKey` in all, stopping at the
   * first one it may not take: not yet available, leased, of a type excluded, paused or not in
   * `types`, or behind a dead event under `hold`. It never skips an event of the key. `limit`
   * bounds the total; the events come back in id order. When a row of a run cannot be read (it
   * is dead-lettered and listed in `rejected`), the later events of its key in the claim are
   * handed back at once, their attempt not counted. An integer from 1 to `limit`.
   */
  perKey?: number;
}

export interface Claim {
  /** The claim token that every acknowledgement of these events must carry. */
  token: string;
  /** The claimed events, in id order. */
  events: OutboxEvent[];
  /** When the lease ends. */
  leaseExpiresAt: Date;
  /**
   * Rows that could not be read (invalid JSON, oversize payload, unknown shape): the store
   * dead-lettered them with the reason during the claim, so they never reach a publisher.
   */
  rejected: RejectedRow[];
}

export interface RejectedRow {
  id: string;
  reason: string;
}

export interface FailedAttempt {
  id: string;
  /** The error message of this attempt; it becomes the event's `lastError`. */
  error: string;
  /**
   * When the event may be tried again. When omitted, the store picks the time with exponential
   * backoff and full jitter (its `retryBaseMs` and `retryMaxMs` options).
   */
  retryAt?: Date;
}

export interface DeadLetterItem {
  id: string;
  reason: string;
}

export interface AckResult {
  /** Ids the store applied the acknowledgement to. */
  applied: string[];
  /** Ids refused because they are no longer leased under the token. */
  refused: string[];
  /** `fail` only: the applied ids that had used up their attempts and were dead-lettered. */
  deadLettered?: string[];
}

export interface DeadEvent extends OutboxEvent {
  /** When the event was dead-lettered. */
  deadAt: Date;
}

export interface ListDeadOptions {
  /** Only this type. */
  type?: string;
  /** The most rows to return. Default 100. */
  limit?: number;
  /** Only events with an id above this one (for paging). */
  afterId?: string;
}

/** Which dead events to requeue: by ids, by type, or all of them. */
export type DeadSelection = { ids: readonly string[] } | { type: string } | { all: true };

export interface PurgeOptions {
  /** Rows per `DELETE`. Default 1000. */
  batchSize?: number;
  /** Stop after this many batches (so one call stays short). Default: until done. */
  maxBatches?: number;
}

export interface TypeStats {
  /** Available now and not leased. */
  pending: number;
  /** Leased by a dispatcher (lease not expired). */
  inFlight: number;
  /** Pending but not available before a later time (retries, scheduled delivery). */
  scheduled: number;
  /** Dead-lettered. */
  dead: number;
  /** Age of the oldest pending event in milliseconds, or 0 when none is pending. */
  oldestPendingAgeMs: number;
}

export interface OutboxStats extends TypeStats {
  /** The same figures for each event type. */
  byType: Record<string, TypeStats>;
  /**
   * Ordering keys held back behind a dead event (`deadKeyPolicy: 'hold'`): keys with a dead
   * event and later pending ones. Requeue or skip the dead event to let them flow. Always 0
   * under `skip`.
   */
  heldKeys?: number;
}
