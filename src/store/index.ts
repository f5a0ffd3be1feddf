export { PostgresStore, type PostgresStoreOptions } from './postgres/store.js';
export { SqliteStore, type SqliteStoreOptions } from './sqlite/store.js';
export { createStore, type CreateStoreOptions } from './create.js';
export {
  enqueue,
  enqueueMany,
  enqueueSync,
  type EnqueueOptions,
  type OutboxExecutor,
  type QueryExecutor,
} from './enqueue.js';
export { migrate } from './migrate.js';
export {
  StoreUnavailableError,
  isStoreUnavailableError,
  InvalidEventError,
  isInvalidEventError,
} from './errors.js';
export { backoffDelay, type CommonStoreOptions, type DeadKeyPolicy } from './options.js';
