import {
  context,
  createTraceState,
  ProxyTracerProvider,
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  trace,
  type Context,
  type Tracer,
  type TracerProvider,
} from '@opentelemetry/api';

import type { OutboxEvent } from '../event.js';
import { isPublishError, type Publisher, type PublishOptions } from '../publisher/contract.js';
import { formatTraceParent, headerValue, parseTraceParent } from './traceparent.js';

export interface TracingOptions {
  /**
   * The tracer provider to use. Default: the one the application registered globally with the
   * OpenTelemetry API, looked up at each publish (so one registered later is picked up).
   */
  tracerProvider?: TracerProvider;
  /**
   * Write the publish span's context into the published message's `traceparent` header, so the
   * consumer's spans follow the publish span in the producer's trace. Default `true`; with
   * `false` the producer's header travels unchanged.
   */
  propagate?: boolean;
}

const TRACER_NAME = 'outbox-dispatcher';
/** What a provider-less API hands out: a proxy without a delegate answers with the no-op one. */
const NOOP_PROVIDER = new ProxyTracerProvider().getDelegate();

/**
 * Wraps a publisher so that each publish is recorded as an OpenTelemetry span (kind `PRODUCER`)
 * in the trace named by the event's `traceparent` header, when a tracer provider is registered.
 * Without one, the wrapper calls the publisher straight away: no span, no allocation.
 *
 * ```ts
 * const publisher = withTracing(createPublisher('https://example.com/hooks'));
 * ```
 */
export function withTracing(publisher: Publisher, options: TracingOptions = {}): Publisher {
  const propagate = options.propagate ?? true;

  const publish = (event: OutboxEvent, publishOptions: PublishOptions): Promise<void> => {
    const tracer = activeTracer(options.tracerProvider);
    if (tracer === undefined) {
      return publisher.publish(event, publishOptions);
    }

    return tracedPublish(tracer, publisher, event, publishOptions, propagate);
  };

  const wrapped: Publisher = {
    name: publisher.name,
    publish,
    close: () => publisher.close(),
  };
  if (publisher.check) {
    const check = publisher.check.bind(publisher);
    wrapped.check = (signal) => check(signal);
  }

  return wrapped;
}

/** The tracer to record with, or `undefined` when no provider is registered. */
function activeTracer(explicit: TracerProvider | undefined): Tracer | undefined {
  const provider = explicit ?? trace.getTracerProvider();
  const delegate = provider instanceof ProxyTracerProvider ? provider.getDelegate() : provider;
  if (delegate === NOOP_PROVIDER) {
    return undefined;
  }

  return provider.getTracer(TRACER_NAME);
}

async function tracedPublish(
  tracer: Tracer,
  publisher: Publisher,
  event: OutboxEvent,
  options: PublishOptions,
  propagate: boolean,
): Promise<void> {
  const parent = parentContext(event);
  const span = tracer.startSpan(
    `publish ${event.type}`,
    {
      kind: SpanKind.PRODUCER,
      attributes: {
        'messaging.system': publisher.name,
        'messaging.operation.type': 'send',
        'messaging.operation.name': 'publish',
        'messaging.destination.name': event.type,
        'messaging.message.id': event.id,
        'outbox.event.attempt': event.attempts,
        ...(event.key === null ? {} : { 'outbox.event.key': event.key }),
      },
    },
    parent,
  );
  const spanContext = span.spanContext();
  const carried =
    propagate && span.isRecording()
      ? {
          ...event,
          headers: {
            ...event.headers,
            traceparent: formatTraceParent({
              traceId: spanContext.traceId,
              spanId: spanContext.spanId,
              flags: spanContext.traceFlags,
            }),
          },
        }
      : event;
  try {
    await context.with(trace.setSpan(parent, span), () => publisher.publish(carried, options));
    span.setStatus({ code: SpanStatusCode.OK });
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    if (error instanceof Error) {
      span.recordException(error);
    }

    if (isPublishError(error)) {
      span.setAttribute('outbox.failure.kind', error.kind);
    }

    span.setStatus({ code: SpanStatusCode.ERROR, message });
    throw error;
  } finally {
    span.end();
  }
}

/** The producer's trace, from the event's `traceparent` (and `tracestate`) headers. */
function parentContext(event: OutboxEvent): Context {
  const parent = parseTraceParent(headerValue(event.headers, 'traceparent'));
  if (parent === undefined) {
    return context.active();
  }

  const state = headerValue(event.headers, 'tracestate');

  return trace.setSpanContext(ROOT_CONTEXT, {
    traceId: parent.traceId,
    spanId: parent.spanId,
    traceFlags: parent.flags,
    isRemote: true,
    ...(state ? { traceState: createTraceState(state) } : {}),
  });
}
