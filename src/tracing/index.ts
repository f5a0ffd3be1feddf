export { withTracing } from './traced-publisher.js';
export type { TracingOptions } from './traced-publisher.js';
export { formatTraceParent, parseTraceParent } from './traceparent.js';
export type { TraceParent } from './traceparent.js';
