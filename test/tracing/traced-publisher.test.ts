import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, test } from 'node:test';

import { SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';

import type { OutboxEvent } from '../../src/event.js';
import { createPublisher } from '../../src/publisher/index.js';
import { PublishError, type Publisher } from '../../src/publisher/contract.js';
import { parseTraceParent, withTracing } from '../../src/tracing/index.js';
import { RecordingTracerProvider } from './recording-tracer.js';

const TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736';
const PARENT_ID = '00f067aa0ba902b7';
const TRACEPARENT = `00-${TRACE_ID}-${PARENT_ID}-01`;

function makeEvent(headers: Record<string, string> = { traceparent: TRACEPARENT }): OutboxEvent {
  return {
    id: '42',
    type: 'order.created',
    key: 'order-7',
    payload: { total: 12 },
    headers,
    createdAt: new Date(),
    availableAt: new Date(),
    attempts: 1,
    lastError: null,
  };
}

function recordingPublisher(fail?: Error): Publisher & { seen: OutboxEvent[] } {
  const seen: OutboxEvent[] = [];

  return {
    name: 'probe',
    seen,
    async publish(event) {
      seen.push(event);
      if (fail) {
        throw fail;
      }
    },
    async close() {},
  };
}

const signal = new AbortController().signal;

afterEach(() => {
  trace.disable();
});

describe('tracing a publish', () => {
  test('without a registered tracer provider the event passes through untouched', async () => {
    const inner = recordingPublisher();
    const event = makeEvent();
    await withTracing(inner).publish(event, { signal });

    assert.equal(inner.seen[0], event);
  });

  test("records a producer span in the trace of the event's traceparent", async () => {
    const provider = new RecordingTracerProvider();
    trace.setGlobalTracerProvider(provider);
    const inner = recordingPublisher();
    await withTracing(inner).publish(makeEvent(), { signal });
    const [span] = provider.spans;

    assert.ok(span);
    assert.equal(span.name, 'publish order.created');
    assert.equal(span.kind, SpanKind.PRODUCER);
    assert.equal(span.context.traceId, TRACE_ID);
    assert.equal(span.parent?.spanId, PARENT_ID);
    assert.equal(span.parent?.isRemote, true);
    assert.equal(span.attributes['messaging.message.id'], '42');
    assert.equal(span.attributes['messaging.destination.name'], 'order.created');
    assert.equal(span.status?.code, SpanStatusCode.OK);
    assert.equal(span.ended, true);
    // The message carries the publish span as the consumer's parent, in the same trace.
    const carried = parseTraceParent(inner.seen[0]?.headers.traceparent);
    assert.equal(carried?.traceId, TRACE_ID);
    assert.equal(carried?.spanId, span.context.spanId);
  });

  test('marks the span failed with the error and its failure kind, and rethrows', async () => {
    const provider = new RecordingTracerProvider();
    trace.setGlobalTracerProvider(provider);
    const failure = new PublishError('HTTP 503', 'overload');

    await assert.rejects(
      withTracing(recordingPublisher(failure)).publish(makeEvent(), { signal }),
      (error) => error === failure,
    );
    const [span] = provider.spans;
    assert.equal(span?.status?.code, SpanStatusCode.ERROR);
    assert.equal(span?.attributes['outbox.failure.kind'], 'overload');
    assert.equal(span?.exceptions[0], failure);
  });

  test('an event without a valid traceparent starts a trace of its own', async () => {
    const provider = new RecordingTracerProvider();
    trace.setGlobalTracerProvider(provider);
    await withTracing(recordingPublisher()).publish(makeEvent({ traceparent: 'garbage' }), {
      signal,
    });

    assert.equal(provider.spans[0]?.parent, undefined);
  });

  test('a webhook receives the traceparent of the publish span', async () => {
    const received: IncomingHttpHeaders[] = [];
    const server = createServer((req, res) => {
      received.push(req.headers);
      req.resume();
      res.writeHead(204).end();
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const { port } = server.address() as AddressInfo;
    const provider = new RecordingTracerProvider();
    trace.setGlobalTracerProvider(provider);
    const publisher = withTracing(createPublisher(`http://127.0.0.1:${port}/hook`));
    try {
      await publisher.publish(makeEvent(), { signal });
    } finally {
      await publisher.close();
      server.close();
    }

    const headers = received[0] ?? {};
    const header = String(headers.traceparent ?? headers['ce-traceparent']);
    assert.equal(header, `00-${TRACE_ID}-${provider.spans[0]?.context.spanId}-01`);
  });
});

describe('the traceparent header', () => {
  test('is read when well formed and refused when not', () => {
    assert.deepEqual(parseTraceParent(TRACEPARENT), {
      traceId: TRACE_ID,
      spanId: PARENT_ID,
      flags: 1,
    });
    assert.equal(parseTraceParent(`00-${'0'.repeat(32)}-${PARENT_ID}-01`), undefined);
    assert.equal(parseTraceParent(`ff-${TRACE_ID}-${PARENT_ID}-01`), undefined);
    assert.equal(parseTraceParent(`00-${TRACE_ID}-${PARENT_ID}-01-extra`), undefined);
    assert.equal(parseTraceParent(undefined), undefined);
  });
});
