import mqtt from 'mqtt';
import type { IPublishPacket } from 'mqtt';
import { MqttPublisher } from '../../../src/publisher/index.js';
import type { ConformanceTarget, Received } from '../conformance.js';
import { RUN } from '../helpers.js';
import { restartMosquitto } from '../services.js';
import { decodeDelivered } from './decode.js';

export const URL = 'mqtt://127.0.0.1:1883';
export const prefix = `outbox-test/${RUN}`;
let consumers = 0;

function decode(packet: IPublishPacket): Received {
  const properties = packet.properties ?? {};
  const user = (properties.userProperties ?? {}) as Record<string, string | string[]>;
  const property = (name: string) => {
    const value = user[name];

    return Array.isArray(value) ? value[0] : value;
  };

  return decodeDelivered({
    body: Buffer.from(packet.payload).toString('utf8'),
    dedupId: property('id') ?? '',
    contentType: properties.contentType ?? '',
    tenant: property('x-tenant'),
    attribute: property,
  });
}

export const target: ConformanceTarget = {
  name: 'MQTT',
  cli: () => ({ url: URL, options: { mqtt: { topic: `${prefix}/{type}` } } }),
  dedup: false,
  publisher: (mode) =>
    new MqttPublisher(URL, {
      topic: `${prefix}/{type}`,
      cloudEvents: { mode, source: '/conformance' },
    }),
  publisherAt: (port) => new MqttPublisher(`mqtt://127.0.0.1:${port}`, { connectTimeoutMs: 500 }),
  // A persistent session (QoS 1, session expiry) so that the broker keeps what arrives while
  // the consumer reconnects after a restart.
  consume: async () => {
    consumers += 1;
    const client = await mqtt.connectAsync(URL, {
      protocolVersion: 5,
      clean: false,
      clientId: `outbox-test-${RUN}-${consumers}`,
      reconnectPeriod: 250,
      properties: { sessionExpiryInterval: 600 },
    });
    client.on('error', () => undefined);
    const received: Received[] = [];
    client.on('message', (_topic, _payload, packet) => received.push(decode(packet)));
    await client.subscribeAsync(`${prefix}/#`, { qos: 1 });

    return {
      received,
      close: async () => {
        await client.endAsync(false, { properties: { sessionExpiryInterval: 0 } });
      },
    };
  },
  restart: restartMosquitto,
  badRoutings: [
    {
      what: 'a topic with a wildcard',
      build: () => new MqttPublisher(URL, { topic: 'outbox/#' }),
    },
    {
      what: 'a route to a $SYS topic',
      build: () => new MqttPublisher(URL, { routes: { 'order.*': '$SYS/orders' } }),
    },
    {
      what: 'a topic with an unknown placeholder',
      build: () => new MqttPublisher(URL, { topic: 'outbox/{tenant}' }),
    },
  ],
};
