/** `migrate`: applies the outbox migrations of a store, or of the store a URL names. */
import type { OutboxStore } from './contract.js';
import { createStore, type CreateStoreOptions } from './create.js';

/**
 * Applies the missing migrations. Given a store, migrates it; given a URL, opens the store it
 * names, migrates and closes it. Idempotent, and safe to run from several processes at once.
 */
export async function migrate(
  target: OutboxStore | string,
  options: CreateStoreOptions = {},
): Promise<void> {
  if (typeof target !== 'string') {
    await target.migrate();

    return;
  }

  const store = createStore(target, { ...options, notify: false });
  try {
    await store.migrate();
  } finally {
    await store.close();
  }
}
