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
export { toPublishError } from './errors.js';
export { AmqpPublisher } from './amqp.js';
export type { AmqpPublisherOptions, AmqpRoute } from './amqp.js';
export { NatsPublisher } from './nats.js';
export type { NatsPublisherOptions } from './nats.js';
export { RedisPublisher } from './redis.js';
export type { RedisPublisherOptions } from './redis.js';
export { MqttPublisher } from './mqtt.js';
export type { MqttPublisherOptions } from './mqtt.js';
export { createPublisher, openPublisher, PUBLISHER_SCHEMES } from './factory.js';
export type { CreatePublisherOptions } from './factory.js';
