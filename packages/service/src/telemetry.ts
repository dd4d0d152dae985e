/**
 * Tracing (OpenTelemetry), set up in one place for every process.
 *
 * One trace follows a job across processes: the API's HTTP server span, the
 * BullMQ producer span of its submit (`add inference.classify-digit`), the
 * worker's consumer span (`process inference`, a child of the producer's:
 * BullMQ carries the context in the job's opts.telemetry.metadata, see
 * queueTelemetry in @digitq/jobs), the batch span of the forward pass the job
 * ran in, and the webhook delivery (`add webhooks...` enqueued inside the
 * job's span, then `process webhooks` in whichever worker delivers it).
 *
 * Without an OTLP endpoint (and no exporter passed), nothing is registered:
 * the OpenTelemetry API stays its built-in no-op, so the spans the code opens
 * cost a no-op object each and nothing is recorded or sent.
 */
import { SpanStatusCode, context, propagation, trace, type Attributes, type Context, type Link, type Span, type Tracer } from '@opentelemetry/api';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import {
  BatchSpanProcessor,
  NodeTracerProvider,
  ParentBasedSampler,
  TraceIdRatioBasedSampler,
  type SpanExporter,
} from '@opentelemetry/sdk-trace-node';

/** The tracer (instrumentation scope) name of digitq's own spans and of BullMQ's. */
export const TRACER_NAME = 'digitq';
/** The OTLP/HTTP path under OTEL_EXPORTER_OTLP_ENDPOINT for traces (as the OTLP exporter spec derives it). */
const OTLP_TRACES_PATH = '/v1/traces';

export interface TelemetrySettings {
  /** OTEL_EXPORTER_OTLP_ENDPOINT: the collector's base URL; unset = no tracing. */
  OTEL_EXPORTER_OTLP_ENDPOINT?: string;
  /** OTEL_SERVICE_NAME: overrides the process's default service name. */
  OTEL_SERVICE_NAME?: string;
  /** OTEL_TRACES_SAMPLE_RATIO: share of new traces kept (parent-based); 1 keeps all. */
  OTEL_TRACES_SAMPLE_RATIO: number;
}

export interface TelemetryOptions {
  /** Where finished spans go instead of OTLP (e.g. an InMemorySpanExporter); default: OTLP/HTTP to the endpoint. */
  exporter?: SpanExporter;
}

export interface Telemetry {
  /** Whether spans are recorded (an endpoint or exporter was given). */
  enabled: boolean;
  /** Exports the spans ended so far. */
  flush(): Promise<void>;
  /** Exports what is left and unregisters the global tracer provider, context manager and propagator. */
  shutdown(): Promise<void>;
}

const DISABLED: Telemetry = { enabled: false, flush: async () => undefined, shutdown: async () => undefined };

/**
 * Registers the global tracer provider (AsyncLocalStorage context, W3C
 * traceparent propagation, parent-based sampling) when an endpoint or an
 * exporter is given; otherwise does nothing. Call once, first thing in main.
 */
export function startTelemetry(serviceName: string, settings: TelemetrySettings, options: TelemetryOptions = {}): Telemetry {
  const endpoint = settings.OTEL_EXPORTER_OTLP_ENDPOINT;
  if (!endpoint && !options.exporter) return DISABLED;
  const exporter = options.exporter ?? new OTLPTraceExporter({ url: `${endpoint!.replace(/\/+$/, '')}${OTLP_TRACES_PATH}` });
  const provider = new NodeTracerProvider({
    resource: resourceFromAttributes({ 'service.name': settings.OTEL_SERVICE_NAME ?? serviceName }),
    sampler: new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(settings.OTEL_TRACES_SAMPLE_RATIO) }),
    // Batched: exporting never sits on a request's or a job's path.
    spanProcessors: [new BatchSpanProcessor(exporter)],
  });
  provider.register();
  return {
    enabled: true,
    flush: () => provider.forceFlush(),
    async shutdown() {
      await provider.shutdown();
      trace.disable();
      context.disable();
      propagation.disable();
    },
  };
}

/** digitq's tracer: a no-op one until startTelemetry registered a provider. */
export function tracer(): Tracer {
  return trace.getTracer(TRACER_NAME);
}

/**
 * Runs `fn` in a span for work that serves several traced requests at once
 * (a micro-batch): the span is a child of the first request's context, so it
 * shows in that trace, and links to every request's span, so each of the
 * others can be followed to it. Each request's span also gets an event
 * naming the batch span (`name`, with `attributes`), since a link is only
 * visible from the side that holds it.
 */
export async function inSharedSpan<T>(name: string, requests: readonly Context[], attributes: Attributes, fn: (span: Span) => Promise<T>): Promise<T> {
  const spans = requests.map((ctx) => trace.getSpan(ctx)).filter((span): span is Span => span !== undefined);
  const links: Link[] = spans.map((span) => ({ context: span.spanContext() }));
  const parent = requests[0] ?? context.active();
  return tracer().startActiveSpan(name, { attributes, links }, parent, async (span) => {
    const { traceId, spanId } = span.spanContext();
    for (const each of spans) each.addEvent(name, { ...attributes, 'digitq.batch.trace_id': traceId, 'digitq.batch.span_id': spanId });
    try {
      return await fn(span);
    } catch (error) {
      span.recordException(error instanceof Error ? error : String(error));
      span.setStatus({ code: SpanStatusCode.ERROR });
      throw error;
    } finally {
      span.end();
    }
  });
}
