/**
 * In-process wake-ups: an `enqueue` through this process tells the stores of the same outbox
 * that new events may be waiting, without a database round trip. Keys name an outbox
 * (`sqlite:/abs/file.db#outbox`, `postgres:public.outbox`); a spurious wake costs one claim.
 */
type Listener = () => void;

const listeners = new Map<string, Set<Listener>>();

export function subscribeWake(key: string, listener: Listener): () => void {
  let set = listeners.get(key);
  if (set === undefined) {
    set = new Set();
    listeners.set(key, set);
  }

  set.add(listener);

  return () => {
    const current = listeners.get(key);
    if (current === undefined) return;

    current.delete(listener);
    if (current.size === 0) listeners.delete(key);
  };
}

/** Calls the listeners of `key` on the next turn of the event loop (after a sync commit). */
export function wake(key: string): void {
  const set = listeners.get(key);
  if (set === undefined || set.size === 0) return;

  setImmediate(() => {
    for (const listener of [...set]) callSafely(listener);
  });
}

/** Calls a listener; a listener that throws never stops the others. */
export function callSafely(listener: Listener): void {
  try {
    listener();
  } catch {
    // A wake listener's failure is its own; the store has nowhere to report it.
  }
}
