export { GlobalConcurrencyLimit } from './global-concurrency.js';
export type { GlobalConcurrencyOptions, Permit } from './global-concurrency.js';
export { GlobalRateLimit } from './global-rate.js';
export type { GlobalRateOptions } from './global-rate.js';
export { withGlobalLimits } from './limited-publisher.js';
export type { GlobalLimitsOptions, LimitedPublisher, SharedLimits } from './limited-publisher.js';
export type { CoordinationEvents, SharedLimitKind } from './events.js';
export type { RedisSource } from './redis-connection.js';
