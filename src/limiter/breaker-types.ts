import type { Clock } from './clock.js';
import type { Classifier } from './outcome.js';

export type BreakerState = 'closed' | 'open' | 'half-open';

export interface CircuitBreakerOptions {
  /**
   * The breaker opens when failures / calls in the window is strictly above this ratio (0 to 1).
   * Default 0.5.
   */
  failureThreshold?: number;
  /**
   * Calls that must be recorded in the window before the failure rate can open the breaker, so
   * that one failure in a quiet window does not. Default 10.
   */
  minimumCalls?: number;
  /** The rolling window, milliseconds. Default 10_000. */
  windowMs?: number;
  /** How many time buckets the window is split into. Default 10. */
  buckets?: number;
  /**
   * Opens the breaker after this many failures in a row, whatever the volume (for destinations
   * with little traffic). Default: off.
   */
  consecutiveFailures?: number;
  /** How long the breaker stays open the first time, milliseconds. Default 5_000. */
  openMs?: number;
  /** Each reopening after failed probes multiplies the open time by this. Default 2. */
  backoffFactor?: number;
  /** The open time never exceeds this, milliseconds. Default 60_000. */
  maxOpenMs?: number;
  /** Calls let through while half-open; all must succeed to close. Default 1. */
  halfOpenProbes?: number;
  /**
   * If the probes have not all finished this long after the breaker turned half-open, it opens
   * again (a hung probe must not hold it half-open forever), milliseconds. Default 30_000.
   */
  halfOpenTimeoutMs?: number;
  /** How `execute()` counts a rejection. Default: `defaultClassify`. */
  classify?: Classifier;
  /** Time source. Default: the system clock. */
  clock?: Clock;
}

/** Why the breaker opened. */
export type OpenReason =
  'failure-rate' | 'consecutive-failures' | 'probe-failed' | 'probe-timeout' | 'manual';

export interface BreakerOpenedEvent {
  reason: OpenReason;
  /** Failures / calls in the window when it opened (0 to 1). */
  failureRate: number;
  failures: number;
  calls: number;
  consecutiveFailures: number;
  /** How long it stays open before probing, milliseconds. */
  openForMs: number;
}

export interface BreakerHalfOpenEvent {
  /** Probe calls it will let through. */
  probes: number;
}

export interface BreakerClosedEvent {
  reason: 'probes-succeeded' | 'manual';
  /** Probe calls that succeeded. */
  probes: number;
}

export interface BreakerEvents {
  'circuit-breaker:opened': [BreakerOpenedEvent];
  'circuit-breaker:half-open': [BreakerHalfOpenEvent];
  'circuit-breaker:closed': [BreakerClosedEvent];
}

export interface BreakerStats {
  state: BreakerState;
  /** Calls recorded in the rolling window. */
  calls: number;
  failures: number;
  /** failures / calls in the window, 0 when empty. */
  failureRate: number;
  consecutiveFailures: number;
  /** How many times it has opened since it was created. */
  timesOpened: number;
  /** Milliseconds until it lets a probe through (0 unless open). */
  retryAfterMs: number;
}

/** A permit from `acquire()`: 0 = refused, 1 = a normal call, 2 = a half-open probe. */
export type BreakerPermit = 0 | 1 | 2;
