export { StdoutPublisher } from './stdout.js';
export type { StdoutPublisherOptions } from './stdout.js';
export { HttpPublisher, classifyStatus, parseRetryAfter } from './http.js';
export type { HttpPublisherOptions } from './http.js';
export {
  SIGNATURE_HEADER,
  DEFAULT_TOLERANCE_SECONDS,
  computeSignature,
  signatureHeader,
  verifyWebhookSignature,
} from './signature.js';
export type { VerifyWebhookOptions } from './signature.js';
export { encodeCloudEvent, DEFAULT_SOURCE, STRUCTURED_CONTENT_TYPE } from './cloudevents.js';
export type {
  CloudEventAttributes,
  CloudEventsMode,
  CloudEventsOptions,
  EncodedCloudEvent,
} from './cloudevents.js';
export type { RouteMap } from './routing.js';
export type { TlsOptions } from './options.js';
export { redactUrl } from './redact.js';
export { toPublishError } from './errors.js';
export { createPublisher, PUBLISHER_SCHEMES } from './factory.js';
export type { CreatePublisherOptions } from './factory.js';
