/**
 * One server span per request, and the request-duration histogram: wraps a route handler of
 * src/services.ts. The span is named `<METHOD> <route>` and carries the route, the method, the
 * status, the invocation id and, on a failure, the stable error code; it continues the caller's
 * trace when the request carries a W3C traceparent (the Functions host, a front door, a test).
 *
 * The route is the request's path, which is one of the route table's fixed paths (only a matched
 * route reaches a handler), so it is a closed set and carries no user data.
 */
import { context as otelContext, propagation, SpanKind, SpanStatusCode, trace, type TextMapGetter } from '@opentelemetry/api';
import type { HttpRequest, InvocationContext } from '@azure/functions';
import type { AppError } from '../errors';
import type { RouteHandler } from '../http/route';
import { instruments, secondsSince, tracer } from './instruments';

const headerGetter: TextMapGetter<HttpRequest> = {
  keys: (request) => [...request.headers.keys()],
  get: (request, key) => request.headers.get(key) ?? undefined,
};

function routeOf(request: HttpRequest): string {
  const path = new URL(request.url).pathname.toLowerCase();
  return path.length > 1 ? path.replace(/\/+$/, '') : path;
}

export function tracedRequest(handler: RouteHandler): RouteHandler {
  return async (request: HttpRequest, context: InvocationContext) => {
    const started = performance.now();
    const route = routeOf(request);
    const method = request.method.toUpperCase();
    const parent = propagation.extract(otelContext.active(), request, headerGetter);
    return tracer().startActiveSpan(
      `${method} ${route}`,
      { kind: SpanKind.SERVER, attributes: { 'http.request.method': method, 'http.route': route, 'faas.invocation_id': context.invocationId } },
      parent,
      async (span) => {
        let status = 500;
        try {
          const response = await handler(request, context);
          status = response.status ?? 200;
          return response;
        } finally {
          span.setAttribute('http.response.status_code', status);
          if (status >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
          span.end();
          instruments().requestDuration.record(secondsSince(started), { 'http.route': route, 'http.request.method': method, 'http.response.status_code': status });
        }
      },
    );
  };
}

/**
 * For handleErrors (http/handle-errors.ts): puts the failure's code on the request span and gives
 * its log line the trace and span ids, so the line and the trace find each other.
 */
export function correlateFailure(error: AppError): Readonly<Record<string, string>> {
  const span = trace.getActiveSpan();
  if (!span) return {};
  span.setAttribute('app.error_code', String(error.code));
  const spanContext = span.spanContext();
  return trace.isSpanContextValid(spanContext) ? { traceId: spanContext.traceId, spanId: spanContext.spanId } : {};
}
