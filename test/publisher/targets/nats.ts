import { DeliverPolicy, connect } from 'nats';
import type { JsMsg, NatsConnection } from 'nats';
import { NatsPublisher } from '../../../src/publisher/index.js';
import type { ConformanceTarget, Received } from '../conformance.js';
import { RUN } from '../helpers.js';
import { restartNats } from '../services.js';
import { decodeDelivered } from './decode.js';

export const URL = 'nats://127.0.0.1:4222';
export const stream = `OUTBOX_TEST_${RUN}`;
export const prefix = `outboxtest.${RUN}`;

function decode(message: JsMsg): Received {
  const header = (name: string) => message.headers?.get(name) || undefined;

  return decodeDelivered({
    body: Buffer.from(message.data).toString('utf8'),
    dedupId: header('Nats-Msg-Id') ?? '',
    contentType: header('content-type') ?? '',
    tenant: header('x-tenant'),
    attribute: (name) => header(`ce-${name}`),
  });
}

async function admin<T>(work: (connection: NatsConnection) => Promise<T>): Promise<T> {
  const connection = await connect({ servers: '127.0.0.1:4222' });
  try {
    return await work(connection);
  } finally {
    await connection.close();
  }
}

export const target: ConformanceTarget = {
  name: 'NATS JetStream',
  cli: () => ({ url: URL, options: { nats: { subject: `${prefix}.{type}` } } }),
  dedup: true,
  setup: () =>
    admin(async (connection) => {
      const manager = await connection.jetstreamManager();
      await manager.streams.add({ name: stream, subjects: [`${prefix}.>`] });
    }),
  teardown: () =>
    admin(async (connection) => {
      const manager = await connection.jetstreamManager();
      await manager.streams.delete(stream);
    }),
  publisher: (mode) =>
    new NatsPublisher(URL, {
      subject: `${prefix}.{type}`,
      cloudEvents: { mode, source: '/conformance' },
    }),
  publisherAt: (port) => new NatsPublisher(`nats://127.0.0.1:${port}`, { connectTimeoutMs: 500 }),
  consume: async () => {
    // An ordered JetStream consumer from the stream's next message: it sees what the stream
    // kept, so a duplicate the stream dropped never shows up.
    const connection = await connect({
      servers: '127.0.0.1:4222',
      maxReconnectAttempts: -1,
      reconnectTimeWait: 250,
    });
    const manager = await connection.jetstreamManager();
    const last = (await manager.streams.info(stream)).state.last_seq;
    const consumer = await connection.jetstream().consumers.get(stream, {
      deliver_policy: DeliverPolicy.StartSequence,
      opt_start_seq: last + 1,
    });
    const received: Received[] = [];
    const messages = await consumer.consume();
    void (async () => {
      for await (const message of messages) received.push(decode(message));
    })().catch(() => undefined);

    return {
      received,
      close: async () => {
        await messages.close().catch(() => undefined);
        await connection.close();
      },
    };
  },
  stored: () =>
    admin(async (connection) => {
      const manager = await connection.jetstreamManager();
      const total = (await manager.streams.info(stream)).state.messages;
      const consumer = await connection.jetstream().consumers.get(stream);
      const messages: Received[] = [];
      const iterator = await consumer.consume();
      for await (const message of iterator) {
        messages.push(decode(message));
        if (messages.length >= total) break;
      }

      return messages;
    }),
  restart: restartNats,
  badRoutings: [
    {
      what: 'a subject no stream captures',
      build: () => new NatsPublisher(URL, { subject: `nostream.${RUN}.{type}` }),
    },
    {
      what: 'a route that no stream captures',
      build: () =>
        new NatsPublisher(URL, {
          subject: `${prefix}.{type}`,
          routes: { 'order.*': `elsewhere.${RUN}.{type}` },
        }),
    },
    {
      what: 'a subject with a wildcard',
      build: () => new NatsPublisher(URL, { subject: `${prefix}.*` }),
    },
    {
      what: 'a subject with an unknown placeholder',
      build: () => new NatsPublisher(URL, { subject: `${prefix}.{tenant}` }),
    },
  ],
};
