import amqp from 'amqplib';
import type { ConsumeMessage, Message } from 'amqplib';
import { AmqpPublisher } from '../../../src/publisher/index.js';
import type { ConformanceTarget, Received } from '../conformance.js';
import { RUN } from '../helpers.js';
import { restartRabbitmq } from '../services.js';
import { decodeDelivered } from './decode.js';

export const URL = 'amqp://guest:guest@127.0.0.1:5672';
export const exchange = `outbox-test-${RUN}`;
export const queue = `outbox-test-${RUN}`;
export const fanout = `outbox-test-fanout-${RUN}`;
export const lonely = `outbox-test-lonely-${RUN}`;

function decode(message: Message): Received {
  const { properties } = message;
  const headers = (properties.headers ?? {}) as Record<string, unknown>;
  const header = (name: string) => {
    const value = headers[name];

    return value === undefined ? undefined : String(value);
  };

  return decodeDelivered({
    body: message.content.toString('utf8'),
    dedupId: String(properties.messageId),
    contentType: String(properties.contentType),
    tenant: header('x-tenant'),
    attribute: (name) => header(`cloudEvents:${name}`),
  });
}

async function admin<T>(work: (channel: amqp.Channel) => Promise<T>): Promise<T> {
  const connection = await amqp.connect(URL);
  try {
    const channel = await connection.createChannel();

    return await work(channel);
  } finally {
    await connection.close();
  }
}

export const target: ConformanceTarget = {
  name: 'RabbitMQ',
  cli: () => ({ url: URL, options: { amqp: { exchange } } }),
  dedup: false,
  setup: () =>
    admin(async (channel) => {
      await channel.assertExchange(exchange, 'topic', { durable: true });
      await channel.assertQueue(queue, { durable: true });
      await channel.bindQueue(queue, exchange, '#');
      await channel.assertExchange(fanout, 'fanout', { durable: false, autoDelete: false });
    }),
  teardown: () =>
    admin(async (channel) => {
      await channel.deleteQueue(queue);
      await channel.deleteExchange(exchange);
      await channel.deleteExchange(fanout);
      await channel.deleteExchange(lonely);
    }),
  publisher: (mode) =>
    new AmqpPublisher(URL, { exchange, cloudEvents: { mode, source: '/conformance' } }),
  publisherAt: (port) =>
    new AmqpPublisher(`amqp://guest:guest@127.0.0.1:${port}`, { connectTimeoutMs: 500 }),
  consume: async () => {
    const connection = await amqp.connect(URL);
    connection.on('error', () => undefined);
    const channel = await connection.createChannel();
    channel.on('error', () => undefined);
    const received: Received[] = [];
    await channel.consume(queue, (message: ConsumeMessage | null) => {
      if (message === null) return;
      received.push(decode(message));
      channel.ack(message);
    });

    return {
      received,
      close: async () => {
        await connection.close().catch(() => undefined);
      },
    };
  },
  stored: () =>
    admin(async (channel) => {
      const messages: Received[] = [];
      for (;;) {
        const message = await channel.get(queue, { noAck: true });
        if (message === false) return messages;
        messages.push(decode(message));
      }
    }),
  restart: restartRabbitmq,
  badRoutings: [
    {
      what: 'an exchange that does not exist, when exchanges are only checked',
      build: () => new AmqpPublisher(URL, { exchange: `missing-${RUN}`, declareExchanges: false }),
    },
    {
      what: 'a route to an exchange of another type',
      build: () => new AmqpPublisher(URL, { exchange, routes: { 'order.*': fanout } }),
    },
    {
      what: 'a routing key with an unknown placeholder',
      build: () => new AmqpPublisher(URL, { routingKey: '{tenant}.{type}' }),
    },
  ],
};
