export { ConcurrencyLimiter } from './limiter.js';
export type {
  DrainResult,
  LimitChangedEvent,
  LimiterEvents,
  LimiterOptions,
  LimiterStats,
  OverflowPolicy,
  PerKeyOptions,
  RunAllOptions,
  RunOptions,
  TaskTimeoutEvent,
} from './limiter-types.js';
export { formatBytes } from './limiter-types.js';
export type { TaskContext } from './task.js';
export { CircuitBreaker } from './breaker.js';
export type {
  BreakerClosedEvent,
  BreakerEvents,
  BreakerHalfOpenEvent,
  BreakerOpenedEvent,
  BreakerPermit,
  BreakerState,
  BreakerStats,
  CircuitBreakerOptions,
  OpenReason,
} from './breaker-types.js';
export type { AdaptiveOptions, LatencyOptions, LimitChangeReason } from './adaptive.js';
export { defaultClassify } from './outcome.js';
export type { Classifier, Outcome } from './outcome.js';
export { ManualClock, systemClock } from './clock.js';
export type { Clock, TimerHandle } from './clock.js';
export type { Percentiles } from './histogram.js';
export { MemoryMonitor } from './memory-monitor.js';
export type { MemoryEvent, MemoryMonitorEvents, MemoryMonitorOptions } from './memory-monitor.js';
export type { HeapReading } from './heap.js';
export {
  AbortedError,
  CircuitOpenError,
  QueueFullError,
  ShuttingDownError,
  TaskTimeoutError,
  isAbortedError,
  isCircuitOpenError,
  isQueueFullError,
  isShuttingDownError,
  isTaskTimeoutError,
} from './errors.js';
