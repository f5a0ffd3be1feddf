// The NATS publisher's own acknowledgement handling (JetStreamAcks), against the real server:
// what settles a publish, what fails it and how, and what a lost connection does to it.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, connect as connectTcp } from 'node:net';
import type { AddressInfo, Server, Socket } from 'node:net';
import { DiscardPolicy, connect } from 'nats';
import type { NatsConnection, StreamConfig } from 'nats';
import { NatsPublisher } from '../../src/publisher/index.js';
import type { NatsPublisherOptions } from '../../src/publisher/index.js';
import { isPublishError } from '../../src/publisher/contract.js';
import type { PublishError } from '../../src/publisher/contract.js';
import { makeEvent, RUN, signal } from './helpers.js';

const URL = 'nats://127.0.0.1:4222';
const prefix = `outboxacks.${RUN}`;
let admin: NatsConnection;
let streams = 0;

/** A fresh stream capturing `<prefix>.<n>.>`; returns that subject prefix and its name. */
async function addStream(config: Partial<StreamConfig> = {}) {
  streams += 1;
  const name = `OUTBOX_ACKS_${RUN}_${streams}`;
  const subjects = `${prefix}.${streams}`;
  const manager = await admin.jetstreamManager();
  await manager.streams.add({ ...config, name, subjects: [`${subjects}.>`] });

  return { name, subjects };
}

async function stored(name: string): Promise<number> {
  const manager = await admin.jetstreamManager();

  return (await manager.streams.info(name)).state.messages;
}

function publisherFor(subjects: string, options: NatsPublisherOptions = {}, url = URL) {
  return new NatsPublisher(url, { subject: `${subjects}.{type}`, ...options });
}

/** Resolves with the `PublishError` the promise rejects with; fails when it resolves. */
async function failure(promise: Promise<unknown>): Promise<PublishError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(isPublishError(error), `not a PublishError: ${String(error)}`);

    return error;
  }
  assert.fail('the publish resolved');
}

/**
 * A TCP proxy in front of the NATS server, so that a test can hold back what the server sends
 * (its acknowledgements) and cut the connection, without touching the shared server.
 */
class Proxy {
  readonly #server: Server = createServer((client) => this.#accept(client));
  readonly #pairs = new Set<[Socket, Socket]>();
  /** While set, new connections are closed at once (the server looks down). */
  refusing = false;

  async start(): Promise<number> {
    await new Promise<void>((resolve) => this.#server.listen(0, '127.0.0.1', resolve));

    return (this.#server.address() as AddressInfo).port;
  }

  #accept(client: Socket): void {
    if (this.refusing) {
      client.destroy();

      return;
    }

    const upstream = connectTcp(4222, '127.0.0.1');
    const pair: [Socket, Socket] = [client, upstream];
    this.#pairs.add(pair);
    const end = () => {
      client.destroy();
      upstream.destroy();
      this.#pairs.delete(pair);
    };
    client.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);
    client.pipe(upstream);
    upstream.pipe(client);
  }

  /** Stops passing on what the server sends on the open connections. */
  hold(): void {
    for (const [client, upstream] of this.#pairs) {
      upstream.unpipe(client);
      upstream.pause();
    }
  }

  /** Closes the open connections (new ones pass again). */
  cut(): void {
    for (const [client, upstream] of this.#pairs) {
      client.destroy();
      upstream.destroy();
    }
  }

  close(): void {
    this.cut();
    this.#server.close();
  }
}

describe('NATS publisher acknowledgements', () => {
  before(async () => {
    admin = await connect({ servers: '127.0.0.1:4222' });
  });

  after(async () => {
    const manager = await admin.jetstreamManager();
    for (let n = 1; n <= streams; n += 1) {
      await manager.streams.delete(`OUTBOX_ACKS_${RUN}_${n}`).catch(() => undefined);
    }
    await admin.close();
  });

  test('the same event id published twice resolves twice and is stored once', async () => {
    const { name, subjects } = await addStream();
    const publisher = publisherFor(subjects);
    const event = makeEvent();
    await publisher.publish(event, { signal: signal() });
    await publisher.publish(event, { signal: signal() });
    await publisher.publish(makeEvent(), { signal: signal() });
    await publisher.close();

    assert.equal(await stored(name), 2);
  });

  test('5,000 publishes in flight at once are each acknowledged and stored', async () => {
    const { name, subjects } = await addStream();
    const publisher = publisherFor(subjects);
    const events = Array.from({ length: 5000 }, (_, index) => makeEvent({ key: `k${index}` }));
    let confirmed = 0;
    await Promise.all(
      events.map(async (event) => {
        await publisher.publish(event, { signal: signal(30_000) });
        confirmed += 1;
      }),
    );
    await publisher.close();

    assert.equal(confirmed, 5000);
    assert.equal(await stored(name), 5000);
  });

  test('close() waits for the acknowledgements still outstanding', async () => {
    const { name, subjects } = await addStream();
    const publisher = publisherFor(subjects);
    await publisher.check();
    const results = Array.from({ length: 500 }, () =>
      publisher.publish(makeEvent(), { signal: signal() }).then(() => 'confirmed'),
    );
    await publisher.close();

    assert.equal((await Promise.all(results)).filter((r) => r === 'confirmed').length, 500);
    assert.equal(await stored(name), 500);
  });

  test('a subject no stream captures any more fails as retryable, without waiting', async () => {
    const { name, subjects } = await addStream();
    const publisher = publisherFor(subjects, { ackTimeoutMs: 30_000 });
    await publisher.check();
    await (await admin.jetstreamManager()).streams.delete(name);
    const started = Date.now();
    const error = await failure(publisher.publish(makeEvent(), { signal: signal(60_000) }));
    await publisher.close();

    assert.equal(error.kind, 'retryable');
    assert.match(error.message, /no JetStream stream captures the subject/);
    assert.ok(Date.now() - started < 5000, `took ${Date.now() - started} ms`);
  });

  test('a publish nobody acknowledges fails as retryable after ackTimeoutMs', async () => {
    const { name, subjects } = await addStream();
    const publisher = publisherFor(subjects, { ackTimeoutMs: 300 });
    await publisher.check();
    await (await admin.jetstreamManager()).streams.delete(name);
    // A plain subscriber that never answers: the server sees a responder, so only the timeout
    // can end the wait.
    const silent = admin.subscribe(`${subjects}.>`);
    await admin.flush();
    const started = Date.now();
    const error = await failure(publisher.publish(makeEvent(), { signal: signal(60_000) }));
    const waited = Date.now() - started;
    silent.unsubscribe();
    await publisher.close();

    assert.equal(error.kind, 'retryable');
    assert.match(error.message, /did not acknowledge event .* within 300 ms/);
    assert.ok(waited >= 290 && waited < 3000, `waited ${waited} ms`);
  });

  test('an answer is read whatever the order of its fields, and a stranger one fails', async () => {
    const { name, subjects } = await addStream();
    const publisher = publisherFor(subjects);
    await publisher.check();
    await (await admin.jetstreamManager()).streams.delete(name);
    // A plain responder stands in for the stream, answering with what the event's type says.
    const answers: Record<string, string> = {
      reordered: '{"seq":7,"duplicate":true,"stream":"ELSEWHERE"}',
      spaced: '{ "stream": "ELSEWHERE", "seq": 8 }',
      unnamed: '{"stream":"","seq":9}',
      text: 'stored, I think',
      error: '{"error":{"code":503,"err_code":10077,"description":"maximum messages exceeded"}}',
    };
    const responder = admin.subscribe(`${subjects}.>`, {
      callback: (_error, message) => message.respond(answers[message.subject.split('.').pop()!]),
    });
    await admin.flush();
    const send = (type: string) => publisher.publish(makeEvent({ type }), { signal: signal() });
    await send('reordered');
    await send('spaced');
    const unnamed = await failure(send('unnamed'));
    const text = await failure(send('text'));
    const full = await failure(send('error'));
    responder.unsubscribe();
    await publisher.close();

    assert.equal(unnamed.kind, 'retryable');
    assert.match(unnamed.message, /not a JetStream acknowledgement/);
    assert.equal(text.kind, 'retryable');
    assert.match(text.message, /not a JetStream acknowledgement/);
    assert.equal(full.kind, 'overload');
    assert.match(full.message, /maximum messages exceeded \(code 503, err_code 10077\)/);
  });

  test("a stream's refusal of the message is permanent", async () => {
    const { subjects } = await addStream({ max_msg_size: 64 });
    const publisher = publisherFor(subjects);
    const error = await failure(
      publisher.publish(makeEvent({ payload: { text: 'x'.repeat(200) } }), { signal: signal() }),
    );
    await publisher.close();

    assert.equal(error.kind, 'permanent');
    assert.match(error.message, /JetStream refused it: .*\(code 400, err_code \d+\)/);
  });

  test('a full stream that discards new messages fails as overload', async () => {
    const { name, subjects } = await addStream({ max_msgs: 1, discard: DiscardPolicy.New });
    const publisher = publisherFor(subjects);
    await publisher.publish(makeEvent(), { signal: signal() });
    const error = await failure(publisher.publish(makeEvent(), { signal: signal() }));
    await publisher.close();

    assert.equal(error.kind, 'overload');
    assert.match(error.message, /maximum messages/);
    assert.equal(await stored(name), 1);
  });

  test('publishes waiting when the connection is lost fail as retryable at once', async () => {
    const { name, subjects } = await addStream();
    const proxy = new Proxy();
    const port = await proxy.start();
    const publisher = publisherFor(
      subjects,
      { ackTimeoutMs: 30_000, reconnectWaitMs: 50 },
      `nats://127.0.0.1:${port}`,
    );
    try {
      await publisher.check();
      // The server stores these, but their acknowledgements are held back and then lost.
      proxy.hold();
      const events = Array.from({ length: 20 }, () => makeEvent());
      const waiting = events.map((event) =>
        failure(publisher.publish(event, { signal: signal() })),
      );
      await new Promise((resolve) => setTimeout(resolve, 200));
      const started = Date.now();
      proxy.refusing = true;
      proxy.cut();
      for (const error of await Promise.all(waiting)) {
        assert.equal(error.kind, 'retryable');
        assert.match(error.message, /connection to NATS was lost/);
      }
      assert.ok(Date.now() - started < 2000, `failed after ${Date.now() - started} ms`);

      // While the client reconnects, a publish is refused at once rather than left waiting.
      const refused = await failure(publisher.publish(makeEvent(), { signal: signal() }));
      assert.equal(refused.kind, 'retryable');
      assert.match(refused.message, /connection to NATS is lost, reconnecting/);
      proxy.refusing = false;

      // The client reconnects; republishing the same ids stores no second copy.
      const deadline = Date.now() + 20_000;
      for (const event of events) {
        for (;;) {
          try {
            await publisher.publish(event, { signal: signal() });
            break;
          } catch (error) {
            assert.ok(isPublishError(error) && error.kind === 'retryable', String(error));
            assert.ok(Date.now() < deadline, 'no reconnection within 20 s');
            await new Promise((resolve) => setTimeout(resolve, 50));
          }
        }
      }
      assert.equal(await stored(name), 20);
    } finally {
      await publisher.close();
      proxy.close();
    }
  });
});
