// Imported: the global `performance` is a getter.
import { performance } from 'node:perf_hooks';
import type { Claim, OutboxStore } from '../store/contract.js';
import type { Deliveries } from './deliveries.js';
import type { ResolvedOptions } from './options.js';
import type { ClaimRoom } from './room.js';
import { ClaimRuns } from './runs.js';
import type { StoreWatch } from './store-watch.js';
import type { TypeGate } from './type-gate.js';
import type { Waker } from './waker.js';

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

/** The first delay before a failed store call is tried again, in milliseconds. */
export const STORE_RETRY_MIN_MS = 100;

/** The parts of the dispatcher the claim loops use. */
export interface ClaimLoopParts {
  options: ResolvedOptions;
  store: OutboxStore;
  room: ClaimRoom;
  waker: Waker;
  gate: TypeGate;
  watch: StoreWatch;
  deliveries: Deliveries;
  /** Aborted when the dispatcher stops: each loop then returns. */
  stopSignal: AbortSignal;
}

/** The dispatcher's claim loops and what each of them is doing. */
export class ClaimLoops {
  readonly #options: ResolvedOptions;
  readonly #store: OutboxStore;
  readonly #room: ClaimRoom;
  readonly #waker: Waker;
  readonly #gate: TypeGate;
  readonly #watch: StoreWatch;
  readonly #deliveries: Deliveries;
  readonly #stopSignal: AbortSignal;
  readonly #states: LoopState[] = [];

  constructor(parts: ClaimLoopParts) {
    this.#options = parts.options;
    this.#store = parts.store;
    this.#room = parts.room;
    this.#waker = parts.waker;
    this.#gate = parts.gate;
    this.#watch = parts.watch;
    this.#deliveries = parts.deliveries;
    this.#stopSignal = parts.stopSignal;
  }

  /** What the loops are doing: `claiming` if one of them is, else what the first one does. */
  get state(): LoopState {
    const states = this.#states;
    if (states.length === 0) return 'stopped';

    return states.includes('claiming') ? 'claiming' : (states[0] ?? 'stopped');
  }

  /** Marks a loop that ended with an error as stopped. */
  failed(index: number): void {
    this.#states[index] = 'stopped';
  }

  /** One claim loop; `claimers` of them run side by side, sharing the room. */
  async run(index: number): Promise<void> {
    const signal = this.#stopSignal;
    const { batchSize, idleMinMs, pollIntervalMs, storeRetryMaxMs } = this.#options;
    const perKey = this.#options.claimPerKey;
    const enter = (state: LoopState) => (this.#states[index] = state);
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
      this.#deliveries.accept(
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
}
