import { randomBytes } from 'node:crypto';

import {
  trace,
  type Attributes,
  type AttributeValue,
  type Context,
  type Exception,
  type Span,
  type SpanContext,
  type SpanKind,
  type SpanOptions,
  type SpanStatus,
  type Tracer,
  type TracerProvider,
} from '@opentelemetry/api';

/** What the test reads back from a finished span. */
export interface RecordedSpan {
  name: string;
  kind: SpanKind | undefined;
  context: SpanContext;
  parent: SpanContext | undefined;
  attributes: Attributes;
  status: SpanStatus | undefined;
  exceptions: Exception[];
  ended: boolean;
}

/**
 * A tracer provider that keeps every span in memory: the smallest implementation of the
 * OpenTelemetry API's provider interface, standing in for an SDK in these tests.
 */
export class RecordingTracerProvider implements TracerProvider {
  readonly spans: RecordedSpan[] = [];

  getTracer(): Tracer {
    const spans = this.spans;

    const startSpan = (name: string, options: SpanOptions = {}, parentContext?: Context): Span => {
      const parent = parentContext ? trace.getSpanContext(parentContext) : undefined;
      const record: RecordedSpan = {
        name,
        kind: options.kind,
        context: {
          traceId: parent?.traceId ?? randomBytes(16).toString('hex'),
          spanId: randomBytes(8).toString('hex'),
          traceFlags: 1,
        },
        parent,
        attributes: { ...options.attributes },
        status: undefined,
        exceptions: [],
        ended: false,
      };
      spans.push(record);
      const span: Span = {
        spanContext: () => record.context,
        setAttribute(key: string, value: AttributeValue) {
          record.attributes[key] = value;

          return span;
        },
        setAttributes(attributes: Attributes) {
          Object.assign(record.attributes, attributes);

          return span;
        },
        addEvent: () => span,
        addLink: () => span,
        addLinks: () => span,
        setStatus(status: SpanStatus) {
          record.status = status;

          return span;
        },
        updateName(newName: string) {
          record.name = newName;

          return span;
        },
        end() {
          record.ended = true;
        },
        isRecording: () => !record.ended,
        recordException(exception: Exception) {
          record.exceptions.push(exception);
        },
      };

      return span;
    };

    return {
      startSpan,
      startActiveSpan: ((name: string, ...rest: unknown[]) => {
        const fn = rest.at(-1) as (span: Span) => unknown;

        return fn(startSpan(name));
      }) as Tracer['startActiveSpan'],
    };
  }
}
