export type { OutboxEvent, NewOutboxEvent } from './event.js';
export type * from './store/contract.js';
export type { Publisher, PublishOptions, PublishFailureKind } from './publisher/contract.js';
export { PublishError, isPublishError } from './publisher/contract.js';
export * from './publisher/index.js';
export * from './store/index.js';
export * from './limiter/index.js';
