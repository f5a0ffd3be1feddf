import type { OutboxEvent } from '../../src/event.js';

let counter = 0;

/** A unique prefix per test process, so ids never collide with an earlier run's. */
export const RUN = `${process.pid.toString(36)}${Date.now().toString(36)}`;

export function makeEvent(overrides: Partial<OutboxEvent> = {}): OutboxEvent {
  counter += 1;
  const now = new Date();

  return {
    id: `${RUN}-${counter}`,
    type: 'order.created',
    key: null,
    payload: { orderId: 1 },
    headers: {},
    createdAt: now,
    availableAt: now,
    attempts: 1,
    lastError: null,
    ...overrides,
  };
}

/** A signal for one publish: aborts after `ms` (default 10 s) so a hung test fails. */
export function signal(ms = 10_000): AbortSignal {
  return AbortSignal.timeout(ms);
}
