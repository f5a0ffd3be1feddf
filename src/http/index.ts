export { startHttpServer } from './server.js';
export type { HttpServerHandle } from './server.js';
export type { HttpServerOptions } from './options.js';
export type { DispatcherSurface, DispatcherStatusView, LimiterView } from './surface.js';
export { METRICS, PUBLISH_DURATION_BUCKETS } from './metric-names.js';
export type { Readiness, CheckResult } from './readiness.js';
export type { Sample } from './samples.js';
export { HttpError, isHttpError } from './respond.js';
export type { SharedLimitView } from './shared-limits.js';
