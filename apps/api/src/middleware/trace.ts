/**
 * The HTTP server span of every request: continues the caller's trace when
 * it sends a W3C `traceparent`, and is the active context of everything the
 * request does (a submit's BullMQ producer span is its child, and through the
 * job the worker's spans are too). Named `METHOD /route/pattern` once the
 * route is known, as the metrics label it. A no-op span unless
 * startTelemetry (@digitq/service) registered a tracer provider.
 *
 * OpenTelemetry's http instrumentation would do this by patching node:http,
 * which for ES modules needs a loader hook at startup; one middleware does
 * what we need without it.
 */
import { SpanKind, SpanStatusCode, context, propagation, trace } from '@opentelemetry/api';
import type { RequestHandler } from 'express';
import { tracer } from '@digitq/service';
import { routeLabel } from '../metrics.ts';

const SERVER_ERROR = 500;

/** Mount first: what runs before it is outside the request's trace. */
export function traceRequests(): RequestHandler {
  return (req, res, next) => {
    const parent = propagation.extract(context.active(), req.headers);
    const span = tracer().startSpan(
      `${req.method}`,
      { kind: SpanKind.SERVER, attributes: { 'http.request.method': req.method, 'url.path': req.path } },
      parent,
    );
    const active = trace.setSpan(parent, span);
    // Body parsers and multer call next() from the request stream's events, which run in the context the
    // socket was opened in: bound to the span's context, they carry it on to the routes.
    context.bind(active, req);
    context.bind(active, res);
    res.once('close', () => {
      const route = routeLabel(req, res);
      span.updateName(`${req.method} ${route}`);
      span.setAttributes({ 'http.route': route, 'http.response.status_code': res.statusCode });
      if (res.statusCode >= SERVER_ERROR) span.setStatus({ code: SpanStatusCode.ERROR });
      span.end();
    });
    context.with(active, next);
  };
}
