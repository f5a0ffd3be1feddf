import { getHeapStatistics } from 'node:v8';

export interface HeapReading {
  /** Bytes of JavaScript heap in use. */
  used: number;
  /** Bytes of JavaScript heap allocated. */
  total: number;
  /** The most the heap may grow to, bytes (`--max-old-space-size`). */
  limit: number;
}

let heapLimit = 0;

/** Reads the heap figures of this process. */
export function readHeap(): HeapReading {
  const usage = process.memoryUsage();
  if (heapLimit === 0) heapLimit = getHeapStatistics().heap_size_limit;

  return { used: usage.heapUsed, total: usage.heapTotal, limit: heapLimit };
}
