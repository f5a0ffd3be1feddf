// The publisher conformance suite: every publisher passes it against its real server. A target
// describes how to build a publisher bound to this run's destination and how to consume it.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import type { AddressInfo, Server, Socket } from 'node:net';
import type { OutboxEvent } from '../../src/event.js';
import type { Publisher } from '../../src/publisher/contract.js';
import { isPublishError } from '../../src/publisher/contract.js';
import type { CloudEventsMode } from '../../src/publisher/index.js';
import { makeEvent, signal } from './helpers.js';

/** One message as a consumer saw it, decoded from the protocol's own metadata. */
export interface Received {
  /** The protocol's deduplication field (messageId, Nats-Msg-Id, `id` field...). */
  dedupId: string;
  id: string;
  type: string;
  source: string;
  time: string;
  key: string | undefined;
  traceparent: string | undefined;
  contentType: string;
  data: unknown;
  /** Plain event headers as carried (lower-case names). */
  headers: Record<string, string>;
}

export interface Consumer {
  readonly received: Received[];
  close(): Promise<void>;
}

export interface ConformanceTarget {
  name: string;
  /** A publisher bound to this run's destination. */
  publisher(mode: CloudEventsMode): Publisher;
  /** A publisher of the same kind aimed at `url` (a silent server), connecting within 500 ms. */
  publisherAt(port: number): Publisher;
  /** Starts receiving what this run's publishers send; survives a broker restart. */
  consume(): Promise<Consumer>;
  /** Everything still stored for this run, read by a fresh consumer (after a restart). */
  stored?(): Promise<Received[]>;
  /** Whether the broker itself drops a republished event id. */
  dedup: boolean;
  /** Stops and starts the server; undefined skips the restart test. */
  restart?(): Promise<void>;
  /** Mappings that cannot work: each must throw at construction or reject at `check()`. */
  badRoutings: Array<{ what: string; build: () => Publisher }>;
  /** The publisher URL and options for `outbox run`, bound to this run's destination. */
  cli(): { url: string; options: Record<string, unknown> };
  /** Per-run setup and cleanup (streams, queues). */
  setup?(): Promise<void>;
  teardown?(): Promise<void>;
}

export async function waitFor(
  check: () => boolean,
  what: string,
  timeoutMs = 20_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Publishes until confirmed, retrying retryable and overload failures like the dispatcher. */
export async function publishUntilConfirmed(
  publisher: Publisher,
  event: OutboxEvent,
): Promise<number> {
  for (let attempt = 1; ; attempt += 1) {
    try {
      await publisher.publish(event, { signal: signal(3000) });

      return attempt;
    } catch (error) {
      assert.ok(isPublishError(error), `not a PublishError: ${String(error)}`);
      assert.notEqual(error.kind, 'permanent', error.message);
      if (attempt > 200) throw error;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}

const TRACEPARENT = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';

export function runPublisherConformance(target: ConformanceTarget): void {
  describe(`${target.name} publisher conformance`, () => {
    before(async () => target.setup?.());
    after(async () => target.teardown?.());

    for (const mode of ['binary', 'structured'] as const) {
      test(`a consumer receives each event with its metadata (${mode} mode)`, async () => {
        const consumer = await target.consume();
        const publisher = target.publisher(mode);
        const event = makeEvent({
          type: 'order.created',
          key: 'order-1',
          payload: { total: 12.5, items: ['a', 'b'] },
          headers: { traceparent: TRACEPARENT, 'x-tenant': 'acme' },
        });
        const unkeyed = makeEvent({ type: 'order.paid', payload: 'plain' });
        await publisher.publish(event, { signal: signal() });
        await publisher.publish(unkeyed, { signal: signal() });
        await waitFor(() => consumer.received.length >= 2, 'two messages');
        await publisher.close();
        await consumer.close();

        const got = consumer.received.find((message) => message.id === event.id);
        assert.ok(got, 'the keyed event arrived');
        assert.equal(got.dedupId, event.id);
        assert.equal(got.type, 'order.created');
        assert.equal(got.source, '/conformance');
        assert.equal(got.time, event.createdAt.toISOString());
        assert.equal(got.key, 'order-1');
        assert.equal(got.traceparent, TRACEPARENT);
        assert.equal(got.contentType, 'application/json');
        assert.deepEqual(got.data, event.payload);
        assert.equal(got.headers['x-tenant'], 'acme');
        const other = consumer.received.find((message) => message.id === unkeyed.id);
        assert.ok(other, 'the unkeyed event arrived');
        assert.equal(other.key, undefined);
        assert.equal(other.type, 'order.paid');
        assert.deepEqual(other.data, 'plain');
      });
    }

    test(
      target.dedup
        ? 'the broker drops a republished event id'
        : 'a republished event carries the same deduplication id',
      async () => {
        const consumer = await target.consume();
        const publisher = target.publisher('binary');
        const event = makeEvent();
        const marker = makeEvent({ type: 'marker' });
        await publisher.publish(event, { signal: signal() });
        await publisher.publish(event, { signal: signal() });
        await publisher.publish(marker, { signal: signal() });
        await waitFor(
          () => consumer.received.some((message) => message.id === marker.id),
          'the marker',
        );
        await publisher.close();
        await consumer.close();

        const copies = consumer.received.filter((message) => message.id === event.id);
        assert.equal(copies.length, target.dedup ? 1 : 2);
        for (const copy of copies) assert.equal(copy.dedupId, event.id);
      },
    );

    test('events of a key published one after another arrive in order', async () => {
      const consumer = await target.consume();
      const publisher = target.publisher('binary');
      const serial = Array.from({ length: 200 }, () => makeEvent({ key: 'serial' }));
      const others = Array.from({ length: 200 }, (_, index) => makeEvent({ key: `k${index}` }));
      await Promise.all([
        (async () => {
          for (const event of serial) await publisher.publish(event, { signal: signal() });
        })(),
        Promise.all(others.map((event) => publisher.publish(event, { signal: signal() }))),
      ]);
      await waitFor(() => consumer.received.length >= 400, '400 messages');
      await publisher.close();
      await consumer.close();

      const order = consumer.received.filter((message) => message.key === 'serial');
      assert.deepEqual(
        order.map((message) => message.id),
        serial.map((event) => event.id),
      );
    });

    test('many publishes in flight at once are each confirmed and received', async () => {
      const consumer = await target.consume();
      const publisher = target.publisher('binary');
      const events = Array.from({ length: 2000 }, (_, index) =>
        makeEvent({ key: `k${index % 50}` }),
      );
      await Promise.all(
        events.map((event) => publisher.publish(event, { signal: signal(20_000) })),
      );
      await waitFor(() => consumer.received.length >= 2000, '2000 messages');
      await publisher.close();
      await consumer.close();

      const ids = new Set(consumer.received.map((message) => message.id));
      assert.ok(events.every((event) => ids.has(event.id)));
    });

    test('an aborted signal rejects at once with a retryable error', async () => {
      const publisher = target.publisher('binary');
      const controller = new AbortController();
      controller.abort();
      await assert.rejects(
        publisher.publish(makeEvent(), { signal: controller.signal }),
        (error: unknown) => isPublishError(error) && error.kind === 'retryable',
      );
      await publisher.close();
    });

    test('a server that never answers times out as retryable, and close returns', async () => {
      const sockets = new Set<Socket>();
      const silent: Server = createServer((socket) => sockets.add(socket));
      await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
      const publisher = target.publisherAt((silent.address() as AddressInfo).port);
      const started = Date.now();
      try {
        await assert.rejects(
          publisher.publish(makeEvent(), { signal: AbortSignal.timeout(300) }),
          (error: unknown) => isPublishError(error) && error.kind === 'retryable',
        );
        assert.ok(Date.now() - started < 2000, `took ${Date.now() - started} ms`);
        await publisher.close();
        assert.ok(Date.now() - started < 5000, `close took until ${Date.now() - started} ms`);
      } finally {
        for (const socket of sockets) socket.destroy();
        silent.close();
      }
    });

    test('a routing mapping that cannot work fails at start-up', async () => {
      for (const { what, build } of target.badRoutings) {
        let publisher: Publisher | undefined;
        try {
          publisher = build();
        } catch (error) {
          assert.ok(error instanceof TypeError || error instanceof RangeError, what);
          continue;
        }

        await assert.rejects(publisher.check!(signal()), (error: unknown) => {
          assert.ok(isPublishError(error), `${what}: ${String(error)}`);
          assert.equal(error.kind, 'permanent', what);

          return true;
        });
        await publisher.close();
      }
    });

    const restart = target.restart;
    if (restart !== undefined) {
      test('a broker restart in the middle of 5,000 events loses none', async (t) => {
        const consumer = await target.consume();
        const publisher = target.publisher('binary');
        const events = Array.from({ length: 5000 }, (_, index) =>
          makeEvent({ key: `k${index % 100}` }),
        );
        // Events 0-1499 go before the restart; 1500-3999 are spread over it (a pause before
        // each, so that they meet the broker down and coming back); 4000-4999 wait until it is
        // back, so that they need the reconnection.
        let retries = 0;
        let restarted: Promise<void> | undefined;
        let restarting = false;
        let next = 0;
        const worker = async () => {
          while (next < events.length) {
            const index = next++;
            if (index >= 1500 && restarted === undefined) {
              restarting = true;
              restarted = restart().finally(() => (restarting = false));
            }
            if (index >= 4000) await restarted;
            else if (restarting) await new Promise((resolve) => setTimeout(resolve, 100));
            retries += (await publishUntilConfirmed(publisher, events[index]!)) - 1;
          }
        };
        await Promise.all(Array.from({ length: 100 }, worker));
        await restarted;
        const ids = new Set<string>();
        const seen = () => {
          for (const message of consumer.received) ids.add(message.id);

          return events.every((event) => ids.has(event.id));
        };
        if (target.stored === undefined) await waitFor(seen, 'every event', 30_000);
        await publisher.close();
        await consumer.close();
        seen();
        if (target.stored !== undefined) {
          for (const message of await target.stored()) ids.add(message.id);
        }

        const missing = events.filter((event) => !ids.has(event.id)).length;
        assert.equal(missing, 0, `${missing} of 5000 events were lost`);
        t.diagnostic(`${retries} publishes failed during the restart and were retried`);
      });
    }
  });
}
