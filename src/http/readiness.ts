import type { OutboxStore } from '../store/contract.js';
import type { Publisher } from '../publisher/contract.js';
import { redactSecrets } from './redact.js';
import type { DispatcherSurface } from './surface.js';

/** One readiness check's outcome. */
export interface CheckResult {
  ok: boolean;
  /** Why it failed (secrets hidden), or what was seen. */
  detail?: string;
}

export interface Readiness {
  ready: boolean;
  checks: { store: CheckResult; publisher: CheckResult; breaker: CheckResult };
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
      checks: { store: storeResult, publisher: publisherResult, breaker: { ok: true } },
      at: new Date(),
    });
    this.#last = readiness;

    return readiness;
  }

  /** The breaker is read live: it costs nothing and may change between cached checks. */
  #withBreaker(readiness: Readiness): Readiness {
    const state = this.options.dispatcher.getStatus().breaker.state;
    const breaker = { ok: state !== 'open', detail: state };
    const { store, publisher } = readiness.checks;

    return {
      ready: store.ok && publisher.ok && breaker.ok,
      checks: { store, publisher, breaker },
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

async function withTimeout(promise: Promise<void>, ms: number, message: string): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${message} within ${ms} ms`)), ms);
  });
  try {
    await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
