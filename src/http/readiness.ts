import type { OutboxStore } from '../store/contract.js';
import type { Publisher } from '../publisher/contract.js';
import { redactSecrets } from './redact.js';
import { withTimeout } from './timeout.js';
import type { DispatcherSurface } from './surface.js';

/** One readiness check's outcome. */
export interface CheckResult {
  ok: boolean;
  /** Why it failed (secrets hidden), or what was seen. */
  detail?: string;
}

export interface Readiness {
  ready: boolean;
  checks: {
    store: CheckResult;
    publisher: CheckResult;
    breaker: CheckResult;
    dispatcher: CheckResult;
  };
  /** When the checks ran. */
  at: Date;
}

/**
 * The readiness probe: the database answers, the publisher's destination answers (when the
 * publisher can tell) and the breaker is not open. Results are kept for `cacheMs` so that
 * frequent probes do not hammer the database or the broker; concurrent probes share one run.
 */
export class ReadinessProbe {
  #last: Readiness | undefined;
  #running: Promise<Readiness> | undefined;

  constructor(
    private readonly options: {
      store: OutboxStore;
      publisher: Publisher | undefined;
      dispatcher: DispatcherSurface;
      cacheMs: number;
      timeoutMs: number;
    },
  ) {}

  check(): Promise<Readiness> {
    const last = this.#last;
    if (last && Date.now() - last.at.getTime() < this.options.cacheMs) {
      return Promise.resolve(this.#withBreaker(last));
    }

    this.#running ??= this.#run().finally(() => {
      this.#running = undefined;
    });

    return this.#running;
  }

  async #run(): Promise<Readiness> {
    const { store, publisher, timeoutMs } = this.options;
    const check = publisher?.check?.bind(publisher);
    const [storeResult, publisherResult] = await Promise.all([
      attempt(() => withTimeout(store.ping(), timeoutMs, 'the database did not answer')),
      check
        ? attempt(() => {
            const signal = AbortSignal.timeout(timeoutMs);

            return withTimeout(check(signal), timeoutMs, 'the publisher did not answer');
          })
        : Promise.resolve<CheckResult>({ ok: true, detail: 'no check offered' }),
    ]);
    const readiness = this.#withBreaker({
      ready: false,
      checks: {
        store: storeResult,
        publisher: publisherResult,
        breaker: { ok: true },
        dispatcher: { ok: true },
      },
      at: new Date(),
    });
    this.#last = readiness;

    return readiness;
  }

  /**
   * The breaker and the dispatcher's state are read live: it costs nothing and they may change
   * between cached checks. A dispatcher that is not running (starting, stopping) is not ready.
   */
  #withBreaker(readiness: Readiness): Readiness {
    const status = this.options.dispatcher.getStatus();
    const breaker = { ok: status.breaker.state !== 'open', detail: status.breaker.state };
    const dispatcher = { ok: status.state === 'running', detail: status.state };
    const { store, publisher } = readiness.checks;

    return {
      ready: store.ok && publisher.ok && breaker.ok && dispatcher.ok,
      checks: { store, publisher, breaker, dispatcher },
      at: readiness.at,
    };
  }
}

async function attempt(run: () => Promise<void>): Promise<CheckResult> {
  try {
    await run();

    return { ok: true };
  } catch (error) {
    return { ok: false, detail: redactSecrets(error) };
  }
}
