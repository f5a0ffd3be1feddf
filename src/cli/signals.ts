import { EXIT } from './errors.js';

/**
 * Resolves at the first SIGINT or SIGTERM so that the caller can stop gracefully; a second
 * signal during that stop exits at once with code 130. Returns the promise and a function that
 * removes the handlers.
 */
export function onStopSignal(onFirst: (signal: NodeJS.Signals) => void): () => void {
  let received = 0;
  const handler = (signal: NodeJS.Signals) => {
    received += 1;
    if (received === 1) {
      onFirst(signal);

      return;
    }

    process.stderr.write(`outbox: ${signal} again, exiting without waiting\n`);
    process.exit(EXIT.forced);
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);

  return () => {
    process.off('SIGINT', handler);
    process.off('SIGTERM', handler);
  };
}

/** Resolves at the first SIGINT or SIGTERM (a second one forces the exit). */
export function untilStopSignal(): { signal: Promise<NodeJS.Signals>; dispose: () => void } {
  let dispose = () => undefined as void;
  const signal = new Promise<NodeJS.Signals>((resolve) => {
    dispose = onStopSignal(resolve);
  });

  return { signal, dispose: () => dispose() };
}
