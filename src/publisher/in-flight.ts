import type { PublishFailureKind, PublishOptions } from './contract.js';
import { abortedError, toPublishError } from './errors.js';

/**
 * Milliseconds a publish runs before it reads its caller's signal: one confirmed sooner never
 * reads it, so a signal created on first read (the limiter's task context) is never created for
 * it. From then on an abort rejects the publish at once; an abort in its first moments is
 * noticed between 100 and 200 ms after the publish started. A signal that is a plain property
 * and already aborted is seen at once (see `abortedNow`).
 */
export const SIGNAL_WATCH_DELAY_MS = 100;

/**
 * The caller's signal when it is already aborted and held as an own property of the options
 * (`{ signal }`: reading it creates nothing), else undefined. A signal behind a getter of the
 * options' prototype, like the limiter's task context, which creates it on first read, is not
 * read here (the limiter never starts a task whose signal aborted).
 */
export function abortedNow(options: PublishOptions): AbortSignal | undefined {
  if (!Object.hasOwn(options, 'signal')) return undefined;

  const signal = options.signal;

  return signal.aborted ? signal : undefined;
}

/**
 * One publish in flight: a node of the list of those whose signal is not read yet, then the
 * abort listener on that signal (an object with `handleEvent`, so no closure per publish).
 */
export class Ticket {
  prev: Ticket | null = null;
  next: Ticket | null = null;
  /** The sweep round it started in. */
  readonly round: number;
  readonly options: PublishOptions;
  readonly onAbort: (signal: AbortSignal) => void;
  /** Set once the signal is read and listened to. */
  signal: AbortSignal | undefined = undefined;
  listed = true;

  constructor(options: PublishOptions, onAbort: (signal: AbortSignal) => void, round: number) {
    this.options = options;
    this.onAbort = onAbort;
    this.round = round;
  }

  handleEvent(): void {
    this.onAbort(this.signal!);
  }
}

/**
 * The publishes a publisher has sent and not yet seen settle. Each one is tied to its caller's
 * signal (`start`/`finish`, or `track` for a promise); `drain` lets `close()` wait for the
 * outstanding confirmations. This is on the hot path: hundreds run at once, so a publish costs
 * one small object, and the signal is read by one timer sweep rather than per publish.
 */
export class InFlight {
  #count = 0;
  #waiters: Array<() => void> = [];
  /** Publishes whose signal is not read yet, oldest first. */
  #head: Ticket | null = null;
  #tail: Ticket | null = null;
  #round = 0;
  #timer: NodeJS.Timeout | undefined;
  readonly #sweep = () => this.#watchOld();

  get size(): number {
    return this.#count;
  }

  /**
   * Counts one publish as in flight until `finish(ticket)`. `onAbort` runs (once) if the
   * caller's signal aborts before then: at once when it is seen aborted, else from its listener.
   * The signal is only read once the publish has run `SIGNAL_WATCH_DELAY_MS`.
   */
  start(options: PublishOptions, onAbort: (signal: AbortSignal) => void): Ticket {
    this.#count += 1;
    const ticket = new Ticket(options, onAbort, this.#round);
    const aborted = abortedNow(options);
    if (aborted !== undefined) {
      ticket.listed = false;
      onAbort(aborted);

      return ticket;
    }

    const tail = this.#tail;
    if (tail === null) this.#head = ticket;
    else {
      tail.next = ticket;
      ticket.prev = tail;
    }
    this.#tail = ticket;
    if (this.#timer === undefined) {
      this.#timer = setTimeout(this.#sweep, SIGNAL_WATCH_DELAY_MS);
      this.#timer.unref();
    }

    return ticket;
  }

  /** The publish of `ticket` settled (confirmed or failed). Call it once. */
  finish(ticket: Ticket): void {
    if (ticket.listed) this.#unlist(ticket);
    else ticket.signal?.removeEventListener('abort', ticket);
    this.#settled();
  }

  /**
   * Resolves with `work`, or rejects with a retryable error when the caller's signal aborts
   * first. When `work` fails, its error becomes a `PublishError` (see `toPublishError`) of the
   * kind `classify` gives, retryable without it. The work keeps counting as in flight until it
   * settles, even after an abort: the broker may still confirm it.
   */
  track<T>(
    work: Promise<T>,
    options: PublishOptions,
    context: () => string,
    classify?: (error: unknown) => PublishFailureKind,
  ): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const ticket = this.start(options, (signal) => reject(abortedError(signal, context())));
      work.then(
        (value) => {
          this.finish(ticket);
          resolve(value);
        },
        (error: unknown) => {
          this.finish(ticket);
          const kind = classify === undefined ? 'retryable' : classify(error);
          reject(toPublishError(error, context(), kind));
        },
      );
    });
  }

  #unlist(ticket: Ticket): void {
    ticket.listed = false;
    const { prev, next } = ticket;
    if (prev === null) this.#head = next;
    else prev.next = next;
    if (next === null) this.#tail = prev;
    else next.prev = prev;
    ticket.prev = null;
    ticket.next = null;
  }

  /** Reads the signal of every publish that started before the last sweep. */
  #watchOld(): void {
    this.#timer = undefined;
    const round = this.#round;
    this.#round += 1;
    for (let ticket = this.#head; ticket !== null && ticket.round < round;) {
      const next = ticket.next;
      this.#unlist(ticket);
      const signal = ticket.options.signal;
      ticket.signal = signal;
      if (signal.aborted) ticket.onAbort(signal);
      else signal.addEventListener('abort', ticket, { once: true });
      ticket = next;
    }

    if (this.#head !== null) {
      this.#timer = setTimeout(this.#sweep, SIGNAL_WATCH_DELAY_MS);
      this.#timer.unref();
    }
  }

  #settled(): void {
    this.#count -= 1;
    if (this.#count > 0) return;

    const waiters = this.#waiters;
    this.#waiters = [];
    for (const wake of waiters) wake();
  }

  /** Waits until nothing is in flight, or `ms` passed. */
  async drain(ms: number): Promise<void> {
    if (this.#count === 0) return;

    let timer: NodeJS.Timeout | undefined;
    await new Promise<void>((resolve) => {
      this.#waiters.push(resolve);
      timer = setTimeout(resolve, ms);
    });
    clearTimeout(timer);
  }
}
