import { PublishError, isPublishError } from './contract.js';
import type { PublishFailureKind } from './contract.js';
import { redactText } from './redact.js';

/**
 * Turns any throwable into a `PublishError` once, at the publisher's boundary. A `PublishError`
 * passes through unchanged; anything else becomes `kind` (retryable unless said otherwise), with
 * the original kept as `cause` and any credentials scrubbed from the message.
 */
export function toPublishError(
  error: unknown,
  context: string,
  kind: PublishFailureKind = 'retryable',
): PublishError {
  if (isPublishError(error)) return error;

  const detail = error instanceof Error ? error.message : String(error);

  return new PublishError(redactText(`${context}: ${detail}`), kind, { cause: error });
}

/** The retryable error a publish rejects with when its signal aborts. */
export function abortedError(signal: AbortSignal, context: string): PublishError {
  const reason: unknown = signal.reason;
  const detail =
    reason instanceof Error && reason.name === 'TimeoutError' ? 'timed out' : 'was aborted';

  return new PublishError(`${context} ${detail} before it was confirmed`, 'retryable', {
    cause: reason,
  });
}

/**
 * Waits for `promise`, but rejects at once with a retryable `PublishError` when `signal` aborts.
 * The work behind `promise` is not cancelled (a broker may still confirm it later): the event is
 * simply not counted as delivered, and will be published again.
 */
export function raceSignal<T>(promise: Promise<T>, signal: AbortSignal, context: string) {
  if (signal.aborted) {
    promise.catch(() => undefined);

    return Promise.reject(abortedError(signal, context));
  }

  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(abortedError(signal, context));
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error);
      },
    );
  });
}

/** A publish attempted after `close()`: retryable, since another process may deliver it. */
export function closedError(name: string): PublishError {
  return new PublishError(`the ${name} publisher is closed`, 'retryable');
}
