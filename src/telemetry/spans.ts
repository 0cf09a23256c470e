/**
 * Client spans around calls to a dependency (storage, Entra, Graph, Key Vault), each timed into its
 * latency histogram. @opentelemetry/api only; with no SDK registered the span is a non-recording
 * one and this costs a few function calls.
 *
 * What a span may carry: the dependency's host, the HTTP method and status, an operation name from a
 * closed set, and an error's *kind* (an AppError code or an error class name). Never a URL path or
 * query (they hold partition keys, tenant ids, OData filters), a header, a body or an error message.
 */
import { createHash } from 'node:crypto';
import { SpanKind, SpanStatusCode, trace, type Attributes, type Histogram, type Span } from '@opentelemetry/api';
import { secondsSince, tracer } from './instruments';

/** What a failure is called on a span and in a metric: its stable code, else its class name. */
export function errorKind(error: unknown): string {
  if (typeof error !== 'object' || error === null) return typeof error;
  const e = error as { code?: unknown; errorCode?: unknown; name?: unknown };
  const code = typeof e.code === 'string' ? e.code : typeof e.errorCode === 'string' ? e.errorCode : undefined;
  if (code !== undefined && /^[A-Za-z0-9_.-]{1,64}$/.test(code)) return code;
  return typeof e.name === 'string' && /^[A-Za-z0-9_]{1,64}$/.test(e.name) ? e.name : 'Error';
}

/** Marks a span failed with the kind of error (never its message). */
export function recordFailure(span: Span, error: unknown): void {
  span.setStatus({ code: SpanStatusCode.ERROR });
  span.setAttribute('error.type', errorKind(error));
}

/**
 * Runs `call` in a client span named `name`, timed into `histogram` with `metricAttributes` (plus
 * `outcome` ok/failed and, when `status` reports one, the HTTP status). Span names start with the
 * dependency (`storage`, `entra`, `graph`, `key_vault`): the console summary counts by that word. The span is active during
 * the call, so what the call starts (a W3C traceparent header, a nested span) belongs to it.
 */
export async function clientCall<T>(
  name: string,
  attributes: Attributes,
  histogram: Histogram,
  metricAttributes: Attributes,
  call: (span: Span) => Promise<T>,
  status?: (result: T) => number | undefined,
): Promise<T> {
  const started = performance.now();
  return tracer().startActiveSpan(name, { kind: SpanKind.CLIENT, attributes }, async (span) => {
    let outcome = 'failed';
    let code: number | undefined;
    try {
      const result = await call(span);
      code = status?.(result);
      if (code !== undefined) span.setAttribute('http.response.status_code', code);
      // A 4xx is the dependency answering (not found, a conditional write lost, invalid_grant);
      // only throttling, timeouts and 5xx count as the dependency failing.
      outcome = code === undefined || (code < 500 && code !== 429 && code !== 408) ? 'ok' : 'failed';
      if (outcome === 'failed') span.setStatus({ code: SpanStatusCode.ERROR });
      return result;
    } catch (error) {
      recordFailure(span, error);
      throw error;
    } finally {
      span.end();
      histogram.record(secondsSince(started), { ...metricAttributes, outcome, ...(code !== undefined ? { 'http.response.status_code': code } : {}) });
    }
  });
}

/**
 * A pseudonymous key for a user's partition (`<oid>.<tid>`): the first 16 hex digits of its
 * SHA-256, enough to tell one user's requests from another's in a trace, not to name anyone.
 * Set on the request span only when it records (a sampled-out or no-op span costs no hash).
 */
export function tagUser(homeAccountId: string): void {
  const span = trace.getActiveSpan();
  if (!span?.isRecording()) return;
  span.setAttribute('enduser.pseudo.id', createHash('sha256').update(`inbox-glance:${homeAccountId}`).digest('hex').slice(0, 16));
}
