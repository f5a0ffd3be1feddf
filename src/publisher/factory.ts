import type { Publisher } from './contract.js';
import { resolveCloudEventsOptions } from './cloudevents.js';
import type { CloudEventsOptions } from './cloudevents.js';
import { AmqpPublisher } from './amqp.js';
import type { AmqpPublisherOptions } from './amqp.js';
import { HttpPublisher } from './http.js';
import type { HttpPublisherOptions } from './http.js';
import { MqttPublisher } from './mqtt.js';
import type { MqttPublisherOptions } from './mqtt.js';
import { NatsPublisher } from './nats.js';
import type { NatsPublisherOptions } from './nats.js';
import { redactUrl } from './redact.js';
import { RedisPublisher } from './redis.js';
import type { RedisPublisherOptions } from './redis.js';
import { StdoutPublisher } from './stdout.js';
import type { StdoutPublisherOptions } from './stdout.js';

/**
 * Options of `createPublisher`: the CloudEvents settings shared by every destination, and one
 * section per destination (only the section of the URL's scheme is read).
 */
export interface CreatePublisherOptions {
  /** CloudEvents source and content mode, for every destination. */
  cloudEvents?: CloudEventsOptions;
  /** For `stdout:`. */
  stdout?: Omit<StdoutPublisherOptions, 'cloudEvents'>;
  /** For `http:` and `https:` webhooks. */
  http?: Omit<HttpPublisherOptions, 'cloudEvents'>;
  /** For `amqp:` and `amqps:` (RabbitMQ). */
  amqp?: Omit<AmqpPublisherOptions, 'cloudEvents'>;
  /** For `nats:` (JetStream). */
  nats?: Omit<NatsPublisherOptions, 'cloudEvents'>;
  /** For `redis:` and `rediss:` streams. */
  redis?: Omit<RedisPublisherOptions, 'cloudEvents'>;
  /** For `mqtt:` and `mqtts:` (MQTT 5). */
  mqtt?: Omit<MqttPublisherOptions, 'cloudEvents'>;
}

/** The URL schemes `createPublisher` understands. */
export const PUBLISHER_SCHEMES = [
  'stdout:',
  'http:',
  'https:',
  'amqp:',
  'amqps:',
  'nats:',
  'redis:',
  'rediss:',
  'mqtt:',
  'mqtts:',
] as const;

function parse(url: string): URL {
  try {
    return new URL(url);
  } catch {
    throw new TypeError(
      `the publisher URL must be a URL such as stdout: or https://host/hook, got ` +
        JSON.stringify(redactUrl(url)),
    );
  }
}

/**
 * Builds the publisher a URL names, by its scheme: `stdout:`, `http(s)://`, `amqp(s)://`,
 * `nats://`, `redis(s)://`, `mqtt(s)://`. Throws a TypeError for an unknown scheme or a bad
 * option (a routing mapping that cannot work, say); the publisher connects on first use, or
 * at `check()`, which also checks the routes against the broker.
 */
export function createPublisher(url: string, options: CreatePublisherOptions = {}): Publisher {
  const parsed = parse(url);
  const cloudEvents = options.cloudEvents;
  resolveCloudEventsOptions(cloudEvents);
  switch (parsed.protocol) {
    case 'stdout:':
      return new StdoutPublisher({ ...options.stdout, cloudEvents });
    case 'http:':
    case 'https:':
      return new HttpPublisher(parsed, { ...options.http, cloudEvents });
    case 'amqp:':
    case 'amqps:':
      return new AmqpPublisher(parsed, { ...options.amqp, cloudEvents });
    case 'nats:':
      return new NatsPublisher(parsed, { ...options.nats, cloudEvents });
    case 'redis:':
    case 'rediss:':
      return new RedisPublisher(parsed, { ...options.redis, cloudEvents });
    case 'mqtt:':
    case 'mqtts:':
      return new MqttPublisher(parsed, { ...options.mqtt, cloudEvents });
    default:
      throw new TypeError(
        `the publisher URL ${redactUrl(parsed)} has the unknown scheme ${parsed.protocol}: ` +
          `expected one of ${PUBLISHER_SCHEMES.join(', ')}`,
      );
  }
}

/**
 * `createPublisher`, then `check()`: connects and checks the routes against the destination
 * (exchanges exist, a stream captures each subject, a key is a stream), so that a mapping that
 * cannot work fails at start-up. Closes the publisher when the check fails.
 */
export async function openPublisher(
  url: string,
  options: CreatePublisherOptions = {},
  signal?: AbortSignal,
): Promise<Publisher> {
  const publisher = createPublisher(url, options);
  try {
    await publisher.check?.(signal);
  } catch (error) {
    await publisher.close().catch(() => undefined);
    throw error;
  }

  return publisher;
}
