export { OutboxDispatcher } from './dispatcher.js';
export type { LoopState } from './dispatcher.js';
export type { DispatcherOptions } from './options.js';
export type {
  BatchDonePayload,
  DeadPayload,
  DeliveredPayload,
  DispatcherCounters,
  DispatcherEventMap,
  DispatcherState,
  DispatcherStatus,
  EventOutcome,
  RetryPayload,
} from './events.js';
export { RetryPolicy } from './retry-policy.js';
export type { RetryDecision, RetryPolicyOptions } from './retry-policy.js';
export { TypeGate } from './type-gate.js';
export { toFailure, classifyForLimiter } from './classify.js';
export type { Failure } from './classify.js';
