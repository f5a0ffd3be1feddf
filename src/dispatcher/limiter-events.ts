import type { Logger } from 'pino';
import type { ConcurrencyLimiter, MemoryMonitor } from '../limiter/index.js';
import type { Emit } from './events.js';

/**
 * Passes the breaker's changes and the memory monitor's warning on to the dispatcher's log and
 * listeners: the limiter only emits events, the dispatcher decides what to log.
 */
export function relayLimiterEvents(
  limiter: ConcurrencyLimiter,
  memory: MemoryMonitor,
  logger: Logger,
  emit: Emit,
): void {
  limiter.on('circuit-breaker:opened', (payload) => {
    logger.warn({ ...payload }, 'circuit breaker opened: claiming paused');
    emit('circuit-breaker:opened', payload);
  });
  limiter.on('circuit-breaker:half-open', (payload) => {
    logger.info({ ...payload }, 'circuit breaker half-open: probing');
    emit('circuit-breaker:half-open', payload);
  });
  limiter.on('circuit-breaker:closed', (payload) => {
    logger.info({ ...payload }, 'circuit breaker closed: claiming resumed');
    emit('circuit-breaker:closed', payload);
  });
  memory.on('memory:high', (payload) => {
    logger.warn(
      { heapUsed: payload.heapUsed, heapLimit: payload.heapLimit, ratio: payload.ratio },
      'heap use above the threshold',
    );
    emit('memory:high', payload);
  });
}
