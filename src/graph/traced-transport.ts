/**
 * A client span per Graph request (`graph GET`), timed into bff.graph.duration, with the span's W3C
 * `traceparent` (and `tracestate`) sent to Graph so Microsoft's side of the call joins the trace.
 * The span names the host and the status only: the URL's query (OData filters, paging tokens) and
 * the Authorization header never reach it.
 */
import { context, propagation } from '@opentelemetry/api';
import { instruments } from '../telemetry/instruments';
import { clientCall } from '../telemetry/spans';
import type { GraphTransport } from './transport';

export function tracedTransport(inner: GraphTransport): GraphTransport {
  return (url, headers, timeoutMs) =>
    clientCall(
      'graph GET',
      { 'http.request.method': 'GET', 'server.address': url.host },
      instruments().graphDuration,
      {},
      () => {
        const carrier: Record<string, string> = { ...headers };
        propagation.inject(context.active(), carrier);
        return inner(url, carrier, timeoutMs);
      },
      (answer) => answer.status,
    );
}
